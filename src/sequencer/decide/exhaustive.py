"""The exhaustive search for unknown facts: the yardstick the fast search is tested against.

Used by ``sequencer.decide.unknowns.could_flip`` in ``search_mode("exhaustive")``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

from sequencer.decide.search_index import Candidate, SearchIndex
from sequencer.decide.unknowns import (
    Flip,
    candidates_of,
    preferred_of,
    record,
)
from sequencer.engine.reference import ReferenceEngine
from sequencer.knowledge.contexts import ACCESS_FIELD, Context
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.fields import is_unknown
from sequencer.model.profile import PatientProfile

__all__ = ["exhaustive"]


def exhaustive(
    book: Rulebook,
    index: SearchIndex,
    context: Context,
    profile: PatientProfile,
    facts: Mapping[str, Any],
    fired: frozenset[str],
    decide: Callable[[frozenset[str]], Hashable],
    access_derived: bool,
) -> dict[str, list[Flip]]:
    """The search without pruning or memo: every candidate value of every unknown field
    a decisive rule reads (through concepts too), the whole rule base evaluated again by
    the reference engine, every variant validated. Returns what ``could_flip`` returns;
    slow, the yardstick."""
    reference: ReferenceEngine = book.compiled("reference-engine", ReferenceEngine)
    base = decide(fired & index.decisive_rules)
    out: dict[str, list[Flip]] = {}
    for field in index.decisive_fields:  # no other field reaches a decisive rule
        if not is_unknown(field, facts.get(field)):
            continue
        found: list[Candidate] = []
        for value in candidates_of(book, index, context, field, access_derived):
            variant = dict(facts)
            variant[field] = tuple(value) if isinstance(value, list) else value
            access = None
            if field == "age" and access_derived and isinstance(value, int):
                access = context.access_for_age(value)
                variant[ACCESS_FIELD] = access
            after = reference.fired(variant, context.context)
            outcome = decide(after & index.decisive_rules)
            if outcome != base:
                found.append((value, access, after, preferred_of(outcome) != preferred_of(base)))
        record(out, book, profile, field, found, fired, True, index.decisive_rules)
    return out
