"""The printable teaching sheets and answer key as self-contained HTML pages.

Rendered with Jinja2 from ``present/templates/teaching/`` (autoescaping on, undefined
names an error): inline CSS, no scripts, nothing fetched, every piece of text escaped.
The words are those of ``present.teaching``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from sequencer.explain.deciding import NOT_YET
from sequencer.explain.teach import Exercise
from sequencer.present.teaching import (
    DISCUSSION,
    INSTRUCTIONS,
    SCORING,
    answer_name,
    case_source,
    case_title,
    choices,
    curious_line,
    discussion_words,
    hindsight_words,
    letters,
    not_yet_lines,
    role_words,
    statement_words,
    whatif_lines,
)

__all__ = ["html_answer_key", "html_sheet"]


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("sequencer.present", "templates/teaching"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )


def _render(template: str, **values: Any) -> str:
    """The page; its style sheet (``teaching.css``) is included by the base template."""
    return _environment().get_template(template).render(**values)


def html_sheet(ex: Exercise, total: int = 5) -> str:
    """Return one exercise sheet (no answers) as a self-contained HTML page."""
    book = ex.rulebook
    question = ", ".join(o.in_sentence for o in book.options) + ", or neither?"
    title = (
        f"Exercise {ex.case.number} of {total}: {question}"
        if ex.kind == "quiz"
        else f"Discussion case {ex.case.number} of {total}"
    )
    return _render(
        "sheet.html.j2",
        title=title,
        setting=ex.setting,
        source=case_source(ex),
        vignette=ex.vignette,
        choices=choices(book),
        quiz=ex.kind == "quiz",
        instructions=INSTRUCTIONS,
        scoring=SCORING,
        discussion=DISCUSSION,
        statements=[{"key": f.key, "text": f.text} for f in ex.factors],
    )


def _entry(ex: Exercise) -> dict[str, Any]:
    book, case, rec = ex.rulebook, ex.case, ex.recommendation
    today = case.source == "published" and ex.today.context.name != rec.context.name
    return {
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
        "summary": rec.summary,
        "whatif": whatif_lines(ex.whatif),
        "today": ex.today.summary if today else "",
        "today_context": ex.today.context.title,
        "curious": curious_line(ex),
    }


def html_answer_key(sheets: Sequence[Exercise]) -> str:
    """Return the answer key for ``sheets`` as a self-contained HTML page."""
    return _render(
        "key.html.j2",
        title=f"Answer key: {len(sheets)} cases",
        intro=(
            "For the teacher. Each case in its regulatory context. A statement decides the "
            "choice when, with the rule base's own weighing, taking it away (alone or once "
            "some of its companions are gone) changes the choice."
        ),
        cases=[_entry(ex) for ex in sheets],
    )
