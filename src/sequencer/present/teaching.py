"""The teaching round's printable pages: an exercise sheet per case (no answers) and the
teacher's answer key, in Markdown; the same sheet and key as plain JSON-able values
(``sheet_view``, ``key_view``) that the HTML sheets (``present.teaching_html``) and the
classroom render; and writing them all to a directory.

The words are those of ``present.teaching_words``; the feedback on answers is
``present.teaching_feedback`` (``feedback_parts`` is importable from here too) and the
terminal round ``present.teaching_prompt``. Everything a case file supplies (keys,
summaries) is escaped for Markdown; the HTML templates escape everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sequencer.explain.deciding import NEITHER, NOT_YET
from sequencer.explain.teach import CHOICE_POINTS, Exercise
from sequencer.knowledge.rulebook import Rulebook
from sequencer.present.phrases import summary_words
from sequencer.present.teaching_feedback import feedback_parts
from sequencer.present.teaching_words import (
    answer_name,
    case_source,
    case_title,
    curious_line,
    decision_heading,
    discussion_words,
    hindsight_words,
    letters,
    md,
    not_yet_lines,
    role_words,
    statement_words,
    whatif_lines,
)

__all__ = [
    "DISCUSSION",
    "INSTRUCTIONS",
    "KEY_INTRO",
    "SCORING",
    "answer_key",
    "choices",
    "exercise_sheet",
    "feedback_parts",  # documented here in the README; made in present.teaching_feedback
    "key_view",
    "sheet_name",
    "sheet_view",
    "write_sheets",
]

_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _count(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def sheet_name(ex: Exercise, suffix: str = "md") -> str:
    """The file name of an exercise's sheet: ``patient-4.md``, ``case-7-<key>.html``."""
    if ex.case.source == "published":
        return f"{ex.case.key}.{suffix}"
    return f"case-{ex.case.number}-{ex.case.key}.{suffix}"


def choices(book: Rulebook) -> list[str]:
    """The choices a sheet offers, in words."""
    return [
        *(o.name for o in book.options),
        answer_name(NEITHER, book),
        "Not yet: first establish (name the fact) ____________________",
    ]


SCORING = (
    f"Scoring: {CHOICE_POINTS} points for the right choice; one point per statement that "
    "decided it ticked under 'decided', minus one per other statement ticked there; one "
    "point per argument rightly named under 'set aside', minus one per other named there "
    "(neither part below zero). Every statement is true of the patient: ticking them all "
    "never earns full marks."
)
INSTRUCTIONS = (
    "Every statement is true of this patient. Tick 'decided' for those the choice turns "
    "on, and 'set aside' for arguments that would count but that a fact of the patient "
    "defeats. Leave the others: true, but the choice does not turn on them."
)
DISCUSSION = (
    "The rules do not settle this case on their own. Which option would you choose, and "
    "which of these true statements would you weigh most? What would you want to know?"
)


def exercise_sheet(ex: Exercise, total: int = 5) -> str:
    """Return a printable Markdown exercise sheet for one case (no answers)."""
    book = ex.rulebook
    question = ", ".join(o.in_sentence for o in book.options) + ", or neither?"
    heading = (
        f"# Exercise {ex.case.number} of {total}: {question}"
        if ex.kind == "quiz"
        else f"# Discussion case {ex.case.number} of {total}"
    )
    out = [
        heading,
        "",
        f"_Setting: {md(ex.setting)}. {md(case_source(ex))}; the vignette is written from "
        "the patient's profile._",
        "",
        "## The patient",
        "",
        md(ex.vignette),
        "",
        "## Your choice",
        "",
        *(f"- [ ] {md(c)}" for c in choices(book)),
        "",
    ]
    all_choices = " | ".join([*book.option_ids, NEITHER, NOT_YET])
    if ex.kind == "quiz":
        out += ["## Which of these decided it, and which were set aside?", "", INSTRUCTIONS, ""]
        out += [f"- [ ] decided [ ] set aside: **{f.key}.** {md(f.text)}" for f in ex.factors]
        out += [
            "",
            f"_{SCORING}_",
            "",
            "_To have it marked: `sequencer teach --answers answers.yaml`, one line per "
            f"case: `{ex.case.number}: {{choice: {all_choices}, "
            "factors: [letters], set_aside: [letters]}`._",
            "",
        ]
    else:
        out += ["## For discussion", "", DISCUSSION, ""]
        out += [f"- **{f.key}.** {md(f.text)}" for f in ex.factors]
        out.append("")
    return "\n".join(out)


def answer_key(sheets: Sequence[Exercise]) -> str:
    """Return the answer key for the exercise sheets (Markdown)."""
    out = [
        f"# Answer key: {_count(len(sheets))} cases",
        "",
        f"_{md(KEY_INTRO)}_",
        "",
    ]
    for ex in sheets:
        book = ex.rulebook
        out += [f"## {md(case_title(ex))}", ""]
        if ex.kind == "discussion":
            out += [f"**A case for discussion:** {md(discussion_words(ex))}", ""]
        else:
            out += [
                f"**Answer:** {md(answer_name(ex.answer, book))}. **Decided it:** "
                f"{letters(ex.deciding)}. **Set aside:** {letters(ex.set_aside)}. Full marks: "
                f"{ex.max_points} points.",
                "",
            ]
        if ex.answer == NOT_YET and ex.kind == "quiz":
            out += ["**Before choosing:**", ""] + [f"- {md(x)}" for x in not_yet_lines(ex)] + [""]
        for f in ex.factors:
            out.append(
                f"- **{f.key}.** {md(f.text)}: _{role_words(f)}._ {md(statement_words(ex, f))}"
            )
        out.append("")
        case = ex.case
        if case.published_choice is not None:
            out += [
                f"**{decision_heading(ex)}:** {md(answer_name(case.published_choice, book))}. "
                f"{md(case.published_rationale)}",
                "",
            ]
        hindsight = hindsight_words(ex)
        if hindsight:
            out += [f"**In hindsight:** {md(hindsight)}", ""]
        rec = ex.recommendation
        out += [f"**The rules** ({md(rec.context.title)}): {md(summary_words(rec.summary))}", ""]
        out += ["**What would change it:**", ""]
        out += [f"- {md(line)}" for line in whatif_lines(ex.whatif)] + [""]
        if case.source == "published" and ex.today.context.name != rec.context.name:
            out += [
                f"**Today** ({md(ex.today.context.title)}): {md(summary_words(ex.today.summary))}",
                "",
            ]
        out += [f"_{md(curious_line(ex))}_", ""]
    return "\n".join(out)


KEY_INTRO = (
    "For the teacher. Each case in its regulatory context. A statement decides the choice "
    "when, with the rule base's own weighing, taking it away (alone or once some of its "
    "companions are gone) changes the choice."
)


def sheet_view(ex: Exercise, total: int = 5) -> dict[str, Any]:
    """Return what a student's sheet shows, as plain JSON-able values (no answers): the
    HTML sheet renders it, and a web page can too."""
    book = ex.rulebook
    question = ", ".join(o.in_sentence for o in book.options) + ", or neither?"
    return {
        "number": ex.case.number,
        "key": ex.case.key,
        "title": (
            f"Exercise {ex.case.number} of {total}: {question}"
            if ex.kind == "quiz"
            else f"Discussion case {ex.case.number} of {total}"
        ),
        "setting": ex.setting,
        "source": case_source(ex),
        "vignette": ex.vignette,
        "choices": choices(book),
        "quiz": ex.kind == "quiz",
        "instructions": INSTRUCTIONS,
        "scoring": SCORING,
        "discussion": DISCUSSION,
        "statements": [{"key": f.key, "text": f.text} for f in ex.factors],
    }


def key_view(ex: Exercise) -> dict[str, Any]:
    """Return the teacher's key for one case as plain JSON-able values: the answer, each
    statement's role and words, the published decision, hindsight, the rules' summary."""
    book, case, rec = ex.rulebook, ex.case, ex.recommendation
    today = case.source == "published" and ex.today.context.name != rec.context.name
    return {
        "number": case.number,
        "key": case.key,
        "title": case_title(ex),
        "quiz": ex.kind == "quiz",
        "answer": answer_name(ex.answer, book),
        "deciding": letters(ex.deciding),
        "set_aside": letters(ex.set_aside),
        "max_points": ex.max_points,
        "discussion": discussion_words(ex) if ex.kind == "discussion" else "",
        "before": not_yet_lines(ex) if ex.answer == NOT_YET and ex.kind == "quiz" else [],
        "statements": [
            {"key": f.key, "text": f.text, "role": role_words(f), "words": statement_words(ex, f)}
            for f in ex.factors
        ],
        "published": (
            f"{answer_name(case.published_choice, book)}. {case.published_rationale}".strip()
            if case.published_choice is not None
            else ""
        ),
        "hindsight": hindsight_words(ex) or "",
        "context": rec.context.title,
        "summary": summary_words(rec.summary),
        "decision_heading": decision_heading(ex),
        "whatif": whatif_lines(ex.whatif),
        "today": summary_words(ex.today.summary) if today else "",
        "today_context": ex.today.context.title,
        "curious": curious_line(ex),
    }


def write_sheets(sheets: Sequence[Exercise], directory: Path, html: bool = True) -> list[Path]:
    """Write one sheet per case and the answer key into ``directory`` (Markdown, and
    HTML unless ``html`` is false); return the paths written. Raises ``OSError``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for ex in sheets:
        path = directory / sheet_name(ex)
        path.write_text(exercise_sheet(ex, len(sheets)), encoding="utf-8")
        written.append(path)
    key = directory / "answer-key.md"
    key.write_text(answer_key(sheets), encoding="utf-8")
    written.append(key)
    if html:
        from sequencer.present.teaching_html import html_answer_key, html_sheet

        for ex in sheets:
            path = directory / sheet_name(ex, "html")
            path.write_text(html_sheet(ex, len(sheets)), encoding="utf-8")
            written.append(path)
        key = directory / "answer-key.html"
        key.write_text(html_answer_key(sheets), encoding="utf-8")
        written.append(key)
    return written
