"""Feedback on a learner's marked answers: paragraph by paragraph (``feedback_parts``,
which the classroom's page renders too), and as text or Markdown with the total score.

Everything a case file supplies is escaped for Markdown.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from sequencer.explain.deciding import NOT_YET
from sequencer.explain.teach import Marked
from sequencer.present.phrases import summary_words
from sequencer.present.teaching_words import (
    answer_name,
    case_title,
    curious_line,
    decision_heading,
    discussion_words,
    hindsight_words,
    letters,
    md,
    not_yet_lines,
    statement_words,
    whatif_lines,
)

__all__ = ["Part", "feedback", "feedback_parts"]


@dataclass(frozen=True)
class Part:
    """One paragraph of feedback: a heading (may be empty), its text and bullet lines."""

    heading: str
    text: str
    items: tuple[str, ...] = ()


def feedback_parts(m: Marked) -> list[Part]:
    """Return the feedback for one marked answer, paragraph by paragraph (plain text)."""
    ex, case, book = m.exercise, m.exercise.case, m.exercise.rulebook
    parts: list[Part] = []
    if ex.kind == "discussion":
        parts.append(Part("A case for discussion", discussion_words(ex)))
        if m.answer is not None:
            parts.append(
                Part("Your view", f"{answer_name(m.answer.choice, book)}: not marked, discuss it.")
            )
    elif m.answer is None:
        parts.append(Part("Your answer", f"None given (0 of {m.max_points} points)."))
    else:
        right = answer_name(ex.answer, book)
        verdict = (
            "right."
            if m.choice_correct
            else f"not the {'published ' if case.published_choice else ''}choice, which is "
            f"{right.lower()}."
        )
        parts.append(
            Part(
                "Your answer",
                f"{answer_name(m.answer.choice, book)}: {verdict} {m.points} of {m.max_points} "
                "points.",
            )
        )
        parts.append(
            Part(
                "What decided it",
                f"Deciding: {letters(ex.deciding)}. You named {letters(m.right)} and missed "
                f"{letters(m.missed)}; you ticked {letters(m.wrong)} that did not decide it"
                + (f" (and {letters(m.spared)}, not counted against you)" if m.spared else "")
                + ".",
            )
        )
        if ex.set_aside or m.aside_wrong:
            parts.append(
                Part(
                    "What was set aside",
                    f"Set aside: {letters(ex.set_aside)}. You recognised {letters(m.aside_right)}, "
                    f"missed {letters(m.aside_missed)} and named {letters(m.aside_wrong)} that "
                    "were not set aside.",
                )
            )
    if ex.answer == NOT_YET and ex.kind == "quiz":
        parts.append(Part("Before choosing", "", tuple(not_yet_lines(ex))))
    parts.append(
        Part(
            "Each statement",
            "",
            tuple(f"{f.key}. {f.text}: {statement_words(ex, f)}" for f in ex.factors),
        )
    )
    if case.published_choice is not None:
        parts.append(
            Part(
                decision_heading(ex),
                f"{answer_name(case.published_choice, book)}. {case.published_rationale}".strip(),
            )
        )
    hindsight = hindsight_words(ex)
    if hindsight:
        parts.append(Part("In hindsight", hindsight))
    rec = ex.recommendation
    parts.append(Part(f"The rules ({rec.context.title})", summary_words(rec.summary)))
    parts.append(Part("What would change it", "", tuple(whatif_lines(ex.whatif))))
    if case.source == "published" and ex.today.context.name != rec.context.name:
        parts.append(Part(f"Today ({ex.today.context.title})", summary_words(ex.today.summary)))
    parts.append(Part("", curious_line(ex)))
    return parts


def _render(parts: Sequence[Part], markdown: bool) -> list[str]:
    out: list[str] = []
    for part in parts:
        if markdown:
            head = f"**{md(part.heading)}:** " if part.heading else ""
            line = (head + md(part.text)).strip()
            if part.heading == "" and part.text.startswith("For the curious"):
                line = f"_{md(part.text)}_"
            if line:
                out += [line, ""]
            if part.items:
                out += [f"- {md(i)}" for i in part.items] + [""]
        else:
            head = f"{part.heading}: " if part.heading else ""
            if (head + part.text).strip():
                out.append(textwrap.fill(head + part.text, 88, break_on_hyphens=False))
            out += [
                textwrap.fill(
                    i, 88, initial_indent="  - ", subsequent_indent="    ", break_on_hyphens=False
                )
                for i in part.items
            ]
            out.append("")
    return out


def feedback(marked: Sequence[Marked], fmt: str = "text", vignettes: bool = True) -> str:
    """Return the feedback for marked answers and the total score (text or Markdown)."""
    markdown = fmt == "markdown"
    out = ["# Teaching round: feedback", ""] if markdown else []
    for m in marked:
        ex = m.exercise
        title = case_title(ex)
        out += [f"## {md(title)}", ""] if markdown else [title, "=" * len(title)]
        if vignettes:
            out += [f"_{md(ex.vignette)}_" if markdown else textwrap.fill(ex.vignette, 88), ""]
        out += _render(feedback_parts(m), markdown)
    total = sum(m.points for m in marked)
    best = sum(m.max_points for m in marked)
    share = f" ({100 * total / best:.0f}%)" if best else ""
    out.append(f"{'**Score:**' if markdown else 'Score:'} {total} of {best} points{share}.")
    return "\n".join(out) + "\n"
