"""Teaching mode: any case as an exercise (a quiz or a discussion), answers and marking.

A case (``sequencer.explain.casebook``: the review's patients, the literature cases,
a teacher's profiles) becomes an ``Exercise``: a vignette written from the profile's
fields (``Vocabulary.vignette``), the choices (each option, ``neither``, ``not yet``),
and a lettered list of **statements, every one true of the patient**: those that
decided the choice, those that did not, and arguments set aside
(``sequencer.explain.statements``).

A case the rules do not decide is a **discussion** case, not a quiz: the options tie,
the rules do not reach the published choice, or (for a case without a published
decision) the choice is provisional on a fact not known. A provisional case with a
published decision that the rules reach stays a quiz: the clinicians decided with what
they knew, and the feedback says which unknown could have changed it.

Scoring a quiz: ``CHOICE_POINTS`` for the right choice (the published one; the rules'
when there is none); one point for each deciding statement ticked, minus one for each
other statement ticked (never below zero); one point for each set-aside argument named
as set aside, minus one for each other statement named so (never below zero). A
statement carrying the authors' hindsight that did not decide costs nothing when
ticked: the feedback teaches it instead. Ticking every statement never earns full
marks: each quiz has true statements that did not decide (a test pins it).

Answers (JSON or YAML) map a case number or key to ``{choice, factors, set_aside}``;
a statement is its letter or a rule or argument id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from sequencer.api import default_rulebook, effective_profile, fired_rules, recommend
from sequencer.errors import AnswerFileError
from sequencer.explain.casebook import TeachingCase, gather
from sequencer.explain.deciding import NEITHER, NO_PREFERENCE, NOT_YET, Weighing, weigh
from sequencer.explain.statements import Factor, statements
from sequencer.explain.whatif import what_if
from sequencer.explain.whatif_model import WhatIf
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.recommendation import Recommendation

__all__ = [
    "CHOICE_POINTS",
    "NEITHER",
    "NOT_YET",
    "Answer",
    "Exercise",
    "Marked",
    "answers_from_file",
    "exercises",
    "mark",
    "parse_choice",
    "parse_factors",
]

CHOICE_POINTS = 2
LearnerChoice = str
"""An option's id, ``neither`` or ``not_yet``."""
_OTHER_CHOICES = {
    "n": NEITHER,
    "neither": NEITHER,
    "none": NEITHER,
    "y": NOT_YET,
    "not_yet": NOT_YET,
    "not yet": NOT_YET,
    "notyet": NOT_YET,
    "wait": NOT_YET,
}


@dataclass(frozen=True)
class Exercise:
    """One case as an exercise: a quiz, or a discussion case the rules do not decide."""

    case: TeachingCase
    kind: Literal["quiz", "discussion"]
    discussion: Literal["tie", "differs", "provisional"] | None
    """Why it is a discussion case."""
    answer: str
    """The right choice of a quiz; for a discussion case, what the rules say."""
    setting: str
    vignette: str
    factors: tuple[Factor, ...]
    recommendation: Recommendation
    today: Recommendation
    whatif: WhatIf
    weighing: Weighing
    rulebook: Rulebook

    @property
    def deciding(self) -> tuple[Factor, ...]:
        """The statements that decided the choice."""
        return tuple(f for f in self.factors if f.deciding)

    @property
    def set_aside(self) -> tuple[Factor, ...]:
        """The arguments that were set aside."""
        return tuple(f for f in self.factors if f.role == "set_aside")

    @property
    def max_points(self) -> int:
        """Full marks: the choice, every deciding statement, every set-aside one (0 for a
        discussion case)."""
        if self.kind == "discussion":
            return 0
        return CHOICE_POINTS + len(self.deciding) + len(self.set_aside)


class Answer(BaseModel):
    """A learner's answer for one case (statements as letters)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    choice: LearnerChoice
    factors: tuple[str, ...] = ()
    set_aside: tuple[str, ...] = ()


@dataclass(frozen=True)
class Marked:
    """An answer marked against the exercise."""

    exercise: Exercise
    answer: Answer | None
    choice_correct: bool
    right: tuple[Factor, ...]
    """Deciding statements ticked."""
    wrong: tuple[Factor, ...]
    """Other statements ticked as deciding (each costs a point)."""
    missed: tuple[Factor, ...]
    """Deciding statements not ticked."""
    points: int
    spared: tuple[Factor, ...] = ()
    """Statements with a hindsight note ticked as deciding: no point lost."""
    aside_right: tuple[Factor, ...] = ()
    aside_wrong: tuple[Factor, ...] = ()
    aside_missed: tuple[Factor, ...] = ()

    @property
    def max_points(self) -> int:
        """Full marks for this exercise."""
        return self.exercise.max_points


# --- building the exercises ------------------------------------------------------


def _kind(
    case: TeachingCase, rec: Recommendation, weighing: Weighing, factors: Sequence[Factor]
) -> tuple[Literal["quiz", "discussion"], Literal["tie", "differs", "provisional"] | None]:
    if weighing.answer == NO_PREFERENCE:
        return "discussion", "tie"
    if case.published_choice is not None and case.published_choice != weighing.answer:
        return "discussion", "differs"
    if case.published_choice is None and rec.provisional:
        return "discussion", "provisional"
    return "quiz", None


def exercise(case: TeachingCase, rulebook: Rulebook | None = None) -> Exercise:
    """Return one case as an exercise, decided in the case's regulatory context.

    Raises ``ProfileError``/``UnknownContextError`` for a profile or context the rules
    cannot take.
    """
    book = rulebook or default_rulebook()
    effective, ctx, _ = effective_profile(case.profile, rulebook=book, context=case.context)
    rec = recommend(case.profile, rulebook=book, context=case.context)
    weighing = weigh(book, fired_rules(case.profile, rulebook=book, context=case.context))
    factors = statements(book, case, rec, weighing)
    kind, why = _kind(case, rec, weighing, factors)
    return Exercise(
        case=case,
        kind=kind,
        discussion=why,
        answer=weighing.answer,
        setting=ctx.title,
        vignette=book.vocabulary.vignette(effective, ctx.title),
        factors=factors,
        recommendation=rec,
        today=recommend(case.profile, rulebook=book),
        whatif=what_if(case.profile, rulebook=book, context=case.context, base=rec),
        weighing=weighing,
        rulebook=book,
    )


def exercises(
    cases: Sequence[TeachingCase] | None = None, rulebook: Rulebook | None = None
) -> list[Exercise]:
    """Return the cases as exercises (default: the review's published patients)."""
    book = rulebook or default_rulebook()
    chosen = list(cases) if cases is not None else gather()
    return [exercise(case, book) for case in chosen]


# --- answers and marking -----------------------------------------------------------


def _normal(token: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", token.strip().lower()).strip("_")


def parse_choice(text: str, book: Rulebook) -> LearnerChoice | None:
    """Return the choice a learner typed (``b``, ``car-t``, ``Neither``, ``not yet``...),
    or None."""
    aliases = {_normal(a): o.id for o in book.options for a in (o.id, *o.aliases)}
    others = {_normal(k): v for k, v in _OTHER_CHOICES.items()}
    return {**aliases, **others}.get(_normal(text))


def parse_factors(exercise: Exercise, items: Sequence[str]) -> tuple[str, ...]:
    """Return statement letters from letters or rule/argument ids.

    Raises ``ValueError`` naming an item that is neither.
    """
    letters = {f.key for f in exercise.factors}
    by_id: dict[str, str] = {}
    for f in exercise.factors:
        for name in (*f.rules, f.ref, *f.arguments):
            by_id.setdefault(name, f.key)
    out: list[str] = []
    for item in items:
        token = str(item).strip()
        key = token.lower() if token.lower() in letters else by_id.get(token)
        if key is None:
            known = ", ".join(sorted(letters, key=lambda k: (len(k), k)))
            raise ValueError(f"unknown statement {token!r} (use the letters {known} or rule ids)")
        if key not in out:
            out.append(key)
    return tuple(sorted(out, key=lambda k: (len(k), k)))


def _load(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AnswerFileError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise AnswerFileError(f"{path}: not UTF-8 text") from None
    if len(text) > 1_000_000:
        raise AnswerFileError(f"{path}: larger than 1 MB; not an answer file")
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise AnswerFileError(f"{path}: not valid JSON or YAML ({error})") from None
    except (RecursionError, ValueError) as error:  # nested too deep, a huge number
        raise AnswerFileError(
            f"{path}: not an answer file ({type(error).__name__}: {str(error)[:80]})"
        ) from None


def _find(sheets: Sequence[Exercise], raw_key: object) -> Exercise | None:
    text = str(raw_key).strip()
    for ex in sheets:
        if text == ex.case.key or (text.isdigit() and int(text) == ex.case.number):
            return ex
    return None


def _statements(where: str, ex: Exercise, raw: Mapping[object, object], name: str) -> list[str]:
    items = raw.get(name) or []
    if not isinstance(items, list):
        raise AnswerFileError(f"{where}: {name} must be a list")
    return [str(i) for i in items]


def answers_from_file(path: Path, sheets: Sequence[Exercise]) -> dict[int, Answer]:
    """Read answers (JSON or YAML) for ``sheets``: case number -> ``Answer``.

    Raises ``AnswerFileError`` naming every fault's place.
    """
    data = _load(path)
    if not isinstance(data, Mapping):
        raise AnswerFileError(f"{path}: expected a mapping of case number -> answer")
    out: dict[int, Answer] = {}
    for raw_key, raw in data.items():
        ex = _find(sheets, raw_key)
        if ex is None:
            if not str(raw_key).strip().isdigit() and not isinstance(raw_key, int):
                raise AnswerFileError(f"{path}: {raw_key!r} is not a patient number or case key")
            known = ", ".join(str(e.case.number) for e in sheets)
            raise AnswerFileError(f"{path}: no patient {raw_key} (patients: {known})")
        number = ex.case.number
        where = f"{path}: patient {number}"
        if not isinstance(raw, Mapping):
            raise AnswerFileError(f"{where}: expected {{choice, factors, set_aside}}")
        extra = set(raw) - {"choice", "factors", "set_aside"}
        if extra:
            raise AnswerFileError(f"{where}: unknown keys {sorted(str(k) for k in extra)}")
        book = ex.rulebook
        choice = parse_choice(str(raw.get("choice", "")), book)
        if choice is None:
            ids = [*book.option_ids, NEITHER, NOT_YET]
            wanted = ", ".join(ids[:-1]) + f" or {ids[-1]}"
            raise AnswerFileError(f"{where}: choice must be {wanted}; got {raw.get('choice')!r}")
        try:
            factors = parse_factors(ex, _statements(where, ex, raw, "factors"))
            aside = parse_factors(ex, _statements(where, ex, raw, "set_aside"))
            both = sorted(set(factors) & set(aside))
            if both:
                raise ValueError(f"{', '.join(both)} both deciding and set aside; choose one")
            out[number] = Answer(choice=choice, factors=factors, set_aside=aside)
        except (ValueError, ValidationError) as error:
            raise AnswerFileError(f"{where}: {error}") from None
    return out


def mark(exercise: Exercise, answer: Answer | None) -> Marked:
    """Mark one answer (None: not answered, no points). A discussion case scores nothing."""
    if answer is None or exercise.kind == "discussion":
        return Marked(
            exercise, answer, False, (), (), exercise.deciding, 0, aside_missed=exercise.set_aside
        )
    picked = [f for f in exercise.factors if f.key in answer.factors]
    right = tuple(f for f in picked if f.deciding)
    spared = tuple(f for f in picked if f.neutral)
    wrong = tuple(f for f in picked if not f.deciding and not f.neutral)
    missed = tuple(f for f in exercise.deciding if f not in right)
    named = [f for f in exercise.factors if f.key in answer.set_aside]
    aside_right = tuple(f for f in named if f.role == "set_aside")
    aside_wrong = tuple(f for f in named if f.role != "set_aside")
    aside_missed = tuple(f for f in exercise.set_aside if f not in aside_right)
    correct = answer.choice == exercise.answer
    points = (
        (CHOICE_POINTS if correct else 0)
        + max(0, len(right) - len(wrong))
        + max(0, len(aside_right) - len(aside_wrong))
    )
    return Marked(
        exercise,
        answer,
        correct,
        right,
        wrong,
        missed,
        points,
        spared,
        aside_right,
        aside_wrong,
        aside_missed,
    )
