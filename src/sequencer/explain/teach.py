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
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from sequencer.api import default_rulebook, effective_profile
from sequencer.errors import AnswerFileError
from sequencer.explain.published import (
    PublishedCase,
    choice_name,
    library_choice,
    load_cases,
    replay,
)
from sequencer.explain.whatif import WhatIf, what_if
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import Favors, NotEligible
from sequencer.knowledge.vocabulary import condition_text, vignette
from sequencer.model.recommendation import Recommendation

__all__ = [
    "CHOICE_POINTS",
    "Answer",
    "Exercise",
    "Factor",
    "Marked",
    "answer_key",
    "answers_from_file",
    "exercise_sheet",
    "exercises",
    "feedback",
    "interactive",
    "mark",
    "write_sheets",
]

CHOICE_POINTS = 2
DISTRACTORS = 3
LearnerChoice = str
"""An option's id, or ``neither``."""
_NEITHER_ALIASES = {"n": "neither", "neither": "neither"}
_NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
]


def _count(n: int) -> str:
    """``five`` for 5 (numbers above ten as digits)."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


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
        groups.setdefault(condition_text(book.rule(rule_id)), []).append(rule_id)
    weighing = [
        rule
        for rule in book.active
        if rule.id not in fired
        and any(isinstance(e, Favors | NotEligible) for e in rule.then)
        and condition_text(rule) not in groups
    ]
    weighing.sort(key=lambda r: _seeded(f"distractor:{case.number}:{r.id}"))
    distractors: dict[str, list[str]] = {}
    for rule in weighing:
        if len(distractors) == DISTRACTORS:
            break
        distractors.setdefault(condition_text(rule), []).append(rule.id)
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
                vignette=vignette(effective, ctx.title),
                factors=_factors(book, case, played.recommendation),
                recommendation=played.recommendation,
                today=played.today,
                whatif=what_if(case.profile, rulebook=book, context=case.context),
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


def _prompt(book: Rulebook) -> str:
    """``Your choice: [b]linatumomab, [c]AR T cells or [n]either? ``: each option's
    one-letter alias as its key."""
    keys = []
    for o in book.options:
        letter = next((a for a in o.aliases if len(a) == 1), None)
        if letter is not None and o.in_sentence[:1].lower() == letter:
            keys.append(f"[{letter}]{o.in_sentence[1:]}")
        else:
            keys.append(o.in_sentence + (f" [{letter}]" if letter else ""))
    return f"Your choice: {', '.join(keys)} or [n]either? "


def _choices_text(book: Rulebook, joiner: str) -> str:
    """``blinatumomab, car_t or neither`` (``joiner`` between the option ids)."""
    return joiner.join([*book.option_ids, "neither"])


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


def _keys(factors: Sequence[Factor]) -> str:
    return ", ".join(f.key for f in factors) or "none"


def _reasons(rec: Recommendation) -> list[str]:
    names = {o.therapy: o.name for o in rec.options}
    out = []
    for reason in rec.reasons:
        what = (
            f"{names[reason.therapy]} +{reason.weight}"
            if reason.effect == "favors"
            else f"{names[reason.therapy]} not eligible"
        )
        out.append(f"{reason.title} ({reason.rule}; {what})")
    return out


def _whatif_lines(w: WhatIf, flips: int = 5, scores: int = 2) -> list[str]:
    found = w.flips()
    others = [c for c in w.changes if c.kind == "changes_scores"][:scores]
    lines = [c.text for c in [*found[:flips], *others]]
    if len(found) > flips:
        lines.append(
            f"... and {len(found) - flips} more single changes that would flip it "
            "(`sequencer whatif` lists them all)."
        )
    return lines or ["No single change of fact would change the decision."]


def _marked_lines(m: Marked, md: bool) -> list[str]:
    ex, case = m.exercise, m.exercise.case
    bold = (lambda s: f"**{s}**") if md else (lambda s: s)
    bullet = "- " if md else "  - "
    out = []
    if m.answer is None:
        out.append(f"{bold('Your answer:')} none given (0 of {m.max_points} points).")
    else:
        verdict = "right" if m.choice_correct else "not the published choice"
        out.append(
            f"{bold('Your answer:')} {choice_name(m.answer.choice, ex.rulebook)} ({verdict}); "
            "factors "
            f"{_keys([f for f in ex.factors if f.key in m.answer.factors])}. "
            f"{m.points} of {m.max_points} points."
        )
        out.append(
            f"{bold('Factors:')} deciding {_keys(ex.deciding)}; you found {_keys(m.right)}, "
            f"missed {_keys(m.missed)}, and picked {_keys(m.wrong)} that did not decide it."
        )
    out.append(
        f"{bold('Published decision:')} {choice_name(case.published_choice, ex.rulebook)}. "
        f"{case.published_rationale}"
    )
    rec = ex.recommendation
    agrees = library_choice(rec) == case.published_choice
    out.append(
        f"{bold('The library')} (context {rec.context.name}): {rec.summary}"
        + ("" if agrees else " (this differs from the published choice)")
    )
    out += [bullet + line for line in _reasons(rec)]
    out.append(bold("What would change it:"))
    out += [bullet + line for line in _whatif_lines(ex.whatif)]
    out.append(f"{bold('Today')} (context {ex.today.context.name}): {ex.today.summary}")
    return out


def feedback(marked: Sequence[Marked], fmt: str = "text", vignettes: bool = True) -> str:
    """Return the feedback for marked answers and the total score (text or Markdown)."""
    md = fmt == "markdown"
    review = marked[0].exercise.rulebook.review.short if marked else "the review"
    out = [f"# Teaching round: the published patients of {review}", ""] if md else []
    for m in marked:
        ex = m.exercise
        title = f"Patient {ex.case.number}"
        out += [f"## {title}", ""] if md else [title, "=" * len(title)]
        if vignettes:
            out += [f"_{ex.vignette}_" if md else textwrap.fill(ex.vignette, 88), ""]
        lines = _marked_lines(m, md)
        for index, line in enumerate(lines):
            bullet = line.startswith(("- ", "  -"))
            if md:  # paragraphs and lists need blank lines between them in Markdown
                after_bullet = index > 0 and lines[index - 1].startswith("- ")
                if index and not (bullet and after_bullet):
                    out.append("")
                out.append(line)
            else:
                out.append(line if bullet else textwrap.fill(line, 88))
        out.append("")
    total = sum(m.points for m in marked)
    best = sum(m.max_points for m in marked)
    share = f" ({100 * total / best:.0f}%)" if best else ""
    out.append(f"{'**Score:**' if md else 'Score:'} {total} of {best} points{share}.")
    return "\n".join(out) + "\n"


def exercise_sheet(ex: Exercise, total: int = 5) -> str:
    """Return a printable Markdown exercise sheet for one patient (no answers)."""
    book = ex.rulebook
    question = ", ".join(o.in_sentence for o in book.options) + ", or neither?"
    out = [
        f"# Exercise {ex.case.number} of {total}: {question}",
        "",
        f"_Setting: {ex.setting}. One of the {_count(total)} patients of {book.review.short}; "
        "the vignette is written from the patient's profile._",
        "",
        "## The patient",
        "",
        ex.vignette,
        "",
        "## Your choice",
        "",
        *(f"- [ ] {o.name}" for o in book.options),
        f"- [ ] {choice_name('neither', book)}",
        "",
        "## Which of these decide it? Tick every deciding factor",
        "",
        "A factor may be true of this patient and still not decide the choice; some are not "
        "true of this patient at all.",
        "",
    ]
    out += [f"- [ ] **{f.key}.** {f.text}" for f in ex.factors]
    out += [
        "",
        f"_Scoring: {CHOICE_POINTS} points for the published choice; one point per deciding "
        "factor ticked, minus one per other factor ticked (never below zero)._",
        "",
        "_To have it marked: `sequencer teach --answers answers.yaml`, with one line per "
        f"patient: `{ex.case.number}: {{choice: {_choices_text(book, ' | ')}, "
        "factors: [letters]}`._",
        "",
    ]
    return "\n".join(out)


def answer_key(sheets: Sequence[Exercise]) -> str:
    """Return the answer key for the exercise sheets (Markdown)."""
    review = sheets[0].rulebook.review.short if sheets else "the review"
    out = [
        f"# Answer key: the {_count(len(sheets))} patients of {review}",
        "",
        "_For the teacher. Generated by `sequencer teach --output DIR`; each patient in the "
        "review's regulatory context, with today's answer for comparison._",
        "",
    ]
    for ex in sheets:
        case = ex.case
        out += [
            f"## Patient {case.number}",
            "",
            f"**Published choice:** {choice_name(case.published_choice, ex.rulebook)}. "
            f"{case.published_rationale}",
            "",
            f"**Deciding factors:** {_keys(ex.deciding)}.",
            "",
        ]
        for f in ex.factors:
            role = (
                "deciding"
                if f.deciding
                else "fired, not deciding"
                if f.fired
                else "distractor (did not fire)"
            )
            rules = ", ".join(f"`{r}`" for r in f.rules)
            out.append(f"- **{f.key}.** {f.text}: {role} ({rules})")
        rec = ex.recommendation
        out += ["", f"**The library** (context `{rec.context.name}`): {rec.summary}", ""]
        out += [f"- {line}" for line in _reasons(rec)]
        out += ["", "**What would change it:**", ""]
        out += [f"- {line}" for line in _whatif_lines(ex.whatif)]
        out += [
            "",
            f"**Today** (context `{ex.today.context.name}`): {ex.today.summary}",
            "",
            f"Full marks: {ex.max_points} points.",
            "",
        ]
    return "\n".join(out)


def write_sheets(sheets: Sequence[Exercise], directory: Path) -> list[Path]:
    """Write one exercise sheet per patient and the answer key into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for ex in sheets:
        path = directory / f"patient-{ex.case.number}.md"
        path.write_text(exercise_sheet(ex, len(sheets)), encoding="utf-8")
        written.append(path)
    key = directory / "answer-key.md"
    key.write_text(answer_key(sheets), encoding="utf-8")
    written.append(key)
    return written


# --- on a terminal -------------------------------------------------------------------


def interactive(
    sheets: Sequence[Exercise],
    fmt: str = "text",
    ask: Callable[[str], str] = input,
    say: Callable[[str], Any] = print,
) -> list[Marked]:
    """Ask the learner on a terminal, patient by patient; return the marked answers.

    Stops early (marking what was answered) at end of input or Ctrl-C.
    """
    marked: list[Marked] = []
    try:
        for ex in sheets:
            say(f"\nPatient {ex.case.number} of {len(sheets)}  ({ex.setting})\n")
            say(textwrap.fill(ex.vignette, 88) + "\n")
            choice = None
            while choice is None:
                choice = parse_choice(ask(_prompt(ex.rulebook)), ex.rulebook)
            say("\nWhich factors decide it? (letters, separated by spaces or commas)")
            for f in ex.factors:
                say(textwrap.fill(f"  {f.key}. {f.text}", 88, subsequent_indent="     "))
            factors: tuple[str, ...] | None = None
            while factors is None:
                typed = [t for t in re.split(r"[\s,;]+", ask("Factors: ")) if t]
                try:
                    factors = parse_factors(ex, typed)
                except ValueError as error:
                    say(str(error))
            result = mark(ex, Answer(choice=choice, factors=factors))
            marked.append(result)
            say("")
            say(feedback([result], fmt, vignettes=False))
    except (EOFError, KeyboardInterrupt):
        say("\nStopped.")
    if marked:
        total = sum(m.points for m in marked)
        best = sum(m.max_points for m in marked)
        say(f"Total: {total} of {best} points over {len(marked)} patient(s).")
    return marked
