"""A seeded cohort of generated patients, and rule coverage over it.

The cohort is built from the rule base itself: every enumeration value of the profile,
unknown (``None``) for every field, the values either side of every numeric threshold
a rule or a context's label age sets, and every list item a rule tests. Each draw is
validated; a contradiction (months since a transplant that did not happen, say) is
resolved by leaving the contradicting fields unknown, so every patient is a valid v1
profile. The same seed and rule base give the same cohort on every machine.

Coverage says, per rule, how often it fires and how often it **decides**: taking it
out (and what it alone derives) would change the recommendation's choice or an
option's standing. Rules that never fire or never decide are listed for review.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sequencer.api import effective_profile
from sequencer.decide.candidates import tested_items, threshold_values
from sequencer.decide.decision import decision_key
from sequencer.engine.reference import chain_concepts
from sequencer.errors import ProfileError
from sequencer.knowledge.conditions import compile_predicate
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.fields import FIELDS, flatten, nest
from sequencer.model.parsing import parse_profile
from sequencer.model.profile import PatientProfile

__all__ = ["Coverage", "RuleCoverage", "cohort", "cohort_slice", "coverage"]

_TRIES = 8


def _choices(books: Sequence[Rulebook]) -> dict[str, list[Any]]:
    """Field -> the values worth drawing for it (unknown always among them), from the
    thresholds and list items of every rule base in ``books``."""
    out: dict[str, list[Any]] = {}
    for field, spec in FIELDS.items():
        if spec.kind == "number":
            numbers = sorted({v for book in books for v in threshold_values(book, field)})
            out[field] = [None, *numbers]
        elif spec.kind == "boolean":
            out[field] = [None, True, False]
        elif spec.kind == "enum":
            out[field] = [None, *spec.values]
        else:
            items = dict.fromkeys(t for book in books for t in tested_items(book, field))
            out[field] = [None, [], *([item] for item in items)]
    return out


def cohort(
    book: Rulebook, size: int, seed: int = 2020, also: Sequence[Rulebook] = ()
) -> Iterator[PatientProfile]:
    """Yield ``size`` valid profiles drawn from the rule base's values (and those of the
    rule bases in ``also``, to compare two), lazily. Raises ``ValueError`` for a
    negative size."""
    if size < 0:
        raise ValueError("size must be 0 or more")
    choices = _choices([book, *also])
    for index in range(size):
        yield _patient(choices, seed, index)


def cohort_slice(
    book: Rulebook, indices: range, seed: int = 2020, also: Sequence[Rulebook] = ()
) -> Iterator[PatientProfile]:
    """Yield the patients of ``indices`` of the cohort ``cohort(book, ..., seed, also)``
    would give: each patient is drawn from its own seeded generator, so that workers
    can each make a slice of one cohort."""
    choices = _choices([book, *also])
    for index in indices:
        yield _patient(choices, seed, index)


def _patient(choices: dict[str, list[Any]], seed: int, index: int) -> PatientProfile:
    rng = random.Random(seed * 1_000_003 + index)
    flat = {field: rng.choice(values) for field, values in choices.items()}
    for _ in range(_TRIES):
        try:
            return parse_profile({"id": f"cohort-{seed}-{index}", **nest(flat)})
        except ProfileError as error:
            for problem in error.problems:  # leave what contradicts unknown
                if problem.field in flat:
                    flat[problem.field] = None
    return parse_profile({"id": f"cohort-{seed}-{index}"})  # pragma: no cover


@dataclass(frozen=True)
class RuleCoverage:
    """One rule over a cohort: how many patients it fired for, and decided for."""

    rule: str
    fires: int
    decides: int


@dataclass(frozen=True)
class Coverage:
    """Every active rule of a context over a cohort of ``size`` patients."""

    context: str
    size: int
    rules: tuple[RuleCoverage, ...]

    @property
    def never_fire(self) -> list[str]:
        """Rules no patient of the cohort fired."""
        return [r.rule for r in self.rules if r.fires == 0]

    @property
    def never_decide(self) -> list[str]:
        """Rules that fired but never decided anything."""
        return [r.rule for r in self.rules if r.fires and r.decides == 0]


def coverage(
    book: Rulebook,
    profiles: Sequence[PatientProfile] | Iterator[PatientProfile],
    context: str | None = None,
) -> Coverage:
    """Return how often each rule fires and decides over ``profiles`` in ``context``.

    A rule decides for a patient when evaluating without it (and without the concepts
    only it derives) changes the preferred option or an option's standing. Raises
    ``UnknownContextError`` for an unknown context.
    """
    ctx = book.context(context)
    rules = book.active_in(ctx.context)
    tests = [(rule, compile_predicate(rule.condition.profile)) for rule in rules]
    fires = dict.fromkeys((r.id for r in rules), 0)
    decides = dict.fromkeys((r.id for r in rules), 0)
    size = 0
    for profile in profiles:
        size += 1
        effective, _, _ = effective_profile(profile, rulebook=book, context=ctx.context)
        facts = flatten(effective)
        matching = [rule for rule, test in tests if test(facts)]
        fired = frozenset(chain_concepts(matching, set()))
        key = decision_key(book, fired)
        for rule in matching:
            if rule.id not in fired:
                continue
            fires[rule.id] += 1
            if rule.derives:  # the rules joining on what only it derives go too
                without = [r for r in matching if r.id != rule.id]
                rest = frozenset(chain_concepts(without, set()))
            elif rule.decisive:
                rest = fired - {rule.id}
            else:
                continue  # neither argues, nor changes a standing, nor derives: cannot decide
            if decision_key(book, rest) != key:
                decides[rule.id] += 1
    return Coverage(
        ctx.context,
        size,
        tuple(RuleCoverage(r.id, fires[r.id], decides[r.id]) for r in rules),
    )
