"""A class's answers to one exercise, tallied for the teacher.

Each stored answer is marked again with ``explain.teach.mark`` against the exercise it
answered (only answers given under the same rule base digest: the statements' letters
belong to that rule base), then counted: how many chose each choice, how often each
statement was ticked as deciding and named as set aside (beside what it truly was), the
most common wrong reasons, and the mean score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sequencer.explain.deciding import NEITHER, NOT_YET
from sequencer.explain.statements import Factor
from sequencer.explain.teach import Answer, Exercise, Marked, mark

__all__ = ["WRONG_REASONS", "CaseTally", "StatementTally", "WrongReason", "tally"]

WrongKind = Literal["choice", "not_deciding", "not_set_aside", "missed"]
WRONG_REASONS = 5
"""At most this many wrong reasons are listed per case."""


@dataclass(frozen=True)
class StatementTally:
    """One statement: how often it was ticked, and what it truly was."""

    factor: Factor
    ticked_deciding: int
    ticked_set_aside: int


@dataclass(frozen=True)
class WrongReason:
    """A wrong answer many gave: a wrong choice, a statement wrongly ticked as deciding,
    a statement wrongly named as set aside, or a deciding statement missed."""

    kind: WrongKind
    what: str
    """The choice's id, or the statement's letter."""
    count: int


@dataclass(frozen=True)
class CaseTally:
    """A class's answers to one exercise."""

    exercise: Exercise
    answers: int
    """Answers given under this rule base (the ones tallied)."""
    choices: tuple[tuple[str, int], ...]
    """Every choice offered (each option, neither, not yet) with how many chose it."""
    statements: tuple[StatementTally, ...]
    wrong: tuple[WrongReason, ...]
    """The most common wrong reasons, most common first (at most ``WRONG_REASONS``)."""
    mean_points: float | None
    """The mean score (None for a discussion case or no answers)."""
    elsewhere: int
    """Answers given under another rule base (not tallied: their letters differ)."""

    @property
    def max_points(self) -> int:
        """Full marks for the exercise."""
        return self.exercise.max_points


def tally(ex: Exercise, answers: Sequence[Answer], elsewhere: int = 0) -> CaseTally:
    """Return the tally of ``answers`` to ``ex`` (answers given under ``ex``'s rule base;
    ``elsewhere``: how many were given under another)."""
    marked: list[Marked] = [mark(ex, a) for a in answers]
    offered = [*ex.rulebook.option_ids, NEITHER, NOT_YET]
    chosen = Counter(a.choice for a in answers)
    deciding = Counter(k for a in answers for k in a.factors)
    aside = Counter(k for a in answers for k in a.set_aside)
    wrong: Counter[tuple[WrongKind, str]] = Counter()
    if ex.kind == "quiz":
        for m in marked:
            if not m.choice_correct and m.answer is not None:
                wrong["choice", m.answer.choice] += 1
            wrong.update(("not_deciding", f.key) for f in m.wrong)
            wrong.update(("not_set_aside", f.key) for f in m.aside_wrong)
            wrong.update(("missed", f.key) for f in m.missed)
    order = {"choice": 0, "not_deciding": 1, "not_set_aside": 2, "missed": 3}
    common = sorted(wrong.items(), key=lambda kv: (-kv[1], order[kv[0][0]], kv[0][1]))
    mean = sum(m.points for m in marked) / len(marked) if marked and ex.kind == "quiz" else None
    return CaseTally(
        exercise=ex,
        answers=len(answers),
        choices=tuple((c, chosen[c]) for c in offered),
        statements=tuple(StatementTally(f, deciding[f.key], aside[f.key]) for f in ex.factors),
        wrong=tuple(
            WrongReason(kind, what, count) for (kind, what), count in common[:WRONG_REASONS]
        ),
        mean_points=mean,
        elsewhere=elsewhere,
    )
