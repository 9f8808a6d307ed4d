"""The printable teaching sheets and answer key as self-contained HTML pages.

Rendered with Jinja2 from ``present/templates/teaching/`` (autoescaping on, undefined
names an error): inline CSS, no scripts, nothing fetched, every piece of text escaped.
The words are those of ``present.teaching`` (its sheet and key views).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sequencer.explain.teach import Exercise
from sequencer.present.teaching import KEY_INTRO, key_view, sheet_view
from sequencer.present.templating import teaching_environment

__all__ = ["html_answer_key", "html_sheet", "render_teaching_page"]


def _render(template: str, **values: Any) -> str:
    """The page; its style sheet (``teaching.css``) is included by the base template."""
    return teaching_environment().get_template(template).render(**values)


def html_sheet(ex: Exercise, total: int = 5) -> str:
    """Return one exercise sheet (no answers) as a self-contained HTML page."""
    return _render("sheet.html.j2", **sheet_view(ex, total))


def html_answer_key(sheets: Sequence[Exercise]) -> str:
    """Return the answer key for ``sheets`` as a self-contained HTML page."""
    return _render(
        "key.html.j2",
        title=f"Answer key: {len(sheets)} cases",
        intro=KEY_INTRO,
        cases=[key_view(ex) for ex in sheets],
    )


def render_teaching_page(template: str, **values: Any) -> str:
    """Return the page ``template`` (under ``present/templates/teaching/``) renders from
    ``values``: autoescaped, undefined names an error (the classroom's pages use it)."""
    return _render(template, **values)
