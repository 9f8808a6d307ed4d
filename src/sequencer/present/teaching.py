"""The teaching round's faces: exercise sheets, the answer key, feedback in text or
Markdown, and the interactive prompt."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sequencer.explain.published import (
    choice_name,
    library_choice,
)
from sequencer.explain.teach import (
    CHOICE_POINTS,
    Answer,
    Exercise,
    Factor,
    Marked,
    mark,
    parse_choice,
    parse_factors,
)
from sequencer.explain.whatif import WhatIf
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.recommendation import Recommendation

__all__ = ["answer_key", "exercise_sheet", "feedback", "interactive", "write_sheets"]


def _count(n: int) -> str:
    """``five`` for 5 (numbers above ten as digits)."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


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
