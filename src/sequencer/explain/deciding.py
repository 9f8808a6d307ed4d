"""Which arguments and standings decided a choice, found by taking them away.

The rules that fired for a patient make *items*: each counted argument, and each fired
rule that changes an option's standing (not eligible, deferred, failed, sets arguments
aside, or blocks the choice). Taking items away and deciding again with the rule base's
own ``tally``/``decide`` (``sequencer.decide.decision``) shows what each one does:

- an item **decides** the choice when it is pivotal in some situation: there is a set
  of the other items whose removal leaves the choice as it is, and removing the item as
  well changes it (a counted argument for the chosen option is pivotal once enough of
  its companions are gone; an argument for the other option never is);
- an item is **necessary** when taking it away on its own changes the choice (the
  answer it would then be is kept, for feedback: "without it, ..."); for any deciding
  item the smallest such set of companions is kept as its witness ("taken away with
  these, the choice becomes ...").

Arguments that were set aside weigh nothing, so they never decide; they are listed as
set aside. Nothing here is written by hand for a case: the rule base decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from sequencer.decide.decision import Decision, Tally, decide, fold_standing, tally
from sequencer.knowledge.rulebook import Rulebook

__all__ = ["NEITHER", "NOT_YET", "NO_PREFERENCE", "Item", "Weighing", "answer_of", "weigh"]

NEITHER = "neither"
NOT_YET = "not_yet"
NO_PREFERENCE = "no-preference"
FULL_SEARCH = 12
"""Up to this many items every subset is tried; above it, subsets of up to three."""


def answer_of(d: Decision) -> str:
    """Return the choice a decision makes, as a learner would name it.

    An option's id when one is preferred; ``not_yet`` when a blocking fact is missing or
    no option can be given now but one is only deferred; ``neither`` when no option is
    eligible; ``no-preference`` when the options tie.
    """
    if d.preferred is not None:
        return d.preferred
    if d.blocked:
        return NOT_YET
    statuses = set(d.status.values())
    if statuses <= {"not_eligible"}:
        return NEITHER
    if "alternative" not in statuses:
        return NOT_YET
    return NO_PREFERENCE


@dataclass(frozen=True)
class Item:
    """One argument or standing rule, and what taking it away does."""

    kind: Literal["argument", "standing"]
    id: str
    """The argument's id, or the standing rule's id."""
    deciding: bool
    without: str | None
    """The choice without this item alone, when that differs (it is then necessary)."""
    together: tuple[str, ...] = ()
    """For a deciding item that is not necessary: the fewest other items (ids) whose
    removal leaves the choice as it is, but with this one removed too changes it."""
    then: str | None = None
    """The choice once this item and ``together`` are taken away (deciding items)."""


@dataclass(frozen=True)
class Weighing:
    """The choice and every item weighed against it."""

    answer: str
    items: tuple[Item, ...]
    set_aside: tuple[str, ...]
    """Ids of the arguments that were set aside."""

    def item(self, kind: str, key: str) -> Item | None:
        """Return the item of ``kind`` with id ``key``, or None."""
        return next((i for i in self.items if i.kind == kind and i.id == key), None)


def _without(t: Tally, arguments: set[str], rules: set[str]) -> Tally:
    """The tally with ``arguments`` not counted and the standing effects of ``rules`` gone."""
    out = Tally(
        rules=t.rules,
        best={a: v for a, v in t.best.items() if a not in arguments},
        makers={a: v for a, v in t.makers.items() if a not in arguments},
    )
    fold_standing(out, ((r, p) for r, p in t.rules if r not in rules))
    return out


def weigh(book: Rulebook, fired: Iterable[str]) -> Weighing:
    """Return the choice the fired rules make and, for every item, whether it decided it.

    ``fired`` holds the ids of the rules that fired (``sequencer.api.fired_rules``).
    """
    t = tally(book, frozenset(fired))
    base = decide(book, t)
    answer = answer_of(base)
    items: list[tuple[Literal["argument", "standing"], str]] = [
        ("argument", a) for a in sorted(base.counted)
    ]
    items += [("standing", r) for r, plan in t.rules if plan.changes_standing]
    memo: dict[frozenset[int], str] = {}

    def outcome(removed: frozenset[int]) -> str:
        found = memo.get(removed)
        if found is None:
            arguments = {items[i][1] for i in removed if items[i][0] == "argument"}
            rules = {items[i][1] for i in removed if items[i][0] == "standing"}
            found = answer_of(decide(book, _without(t, arguments, rules)))
            memo[removed] = found
        return found

    n = len(items)
    largest = n if n <= FULL_SEARCH else 3
    subsets = [frozenset(c) for size in range(largest + 1) for c in combinations(range(n), size)]
    holding = [s for s in subsets if outcome(s) == answer]  # smallest first
    weighed = []
    for index, (kind, key) in enumerate(items):
        witness = next(
            (s for s in holding if index not in s and outcome(s | {index}) != answer), None
        )
        alone = outcome(frozenset({index}))
        weighed.append(
            Item(
                kind,
                key,
                witness is not None,
                alone if alone != answer else None,
                tuple(items[i][1] for i in sorted(witness or ())),
                outcome(witness | {index}) if witness is not None else None,
            )
        )
    return Weighing(answer, tuple(weighed), tuple(sorted(base.defeated)))
