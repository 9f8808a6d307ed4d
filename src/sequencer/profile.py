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
``PatientProfile`` or raises ``ProfileError`` listing every problem.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from sequencer.errors import Problem, ProfileError

__all__ = [
    "FIELDS",
    "Access",
    "Disease",
    "FieldSpec",
    "Immune",
    "PatientProfile",
    "PriorTherapy",
    "Transplant",
    "flatten",
    "parse_profile",
]

Status = Literal["relapsed", "refractory", "mrd_positive"]
CD19 = Literal["positive", "dim", "negative", "unknown"]
Ph = Literal["positive", "negative", "unknown"]
CNS = Literal["CNS1", "CNS2", "CNS3", "unknown"]
Extramedullary = Literal["none", "present", "bulky", "unknown"]
GVHD = Literal["none", "resolved", "active"]
Donor = Literal["matched_sibling", "matched_unrelated", "haploidentical", "cord", "none", "unknown"]
PriorResponse = Literal["none", "responded", "refractory"]
CarTAccess = Literal["approved", "trial", "unavailable"]


def _null_is_unknown(value: object) -> object:
    return "unknown" if value is None else value


# Enumerations with an explicit "unknown" value that also take ``null`` for it.
_NullIsUnknown = BeforeValidator(_null_is_unknown)
CD19Field = Annotated[CD19, _NullIsUnknown]
PhField = Annotated[Ph, _NullIsUnknown]
CNSField = Annotated[CNS, _NullIsUnknown]
ExtramedullaryField = Annotated[Extramedullary, _NullIsUnknown]
DonorField = Annotated[Donor, _NullIsUnknown]


Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Mutation = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_:/.+-]+$")]

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
            if self.marrow_blasts_pct is not None and self.marrow_blasts_pct >= 5:
                errors.append(
                    _contradiction(
                        "marrow_blasts_pct",
                        "status 'mrd_positive' means fewer than 5% marrow blasts, "
                        f"but marrow_blasts_pct is {self.marrow_blasts_pct:g}",
                        self.marrow_blasts_pct,
                    )
                )
            if self.mrd_pct is not None and not 0 < self.mrd_pct < 5:
                errors.append(
                    _contradiction(
                        "mrd_pct",
                        "status 'mrd_positive' needs detectable MRD below 5%, "
                        f"but mrd_pct is {self.mrd_pct:g}",
                        self.mrd_pct,
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
        _raise_if("Transplant", errors)
        return self


class PriorTherapy(BaseModel):
    """Earlier CD19-directed therapy and how the leukemia answered it."""

    model_config = _STRICT

    blinatumomab: PriorResponse | None = None
    car_t: PriorResponse | None = None
    ponatinib: PriorResponse | None = None


class Immune(BaseModel):
    """The patient's own T cells, on which both options depend."""

    model_config = _STRICT

    t_cell_depleted: bool | None = None


class Access(BaseModel):
    """What can actually be given. ``car_t`` null means not stated."""

    model_config = _STRICT

    car_t: CarTAccess | None = None


class PatientProfile(BaseModel):
    """One patient, as the tumor board knows them now (interchange format v1)."""

    model_config = _STRICT

    id: Annotated[str, Field(min_length=1, max_length=200)]
    age: Annotated[int, Field(ge=18, le=120)] | None = None
    ecog: Annotated[int, Field(ge=0, le=4)] | None = None
    disease: Disease = Disease()
    transplant: Transplant = Transplant()
    prior_therapy: PriorTherapy = PriorTherapy()
    access: Access = Access()
    immune: Immune = Immune()


# --- the field catalogue: what rule conditions may test -------------------------


@dataclass(frozen=True)
class FieldSpec:
    """One leaf field of the profile, as rule conditions see it.

    ``kind`` is ``number``, ``boolean``, ``enum`` or ``list``; ``values`` lists an
    enumeration's values; ``unknown_value`` is ``"unknown"`` where the enumeration
    spells unknown out, else ``None`` (unknown is then a missing value).
    """

    path: str
    kind: Literal["number", "boolean", "enum", "list"]
    values: tuple[str, ...] = ()
    unknown_value: str | None = None


def _leaf_spec(path: str, annotation: Any) -> FieldSpec:
    args = [a for a in _flatten_union(annotation) if a is not type(None)]
    literal_values: list[str] = []
    for arg in args:
        origin = typing.get_origin(arg)
        if origin is Literal:
            literal_values.extend(typing.get_args(arg))
        elif origin is Annotated:
            return _leaf_spec(path, typing.get_args(arg)[0])
        elif origin is list:
            return FieldSpec(path, "list")
        elif arg is bool:
            return FieldSpec(path, "boolean")
        elif arg in (int, float):
            return FieldSpec(path, "number")
    if literal_values:
        unknown = "unknown" if "unknown" in literal_values else None
        return FieldSpec(path, "enum", tuple(literal_values), unknown)
    raise TypeError(f"no field kind for {path}: {annotation!r}")  # pragma: no cover


def _flatten_union(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_flatten_union(arg))
        return out
    if origin is Annotated:
        return _flatten_union(typing.get_args(annotation)[0])
    return [annotation]


def _catalogue(model: type[BaseModel], prefix: str = "") -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}
    for name, info in model.model_fields.items():
        if name == "id" and not prefix:
            continue
        path = f"{prefix}{name}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.update(_catalogue(annotation, f"{path}."))
        else:
            out[path] = _leaf_spec(path, annotation)
    return out


FIELDS: Mapping[str, FieldSpec] = types.MappingProxyType(_catalogue(PatientProfile))
"""Every profile field a rule condition may test, by dotted path."""


def flatten(profile: PatientProfile) -> dict[str, Any]:
    """Return the profile's leaf values keyed by dotted path (``None`` = unknown).

    Lists are returned as tuples so that the result is hashable-friendly.
    """
    out: dict[str, Any] = {}
    for path, section, leaf in _PATHS:
        value = getattr(getattr(profile, section), leaf) if section else getattr(profile, leaf)
        out[path] = tuple(value) if isinstance(value, list) else value
    return out


def _split(path: str) -> tuple[str, str, str]:
    section, _, leaf = path.rpartition(".")
    return path, section, leaf


_PATHS: tuple[tuple[str, str, str], ...] = tuple(_split(path) for path in FIELDS)


# --- parsing any input into a profile, with every problem reported ----------------


def _path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts)


def problems_from(error: ValidationError) -> list[Problem]:
    """Translate a pydantic ``ValidationError`` into ``Problem``s with dotted paths."""
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        loc = tuple(
            part
            for part in item["loc"]
            if not (isinstance(part, str) and ("[" in part or part.startswith("function-")))
        )
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (not part of the profile format)"
        elif item["type"] != "contradiction" and "input" in item:
            message = f"{message}; got {_show(item['input'])}"
        problems.append(Problem(_path(loc), message))
    return problems


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _show(value: object) -> str:
    text = json.dumps(value, default=repr) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Pairs(dict[str, Any]):
    """A JSON object that remembers which of its keys were given more than once."""

    duplicates: list[str]


def _pairs(items: list[tuple[str, Any]]) -> _Pairs:
    out = _Pairs()
    out.duplicates = []
    for key, value in items:
        if key in out and key not in out.duplicates:
            out.duplicates.append(key)
        out[key] = value
    return out


def _duplicate_keys(value: Any, path: str = "") -> list[Problem]:
    found: list[Problem] = []
    if isinstance(value, _Pairs):
        for key in value.duplicates:
            field = f"{path}.{key}" if path else key
            found.append(Problem(field, "key given more than once (which value is meant?)"))
        for key, child in value.items():
            found += _duplicate_keys(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _duplicate_keys(child, f"{path}[{index}]")
    return found


def _load_json(text: str | bytes) -> Any:
    """Parse JSON text, refusing duplicate keys (json.loads would keep the last silently)."""
    try:
        raw = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError as error:
        raise ProfileError([Problem("", f"not UTF-8 text ({error.reason})")]) from None
    try:
        data = json.loads(raw, object_pairs_hook=_pairs)
    except json.JSONDecodeError as error:
        raise ProfileError(
            [Problem("", f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}")]
        ) from None
    duplicates = _duplicate_keys(data)
    if duplicates:
        raise ProfileError(duplicates)
    return data


def parse_profile(data: PatientProfile | Mapping[str, Any] | str | bytes) -> PatientProfile:
    """Return a validated ``PatientProfile`` built from ``data``.

    ``data`` may already be a profile (returned as is), a mapping, or JSON text.
    Raises ``ProfileError`` listing every problem, each with its field path, when the
    data is not a valid profile (wrong JSON, wrong shape, wrong types, out-of-range or
    contradictory values, unknown keys).
    """
    if isinstance(data, PatientProfile):
        return data
    if isinstance(data, str | bytes):
        data = _load_json(data)
    try:
        if not isinstance(data, Mapping):
            raise ProfileError(
                [Problem("", f"a profile must be a JSON object; got {_json_type(data)}")]
            )
        return PatientProfile.model_validate(dict(data))
    except ValidationError as error:
        raise ProfileError(problems_from(error)) from None
