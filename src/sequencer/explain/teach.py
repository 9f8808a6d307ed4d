"""Teaching mode: the review's published patients as exercises, with feedback and a score.

Each published patient becomes an ``Exercise``: a vignette written from the profile's
fields (``sequencer.knowledge.vocabulary.vignette``, not the review's sentences), the three choices
(blinatumomab, CAR T cells, neither) and a lettered list of candidate deciding factors.
The factors are the conditions of rules, in words: those that fired for the patient
(the ones that back the published choice are the *deciding* factors; the others fired
but pull the other way or do not decide) and a few distractors from rules that did not
fire. The lists are shuffled by a fixed seed, so sheets and answer keys are stable.

After answering, the learner sees the published decision, the library's reasoning in
the case's regulatory context (as ``replay`` uses it), the what-if list and the score.

Scoring, per patient: ``CHOICE_POINTS`` for the published choice; one point for each
deciding factor picked, minus one for each other factor picked (never below zero).

Answers for ``--answers`` are JSON or YAML: ``{1: {choice: blinatumomab, factors: [a,
c]}, ...}``; a factor is its letter or a rule id.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from sequencer.api import default_rulebook, effective_profile
from sequencer.errors import AnswerFileError
from sequencer.explain.published import (
    PublishedCase,
    load_cases,
    replay,
)
from sequencer.explain.whatif import WhatIf, what_if
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import Favors, NotEligible
from sequencer.model.recommendation import Recommendation

__all__ = [
    "CHOICE_POINTS",
    "Answer",
    "Exercise",
    "Factor",
    "Marked",
    "answers_from_file",
    "exercises",
    "mark",
]

CHOICE_POINTS = 2
DISTRACTORS = 3
LearnerChoice = str
"""An option's id, or ``neither``."""
_NEITHER_ALIASES = {"n": "neither", "neither": "neither"}


@dataclass(frozen=True)
class Factor:
    """A candidate deciding factor: a rule's condition in words, under a letter."""

    key: str
    text: str
    rules: tuple[str, ...]
    fired: bool
    deciding: bool


@dataclass(frozen=True)
class Exercise:
    """One published patient as an exercise."""

    case: PublishedCase
    setting: str
    vignette: str
    factors: tuple[Factor, ...]
    recommendation: Recommendation
    today: Recommendation
    whatif: WhatIf
    rulebook: Rulebook

    @property
    def deciding(self) -> tuple[Factor, ...]:
        """The factors that back the published choice."""
        return tuple(f for f in self.factors if f.deciding)

    @property
    def max_points(self) -> int:
        """Full marks: the choice plus every deciding factor."""
        return CHOICE_POINTS + len(self.deciding)


class Answer(BaseModel):
    """A learner's answer for one patient (factors as letters)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    choice: LearnerChoice
    factors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Marked:
    """An answer marked against the published decision."""

    exercise: Exercise
    answer: Answer | None
    choice_correct: bool
    right: tuple[Factor, ...]
    wrong: tuple[Factor, ...]
    missed: tuple[Factor, ...]
    points: int

    @property
    def max_points(self) -> int:
        """Full marks for this exercise."""
        return self.exercise.max_points


# --- building the exercises ------------------------------------------------------


def _seeded(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def _factors(book: Rulebook, case: PublishedCase, rec: Recommendation) -> tuple[Factor, ...]:
    published = case.published_choice
    fired = list(dict.fromkeys(r.rule for r in rec.reasons))
    deciding = {
        r.rule
        for r in rec.reasons
        if (published == "neither" and r.effect == "not_eligible")
        or (
            published != "neither"
            and r.effect == "favors"
            and r.therapy == published
            and r.status == "counted"
        )
    }
    groups: dict[str, list[str]] = {}
    for rule_id in fired:
        groups.setdefault(book.vocabulary.condition_text(book.rule(rule_id)), []).append(rule_id)
    weighing = [
        rule
        for rule in book.active
        if rule.id not in fired
        and any(isinstance(e, Favors | NotEligible) for e in rule.then)
        and book.vocabulary.condition_text(rule) not in groups
    ]
    weighing.sort(key=lambda r: _seeded(f"distractor:{case.number}:{r.id}"))
    distractors: dict[str, list[str]] = {}
    for rule in weighing:
        if len(distractors) == DISTRACTORS:
            break
        distractors.setdefault(book.vocabulary.condition_text(rule), []).append(rule.id)
    entries = [(text, rules, True) for text, rules in groups.items()]
    entries += [(text, rules, False) for text, rules in distractors.items()]
    entries.sort(key=lambda e: _seeded(f"order:{case.number}:{e[0]}"))
    return tuple(
        Factor(
            key=chr(ord("a") + index),
            text=text,
            rules=tuple(rules),
            fired=was_fired,
            deciding=was_fired and any(r in deciding for r in rules),
        )
        for index, (text, rules, was_fired) in enumerate(entries)
    )


def exercises(
    cases: Sequence[PublishedCase] | None = None, rulebook: Rulebook | None = None
) -> list[Exercise]:
    """Return the published patients as exercises, each in its own regulatory context."""
    book = rulebook or default_rulebook()
    chosen = list(cases) if cases is not None else load_cases()
    out = []
    for played in replay(chosen, book):
        case = played.case
        effective, ctx, _ = effective_profile(case.profile, rulebook=book, context=case.context)
        out.append(
            Exercise(
                case=case,
                setting=ctx.title,
                vignette=book.vocabulary.vignette(effective, ctx.title),
                factors=_factors(book, case, played.recommendation),
                recommendation=played.recommendation,
                today=played.today,
                whatif=what_if(
                    case.profile, rulebook=book, context=case.context, base=played.recommendation
                ),
                rulebook=book,
            )
        )
    return out


# --- answers and marking -----------------------------------------------------------


def _normal(token: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", token.strip().lower()).strip("_")


def parse_choice(text: str, book: Rulebook) -> LearnerChoice | None:
    """Return the choice a learner typed (``b``, ``car-t``, ``Neither``...), or None."""
    aliases = {_normal(a): o.id for o in book.options for a in (o.id, *o.aliases)}
    return {**aliases, **_NEITHER_ALIASES}.get(_normal(text))


def parse_factors(exercise: Exercise, items: Sequence[str]) -> tuple[str, ...]:
    """Return factor letters from letters or rule ids. Raises ``ValueError`` on others."""
    letters = {f.key for f in exercise.factors}
    by_rule = {rule: f.key for f in exercise.factors for rule in f.rules}
    out: list[str] = []
    for item in items:
        token = str(item).strip()
        key = token.lower() if token.lower() in letters else by_rule.get(token)
        if key is None:
            known = ", ".join(sorted(letters))
            raise ValueError(f"unknown factor {token!r} (use the letters {known} or rule ids)")
        if key not in out:
            out.append(key)
    return tuple(sorted(out))


def answers_from_file(path: Path, sheets: Sequence[Exercise]) -> dict[int, Answer]:
    """Read answers (JSON or YAML) for ``sheets``. Raises ``AnswerFileError`` naming the fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AnswerFileError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise AnswerFileError(f"{path}: not UTF-8 text") from None
    if len(text) > 1_000_000:
        raise AnswerFileError(f"{path}: larger than 1 MB; not an answer file")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise AnswerFileError(f"{path}: not valid JSON or YAML ({error})") from None
    except (RecursionError, ValueError) as error:  # nested too deep, a huge number
        raise AnswerFileError(
            f"{path}: not an answer file ({type(error).__name__}: {str(error)[:80]})"
        ) from None
    if not isinstance(data, Mapping):
        raise AnswerFileError(f"{path}: expected a mapping of patient number -> answer")
    by_number = {ex.case.number: ex for ex in sheets}
    out: dict[int, Answer] = {}
    for raw_key, raw in data.items():
        try:
            number = int(raw_key)
        except (TypeError, ValueError):
            raise AnswerFileError(f"{path}: {raw_key!r} is not a patient number") from None
        if number not in by_number:
            known = ", ".join(str(n) for n in sorted(by_number))
            raise AnswerFileError(f"{path}: no patient {number} (patients: {known})")
        where = f"{path}: patient {number}"
        if not isinstance(raw, Mapping):
            raise AnswerFileError(f"{where}: expected {{choice, factors}}")
        extra = set(raw) - {"choice", "factors"}
        if extra:
            raise AnswerFileError(f"{where}: unknown keys {sorted(str(k) for k in extra)}")
        book = by_number[number].rulebook
        choice = parse_choice(str(raw.get("choice", "")), book)
        if choice is None:
            ids = [*book.option_ids, "neither"]
            wanted = ", ".join(ids[:-1]) + f" or {ids[-1]}"
            raise AnswerFileError(f"{where}: choice must be {wanted}; got {raw.get('choice')!r}")
        factors = raw.get("factors") or []
        if not isinstance(factors, list):
            raise AnswerFileError(f"{where}: factors must be a list")
        try:
            keys = parse_factors(by_number[number], [str(f) for f in factors])
            out[number] = Answer(choice=choice, factors=keys)
        except (ValueError, ValidationError) as error:
            raise AnswerFileError(f"{where}: {error}") from None
    return out


def mark(exercise: Exercise, answer: Answer | None) -> Marked:
    """Mark one answer (None: not answered, no points)."""
    if answer is None:
        return Marked(exercise, None, False, (), (), exercise.deciding, 0)
    picked = [f for f in exercise.factors if f.key in answer.factors]
    right = tuple(f for f in picked if f.deciding)
    wrong = tuple(f for f in picked if not f.deciding)
    missed = tuple(f for f in exercise.deciding if f not in right)
    correct = answer.choice == exercise.case.published_choice
    points = (CHOICE_POINTS if correct else 0) + max(0, len(right) - len(wrong))
    return Marked(exercise, answer, correct, right, wrong, missed, points)


# --- views ---------------------------------------------------------------------------


# --- on a terminal -------------------------------------------------------------------
