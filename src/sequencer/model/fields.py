"""The profile's fields as a catalogue: each dotted path with its kind, values and
range, what counts as unknown, and a profile flattened to dotted paths."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
)

from sequencer.model.profile import PatientProfile

__all__ = ["CROSS_CHECKED", "FIELDS", "FieldSpec", "flatten", "is_unknown", "nest", "number_ranges"]


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


_NOT_FACTS = ("id", "format_version")
"""Top-level profile keys that say nothing about the patient."""


def _catalogue(model: type[BaseModel], prefix: str = "") -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}
    for name, info in model.model_fields.items():
        if name in _NOT_FACTS and not prefix:
            continue
        path = f"{prefix}{name}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.update(_catalogue(annotation, f"{path}."))
        else:
            out[path] = _leaf_spec(path, annotation)
    return out


FIELDS: Mapping[str, FieldSpec] = types.MappingProxyType(_catalogue(PatientProfile))


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


@cache
def number_ranges() -> dict[str, tuple[float, float, bool]]:
    """field -> (minimum, maximum, integer) from the profile's JSON Schema."""
    schema = PatientProfile.model_json_schema()
    defs = schema.get("$defs", {})
    out: dict[str, tuple[float, float, bool]] = {}

    def walk(properties: Mapping[str, Any], prefix: str) -> None:
        for name, prop in properties.items():
            for option in prop.get("anyOf", [prop]):  # a section may be null: anyOf
                ref = option.get("$ref")
                if ref:
                    walk(defs[ref.split("/")[-1]]["properties"], f"{prefix}{name}.")
                elif option.get("type") in ("number", "integer"):
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


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Return the profile sections ``flat`` describes: the inverse of :func:`flatten`
    for the dotted paths given (``{"disease.cd19": "positive"}`` becomes
    ``{"disease": {"cd19": "positive"}}``)."""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        *sections, leaf = path.split(".")
        node = out
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    return out


def _split(path: str) -> tuple[str, str, str]:
    section, _, leaf = path.rpartition(".")
    return path, section, leaf


_PATHS: tuple[tuple[str, str, str], ...] = tuple(_split(path) for path in FIELDS)
