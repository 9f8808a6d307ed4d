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
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
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
    "CROSS_CHECKED",
    "FIELDS",
    "Access",
    "Disease",
    "FieldSpec",
    "Immune",
    "PatientProfile",
    "PriorTherapy",
    "Transplant",
    "flatten",
    "is_unknown",
    "number_ranges",
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

    id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+$",
            description="your identifier; printable text only (no control or bidi characters)",
        ),
    ]
    age: Annotated[int, Field(ge=18, le=120)] | None = None
    ecog: Annotated[int, Field(ge=0, le=4)] | None = None
    disease: Annotated[Disease, _Section] = Disease()
    transplant: Annotated[Transplant, _Section] = Transplant()
    prior_therapy: Annotated[PriorTherapy, _Section] = PriorTherapy()
    access: Annotated[Access, _Section] = Access()
    immune: Annotated[Immune, _Section] = Immune()
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
            (item,) = typing.get_args(arg)
            while typing.get_origin(item) is Annotated:
                item = typing.get_args(item)[0]
            allowed = typing.get_args(item) if typing.get_origin(item) is Literal else ()
            return FieldSpec(path, "list", tuple(allowed))
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


def is_unknown(field: str, value: Any) -> bool:
    """Whether a flattened ``value`` of ``field`` means unknown (None, or "unknown")."""
    spec = FIELDS[field]
    return value is None or (spec.unknown_value is not None and value == spec.unknown_value)


CROSS_CHECKED: frozenset[str] = frozenset(
    {
        "disease.status",
        "disease.marrow_blasts_pct",
        "disease.mrd_pct",
        "disease.cns",
        "disease.extramedullary",
        "disease.ph",
        "disease.abl1_mutations",
        "transplant.prior_allo_hct",
        "transplant.months_since_hct",
        "transplant.gvhd",
        "transplant.original_donor",
    }
)
"""Fields the contradiction checks above compare with another field: a value in range
for one of these can still make a profile invalid. (A test keeps this list honest.)"""


@cache
def number_ranges() -> dict[str, tuple[float, float, bool]]:
    """field -> (minimum, maximum, integer) from the profile's JSON Schema."""
    schema = PatientProfile.model_json_schema()
    defs = schema.get("$defs", {})
    out: dict[str, tuple[float, float, bool]] = {}

    def walk(properties: Mapping[str, Any], prefix: str) -> None:
        for name, prop in properties.items():
            ref = prop.get("$ref")
            if ref:
                walk(defs[ref.split("/")[-1]]["properties"], f"{prefix}{name}.")
                continue
            for option in prop.get("anyOf", [prop]):
                if option.get("type") in ("number", "integer"):
                    out[f"{prefix}{name}"] = (
                        float(option.get("minimum", -math.inf)),
                        float(option.get("maximum", math.inf)),
                        option["type"] == "integer",
                    )

    walk(schema["properties"], "")
    return out


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


MAX_DEPTH = 16
"""Deepest nesting a profile may have (the format itself is three levels deep)."""
MAX_TEXT = 1_000_000
"""Largest profile text accepted, in bytes (a real profile is about 1 KB)."""
MAX_NODES = 10_000
"""Most values (objects, arrays, scalars) a profile may hold."""


def _path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts)


def problems_from(error: ValidationError, prefix: tuple[Any, ...] = ()) -> list[Problem]:
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
        problems.append(Problem(_path((*prefix, *loc)), message))
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
    """A short, printable rendering of an input value, whatever it is."""
    try:
        text = json.dumps(value) if not isinstance(value, float) else repr(value)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except (ValueError, RecursionError):
            text = f"<{_json_type(value)} too large to show>"
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
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


def _load_json(text: str | bytes) -> Any:
    """Parse JSON text; duplicate keys are remembered (json.loads keeps the last silently).

    Raises ``ProfileError`` for text that is not UTF-8, not JSON, too large, too deeply
    nested, or holds a number Python will not read (more than 4,300 digits).
    """
    if len(text) > MAX_TEXT:
        raise ProfileError([Problem("", f"profile text is larger than {MAX_TEXT:,} bytes")])
    try:
        raw = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError as error:
        raise ProfileError([Problem("", f"not UTF-8 text ({error.reason})")]) from None
    try:
        return json.loads(raw, object_pairs_hook=_pairs)
    except json.JSONDecodeError as error:
        raise ProfileError(
            [Problem("", f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}")]
        ) from None
    except RecursionError:
        raise ProfileError([Problem("", f"nested more than {MAX_DEPTH} levels deep")]) from None
    except ValueError as error:  # e.g. an integer of more than 4,300 digits
        raise ProfileError([Problem("", f"not a JSON profile Python can read: {error}")]) from None


def _shape_problems(data: Any) -> list[Problem]:
    """Problems of shape found without recursion: nesting depth, cycles, size, key types,
    and keys given more than once. Everything else is left to validation."""
    problems: list[Problem] = []
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    seen: set[int] = set()
    nodes = 0
    while stack:
        value, path, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return [Problem("", f"holds more than {MAX_NODES:,} values; not a profile")]
        if not isinstance(value, Mapping | list | tuple):
            continue
        if depth >= MAX_DEPTH:
            return [Problem(path, f"nested more than {MAX_DEPTH} levels deep")]
        if id(value) in seen:
            return [Problem(path, "refers to itself (a cycle); not a JSON profile")]
        seen.add(id(value))
        if isinstance(value, Mapping):
            for key in getattr(value, "duplicates", ()):
                field = f"{path}.{key}" if path else key
                problems.append(Problem(field, "key given more than once (which value is meant?)"))
            for key, child in value.items():
                if not isinstance(key, str):
                    problems.append(Problem(path, f"keys must be text; got {_show(key)}"))
                    continue
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
        else:
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(value))
    return sorted(problems, key=lambda p: p.field)


def _as_data(value: Any) -> Any:
    """The plain data inside a model, without serializing it (so nothing is coerced):
    a ``PatientProfile`` built with ``model_copy(update=...)`` or ``model_construct``
    skipped validation, and goes through it again from this."""
    if isinstance(value, BaseModel):
        return {k: _as_data(v) for k, v in value.__dict__.items()}
    if isinstance(value, list | tuple):
        return [_as_data(v) for v in value]
    return value


_SECTIONS: dict[str, type[BaseModel]] = {}  # filled below, once the sections exist


def _hidden_contradictions(data: Mapping[str, Any], error: ValidationError) -> list[Problem]:
    """Contradictions pydantic did not report because a sibling field was invalid.

    A section's contradiction checks run only when all its fields are valid; here the
    section is checked again without the invalid fields, so every problem is reported.
    """
    bad: dict[str, set[str]] = {}
    for item in error.errors(include_url=False):
        loc = item["loc"]
        if len(loc) >= 2 and item["type"] != "contradiction":
            bad.setdefault(str(loc[0]), set()).add(str(loc[1]))
    found: list[Problem] = []
    for section, fields in bad.items():
        model = _SECTIONS.get(section)
        raw = data.get(section)
        if model is None or not isinstance(raw, Mapping):
            continue
        trimmed = {k: v for k, v in raw.items() if k not in fields}
        try:
            model.model_validate(trimmed)
        except ValidationError as again:
            found += [
                p
                for p, e in zip(
                    problems_from(again, (section,)), again.errors(include_url=False), strict=True
                )
                if e["type"] == "contradiction"
            ]
    return found


def parse_profile(data: PatientProfile | Mapping[str, Any] | str | bytes) -> PatientProfile:
    """Return a validated ``PatientProfile`` built from ``data``.

    ``data`` may be a profile (validated again: ``model_copy`` and ``model_construct``
    skip validation), a mapping, or JSON text. Raises ``ProfileError`` listing every
    problem, each with its field path, when the data is not a valid profile (wrong JSON,
    wrong shape, wrong types, out-of-range or contradictory values, unknown or repeated
    keys, too large or too deeply nested); never any other exception for bad data.
    """
    try:
        from_text = isinstance(data, str | bytes)
        if isinstance(data, PatientProfile):
            data = _as_data(data)
        elif isinstance(data, str | bytes):
            data = _load_json(data)
        if not isinstance(data, Mapping):
            raise ProfileError(
                [Problem("", f"a profile must be a JSON object; got {_json_type(data)}")]
            )
        # JSON text is walked first (repeated keys, depth); other data only when it
        # fails validation, to name its shape fault (a valid profile is small and flat)
        shape = _shape_problems(data) if from_text else []
        fatal = [p for p in shape if "more than once" not in p.message]
        if fatal:
            raise ProfileError(fatal)
        try:
            profile = PatientProfile.model_validate(dict(data))
        except ValidationError as error:
            if not from_text:
                fatal = _shape_problems(data)
                if fatal:
                    raise ProfileError(fatal) from None
            raise ProfileError(
                shape + problems_from(error) + _hidden_contradictions(data, error)
            ) from None
        if shape:
            raise ProfileError(shape)
        return profile
    except ProfileError:
        raise
    except (RecursionError, ValueError, TypeError, AttributeError, OverflowError) as error:
        raise ProfileError(
            [Problem("", f"not a profile ({type(error).__name__}: {_show(str(error))})")]
        ) from None


_SECTIONS.update(disease=Disease, transplant=Transplant)
