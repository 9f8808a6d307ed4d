"""Facts read from FHIR: each profile value with the resource it came from, the
resources that gave nothing with the reason, and how the readings of one field combine
(superseded, one active Condition enough) or contradict each other (see
``sequencer.interop.fhir_in``'s docstring)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from sequencer.errors import Problem

__all__ = [
    "ANY_ACTIVE",
    "NEVER",
    "NEWEST",
    "OUTPUT",
    "Fact",
    "MappedFact",
    "UnusedResource",
    "resolve",
]

# The output models' configuration (``FhirMapping`` in ``fhir_in`` shares it).
OUTPUT = ConfigDict(extra="forbid", frozen=True, strict=True)


class MappedFact(BaseModel):
    """One profile value and where it came from."""

    model_config = OUTPUT
    field: str
    value: Any
    source: str
    system: str | None = None
    code: str | None = None
    date: str | None = None


class UnusedResource(BaseModel):
    """A resource that was read but gave no profile value, and why."""

    model_config = OUTPUT
    source: str
    reason: str


# How the readings of one field from resources of one type combine (see ``fhir_in``).
NEWEST, NEVER, ANY_ACTIVE = "newest", "never", "any-active"


@dataclass(frozen=True)
class Fact:
    """One value read for a profile field: its source, the kind of resource, its date, the
    code it was read by and how readings of its field combine (``policy``)."""

    field: str
    value: Any  # None: answered "unknown"
    source: str
    kind: str
    date: datetime.date | None
    system: str | None = None
    code: str | None = None
    policy: str = NEVER

    def public(self) -> MappedFact:
        day = self.date.isoformat() if self.date else None
        return MappedFact(
            field=self.field,
            value=self.value,
            source=self.source,
            system=self.system,
            code=self.code,
            date=day,
        )


def _same(value: Any) -> str:
    """What two readings must share to agree: the value, or for a list (ABL1 mutations)
    the names it holds, in any order and case."""
    if isinstance(value, list):
        return repr(sorted({str(v).upper() for v in value}))
    return repr(value)


def _said(value: Any) -> str:
    return "unknown" if value is None else repr(value)


def _combine(field: str, group: list[Fact], unused: list[UnusedResource]) -> list[Fact]:
    """The facts of one field from one resource type that stand, by their policy; those
    set aside are listed in ``unused`` with the reason."""
    if len({_same(f.value) for f in group}) == 1:
        return group
    policy, kind = group[0].policy, group[0].kind
    if policy == ANY_ACTIVE:
        active = [f for f in group if f.value == "active"]
        for f in group:
            if f.value != "active" and active:
                reason = f"{field}: {active[0].source} is active (one active {kind} is enough)"
                unused.append(UnusedResource(source=f.source, reason=reason))
        return active or group
    dates = [f.date for f in group]
    if policy == NEWEST and all(d is not None for d in dates):
        newest = max(d for d in dates if d is not None)
        winners = [f for f in group if f.date == newest]
        if len({_same(f.value) for f in winners}) == 1:
            for f in group:
                if f.date != newest:
                    reason = f"{field}: superseded by {winners[0].source} of {newest}"
                    if winners[0].value is None:
                        reason += " (answered unknown)"
                    unused.append(UnusedResource(source=f.source, reason=reason))
            return winners
    return group


def resolve(
    facts: list[Fact], unused: list[UnusedResource], problems: list[Problem]
) -> dict[str, list[Fact]]:
    """One value per field (None: answered unknown), or a contradiction problem (see the
    docstring of ``sequencer.interop.fhir_in``)."""
    by_field: dict[str, dict[str, list[Fact]]] = {}
    for fact in facts:
        by_field.setdefault(fact.field, {}).setdefault(fact.kind, []).append(fact)
    chosen: dict[str, list[Fact]] = {}
    for field, kinds in by_field.items():
        group = [f for kind in kinds.values() for f in _combine(field, kind, unused)]
        known = [f for f in group if f.value is not None]
        if known and len(known) < len(group):
            known_kinds = {f.kind for f in known}
            if not {f.kind for f in group if f.value is None} & known_kinds:
                for f in group:
                    if f.value is None:
                        reason = f"{field}: answered unknown; {known[0].source} gives its value"
                        unused.append(UnusedResource(source=f.source, reason=reason))
                group = known
        if len({_same(f.value) for f in group}) == 1:
            chosen[field] = group
            continue
        said = "; ".join(f"{f.source} says {_said(f.value)}" for f in group)
        problems.append(Problem(field, f"sources disagree: {said}", "contradiction"))
    return chosen
