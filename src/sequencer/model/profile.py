"""The patient profile: interchange format v1, validated strictly.

A profile is what a tumor board knows about one adult with relapsed/refractory
B-ALL at the moment of choosing between blinatumomab and CD19 CAR T cells.

Conventions that every consumer can rely on:

* ``null`` (or a missing key) means *unknown*, never "no". Enumerations that have
  an explicit ``"unknown"`` value (``cd19``, ``ph``, ``cns``, ``extramedullary``,
  ``donor``) store a ``null`` as ``"unknown"``; every other field keeps ``None``.
* Unknown keys are rejected, at the top level and inside every section.
* Ranges are checked (adults only: age 18-120; percentages 0-100; no NaN).
* Contradictions are rejected with the field named (for example an MRD-only status
  with 60% marrow blasts, or months since transplant without a transplant).

``parse_profile`` turns any input (a ``dict``, JSON text, or a profile) into a
``PatientProfile`` or raises ``ProfileError`` listing every problem."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = [
    "FORMAT_VERSION",
    "MRD_POSITIVE_BELOW_PCT",
    "Access",
    "Disease",
    "Immune",
    "PatientProfile",
    "PriorTherapy",
    "Transplant",
]

FORMAT_VERSION = "1"
"""The interchange format's version: profiles, recommendations and what-if answers say
it; a change is recorded in CHANGELOG.md."""


MRD_POSITIVE_BELOW_PCT = 5
"""Status ``mrd_positive`` means marrow blasts and MRD below this percentage (the v1
format's definition: at or above it the disease is an overt relapse)."""

Status = Literal["relapsed", "refractory", "mrd_positive"]


CD19 = Literal["positive", "dim", "negative", "unknown"]


Ph = Literal["positive", "negative", "unknown"]


CNS = Literal["CNS1", "CNS2", "CNS3", "unknown"]


Extramedullary = Literal["none", "present", "bulky", "unknown"]


GVHD = Literal["none", "resolved", "active"]


Donor = Literal["matched_sibling", "matched_unrelated", "haploidentical", "cord", "none", "unknown"]


PriorResponse = Literal["none", "responded", "refractory"]


PriorBlinatumomab = Literal["none", "consolidation", "responded", "refractory"]


CarTAccess = Literal["approved", "trial", "unavailable"]


OriginalDonor = Literal["matched_sibling", "matched_unrelated", "haploidentical", "cord"]


Contraindication = Literal[
    "active_infection",
    "inflammatory_disorder",
    "organ_dysfunction",
    "uncontrolled_neurologic_disease",
    "declines_transfusion",
]


def _null_is_unknown(value: object) -> object:
    return "unknown" if value is None else value


def _or_null(field: dict[str, Any]) -> None:
    """The field's JSON Schema admits null too, as its before-validator does (which
    JSON Schema generation cannot see)."""
    kept = {key: field.pop(key) for key in ("$ref", "enum", "type") if key in field}
    field["anyOf"] = [kept, {"type": "null"}]


_NullInSchema = Field(json_schema_extra=_or_null)


# Enumerations with an explicit "unknown" value that also take ``null`` for it.
_NullIsUnknown = BeforeValidator(_null_is_unknown)


CD19Field = Annotated[CD19, _NullIsUnknown, _NullInSchema]


PhField = Annotated[Ph, _NullIsUnknown, _NullInSchema]


CNSField = Annotated[CNS, _NullIsUnknown, _NullInSchema]


ExtramedullaryField = Annotated[Extramedullary, _NullIsUnknown, _NullInSchema]


DonorField = Annotated[Donor, _NullIsUnknown, _NullInSchema]


Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


MUTATION_PATTERN = r"^[A-Za-z0-9_:/.+-]+$"
ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+$"
Mutation = Annotated[str, Field(min_length=1, max_length=40, pattern=MUTATION_PATTERN)]


_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


def _contradiction(field: str, message: str, value: object) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("contradiction", message),
        loc=(field,),
        input=value,
    )


def _raise_if(title: str, errors: list[InitErrorDetails]) -> None:
    if errors:
        raise ValidationError.from_exception_data(title, errors)


class Disease(BaseModel):
    """The leukemia as it stands now."""

    model_config = _STRICT

    status: Status | None = None
    marrow_blasts_pct: Percent | None = None
    mrd_pct: Percent | None = None
    cd19: CD19Field = "unknown"
    ph: PhField = "unknown"
    abl1_mutations: list[Mutation] | None = Field(default=None, max_length=20)
    kmt2a_rearranged: bool | None = None
    cns: CNSField = "unknown"
    cns_relapse_history: bool | None = None
    extramedullary: ExtramedullaryField = "unknown"
    rapidly_progressing: bool | None = None

    @model_validator(mode="after")
    def _no_contradictions(self) -> Disease:
        errors: list[InitErrorDetails] = []
        if self.status == "mrd_positive":
            if (
                self.marrow_blasts_pct is not None
                and self.marrow_blasts_pct >= MRD_POSITIVE_BELOW_PCT
            ):
                errors.append(
                    _contradiction(
                        "marrow_blasts_pct",
                        f"status 'mrd_positive' means fewer than {MRD_POSITIVE_BELOW_PCT:g}% "
                        "marrow blasts, "
                        f"but marrow_blasts_pct is {self.marrow_blasts_pct:g}",
                        self.marrow_blasts_pct,
                    )
                )
            if self.mrd_pct is not None and not 0 < self.mrd_pct < MRD_POSITIVE_BELOW_PCT:
                errors.append(
                    _contradiction(
                        "mrd_pct",
                        "status 'mrd_positive' needs detectable MRD below "
                        f"{MRD_POSITIVE_BELOW_PCT:g}%, "
                        f"but mrd_pct is {self.mrd_pct:g}",
                        self.mrd_pct,
                    )
                )
        if (
            self.status in ("relapsed", "refractory")
            and self.marrow_blasts_pct == 0
            and self.mrd_pct in (None, 0)
            and self.cns == "CNS1"
            and self.extramedullary == "none"
        ):
            errors.append(
                _contradiction(
                    "status",
                    f"status '{self.status}' needs disease somewhere, but marrow blasts are 0%, "
                    "no MRD is given, the CSF is clear (CNS1) and there is no extramedullary "
                    "disease",
                    self.status,
                )
            )
        if self.ph == "negative" and self.abl1_mutations:
            errors.append(
                _contradiction(
                    "abl1_mutations",
                    "ABL1 kinase-domain mutations are listed but ph is 'negative'",
                    self.abl1_mutations,
                )
            )
        _raise_if("Disease", errors)
        return self


class Transplant(BaseModel):
    """Allogeneic transplant history and prospects."""

    model_config = _STRICT

    prior_allo_hct: bool | None = None
    months_since_hct: Annotated[float, Field(ge=0, le=600, allow_inf_nan=False)] | None = None
    on_immunosuppression: bool | None = None
    gvhd: GVHD | None = None
    donor: DonorField = "unknown"
    candidate: bool | None = None
    original_donor: OriginalDonor | None = Field(
        default=None, description="the donor of the last allogeneic transplant"
    )

    @model_validator(mode="after")
    def _no_contradictions(self) -> Transplant:
        errors: list[InitErrorDetails] = []
        if self.prior_allo_hct is False:
            if self.months_since_hct is not None:
                errors.append(
                    _contradiction(
                        "months_since_hct",
                        "months_since_hct is given but prior_allo_hct is false",
                        self.months_since_hct,
                    )
                )
            if self.gvhd in ("resolved", "active"):
                errors.append(
                    _contradiction(
                        "gvhd",
                        f"gvhd is '{self.gvhd}' but prior_allo_hct is false",
                        self.gvhd,
                    )
                )
            if self.original_donor is not None:
                errors.append(
                    _contradiction(
                        "original_donor",
                        "original_donor is given but prior_allo_hct is false",
                        self.original_donor,
                    )
                )
        _raise_if("Transplant", errors)
        return self


class PriorTherapy(BaseModel):
    """Earlier CD19-directed therapy and how the leukemia answered it."""

    model_config = _STRICT

    blinatumomab: PriorBlinatumomab | None = Field(
        default=None,
        description="consolidation: given in first remission as consolidation, with the "
        "relapse later (neither a response in relapse nor refractoriness)",
    )
    car_t: PriorResponse | None = None
    ponatinib: PriorResponse | None = None
    inotuzumab: PriorResponse | None = None


class Immune(BaseModel):
    """The patient's own T cells, on which both options depend."""

    model_config = _STRICT

    t_cell_depleted: bool | None = None


class Access(BaseModel):
    """What can actually be given. ``car_t`` null means not stated."""

    model_config = _STRICT

    car_t: CarTAccess | None = None


def _null_section(value: object) -> object:
    """A ``null`` section means nothing is known about it, as an absent one does."""
    return {} if value is None else value


_Section = BeforeValidator(_null_section)


class PatientProfile(BaseModel):
    """One patient, as the tumor board knows them now (interchange format v1)."""

    model_config = _STRICT

    format_version: Literal["1"] | None = Field(
        default=None,
        description="the interchange format the profile is written in; absent means 1",
    )

    id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            pattern=ID_PATTERN,
            description="your identifier; printable text only (no control or bidi characters)",
        ),
    ]
    age: Annotated[int, Field(ge=18, le=120)] | None = None
    ecog: Annotated[int, Field(ge=0, le=4)] | None = None
    disease: Annotated[Disease, _Section, _NullInSchema] = Disease()
    transplant: Annotated[Transplant, _Section, _NullInSchema] = Transplant()
    prior_therapy: Annotated[PriorTherapy, _Section, _NullInSchema] = PriorTherapy()
    access: Annotated[Access, _Section, _NullInSchema] = Access()
    immune: Annotated[Immune, _Section, _NullInSchema] = Immune()
    contraindications: Annotated[list[Contraindication], Field(max_length=5)] | None = Field(
        default=None,
        description="conditions bearing on giving either option now; [] assessed, none; "
        "null not assessed",
    )

    @model_validator(mode="after")
    def _distinct_contraindications(self) -> PatientProfile:
        items = self.contraindications or []
        if len(set(items)) != len(items):
            _raise_if(
                "PatientProfile",
                [_contradiction("contraindications", "a contraindication is listed twice", items)],
            )
        return self
