"""FHIR R4 resources as they come in: Bundles, lists and named inputs opened to
resources with their paths, each validated with the ``fhir.resources`` R4B models, and
what ``sequencer.interop.fhir_in`` reads of one: its name, codings, dates, medication
and subject."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from sequencer.errors import Problem
from sequencer.model.parsing import code_of

__all__ = [
    "codings",
    "dated_after",
    "earliest",
    "first_date",
    "flatten",
    "medication_codes",
    "not_about",
    "source_name",
    "validate",
]

# Elements whose date says when a resource's content happened or was stated.
_WHEN = (
    ("effectiveDateTime",),
    ("effectivePeriod", "start"),
    ("effectiveInstant",),
    ("issued",),
    ("authoredOn",),
    ("authored",),
    ("recordedDate",),
    ("onsetDateTime",),
    ("onsetPeriod", "start"),
)

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def first_date(*values: Any) -> datetime.date | None:
    """The first value that starts with a full date (YYYY-MM-DD)."""
    for value in values:
        if isinstance(value, str) and (m := _DATE.match(value)):
            try:
                return datetime.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return None
    return None


_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")


def earliest(value: Any) -> datetime.date | None:
    """The first day a FHIR date or dateTime (``2020``, ``2020-03``, ``2020-03-05T...``)
    can mean, or None when it is not one."""
    if not isinstance(value, str) or not (m := _PARTIAL.match(value)):
        return None
    try:
        return datetime.date(int(m[1]), int(m[2] or 1), int(m[3] or 1))
    except ValueError:
        return None


def dated_after(res: Mapping[str, Any], day: datetime.date) -> str | None:
    """The first date of ``res`` (see ``_WHEN``) later than ``day``, named, or None."""
    for path in _WHEN:
        value: Any = res
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        when = earliest(value)
        if when is not None and when > day:
            return f"{'.'.join(path)} {value}"
    return None


def flatten(
    data: Any, prefix: str, *, named: bool = False
) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
    """Every resource in ``data`` (Bundles opened, lists walked, named inputs opened when
    ``named``) with its path; None where something that is no resource stands."""
    if isinstance(data, Mapping):
        if named and "resourceType" not in data:
            for key, value in data.items():
                if value is not None:  # a prefetch key the client could not fill
                    yield from flatten(value, f"{prefix}{key}.", named=True)
            return
        if data.get("resourceType") == "Bundle":
            for i, entry in enumerate(data.get("entry") or []):
                where = f"{prefix}entry[{i}]"
                resource = entry.get("resource") if isinstance(entry, Mapping) else None
                if isinstance(resource, Mapping):
                    yield from flatten(resource, f"{where}.resource.")
                else:
                    yield where, None
            return
        yield prefix.rstrip("."), data
    elif isinstance(data, list | tuple):
        for i, item in enumerate(data):
            yield from flatten(item, f"{prefix}[{i}].")
    else:
        yield prefix.rstrip("."), None


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate(path: str, resource: Mapping[str, Any]) -> list[Problem]:
    """Problems that make ``resource`` invalid FHIR R4 (R4B models), with their paths."""
    from fhir.resources.R4B import get_fhir_model_class

    where = path or "<resource>"
    kind = resource.get("resourceType")
    if not isinstance(kind, str):
        return [
            Problem(
                f"{path}.resourceType".lstrip("."),
                "not a FHIR resource (no resourceType)",
                "missing_field" if "resourceType" not in resource else "wrong_type",
            )
        ]
    try:
        model = get_fhir_model_class(kind)
    except (ValueError, KeyError):
        return [Problem(f"{path}.resourceType".lstrip("."), f"unknown resource type {kind!r}")]
    try:
        model.model_validate(dict(resource))
    except ValidationError as error:
        return [
            Problem(
                f"{path}{_loc(tuple(e['loc']))}".lstrip(".") or where, e["msg"], code_of(e["type"])
            )
            for e in error.errors(include_url=False)
        ]
    except (ValueError, TypeError, RecursionError) as error:
        return [Problem(where, f"not valid FHIR ({type(error).__name__})")]
    return []


def codings(concept: Any) -> list[tuple[str, str]]:
    """The (system, code) pairs of a CodeableConcept's codings that have a code."""
    if not isinstance(concept, Mapping):
        return []
    return [
        (str(c.get("system")), str(c.get("code")))
        for c in concept.get("coding") or []
        if isinstance(c, Mapping) and c.get("code") is not None
    ]


def source_name(resource: Mapping[str, Any], path: str) -> str:
    """How reports name ``resource``: ``Type/id``, or ``Type at PATH`` without an id."""
    rid = resource.get("id")
    return (
        f"{resource.get('resourceType')}/{rid}"
        if rid
        else f"{resource.get('resourceType')} at {path}"
    )


def medication_codes(
    resource: Mapping[str, Any], medications: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """The codings of the medication a request or administration names (directly, or
    through a reference to a contained or listed Medication)."""
    codes = codings(resource.get("medicationCodeableConcept"))
    ref = resource.get("medicationReference")
    target = ref.get("reference") if isinstance(ref, Mapping) else None
    if isinstance(target, str):
        if target.startswith("#"):
            for contained in resource.get("contained") or []:
                if isinstance(contained, Mapping) and contained.get("id") == target[1:]:
                    codes += codings(contained.get("code"))
        elif target in medications:
            codes += codings(medications[target].get("code"))
    return codes


def _subject(res: Mapping[str, Any]) -> str | None:
    for key in ("subject", "patient"):
        ref = res.get(key)
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
            return str(ref["reference"])
    return None


def not_about(res: Mapping[str, Any], pid: str) -> str | None:
    """Why ``res`` is not about patient ``pid``, or None when its subject (or patient) is
    the relative reference ``Patient/{pid}``: the only form read (an absolute URL may name
    another server's patient with the same id)."""
    subject = _subject(res)
    if subject == f"Patient/{pid}":
        return None
    if subject is None:
        return "no subject (a Patient reference): whose is it?"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", subject):
        return f"its subject is an absolute reference ({subject}); only Patient/{pid} is read"
    if subject.startswith("Patient/"):
        return f"about another patient ({subject})"
    return f"its subject is not a Patient ({subject})"
