"""The tumor board's case page at ``/``, and the board's decisions.

``add_page_routes(app, book, audit)`` adds:

* ``GET /``: the page. A form generated from the profile's field catalogue and JSON
  Schema ranges (``model.fields``), each field by its label and each value by its words
  from the rule base's vocabulary, "not known" a real choice; a box to paste JSON; a list
  of the published patients and literature cases to load. Plain HTML with one small
  script (``GET /page.js``) and the report's style sheet inline: nothing is fetched from
  anywhere else, so it works without a network.
* ``GET /page/cases/{key}``: a packaged case's profile and context (JSON).
* ``POST /page/evaluate`` (``?context=``, ``?hide_id=``): the case as an HTML fragment
  rendered from the report's templates, its what-if changes as buttons (facts the board
  can establish apart from facts that cannot change), and the form to record the
  decision; 422 with every problem and its field when the profile is invalid.
* ``POST /page/report`` (``?context=``, ``?hide_id=``, ``?paper=``): the printable case
  report of the profile in the body.
* the board's decisions (``POST /decisions``, ``GET /decisions``, ``GET
  /decisions/{id}/report``), from ``service.decisions``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup

from sequencer.errors import Problem, ProfileError, UnknownContextError
from sequencer.explain.impact import read_literature_cases
from sequencer.explain.published import load_cases
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.fields import FIELDS, number_ranges
from sequencer.present.report import (
    ABOUT_WHAT,
    case_report,
    html_report,
    report_css,
    report_view,
)
from sequencer.present.teaching_words import short_source
from sequencer.present.templating import render
from sequencer.service.audit import AuditLog
from sequencer.service.common import (
    MAX_BODY,
    Served,
    problems_response,
    read_body,
    truthy,
    unknown_context_response,
)
from sequencer.service.decisions import add_decision_routes
from sequencer.service.openapi import answers

__all__ = ["FormField", "FormSection", "add_page_routes", "form_sections"]

_STATIC = resources.files("sequencer.service") / "static"
_PAGE_CSS = report_css() + "\n" + (_STATIC / "page.css").read_text(encoding="utf-8")
_SCRIPT = (_STATIC / "page.js").read_text(encoding="utf-8")
_SECTION_TITLES = {
    "": "The patient",
    "disease": "The disease",
    "transplant": "Transplant",
    "prior_therapy": "Earlier therapy",
    "access": "Access",
    "immune": "Immune state",
}
"""Headings of the form's parts, by the profile's section (plain words, no clinical
content)."""


@dataclass(frozen=True)
class FormField:
    """One form control: ``key`` is the field's path with ``/`` (what the script
    writes), ``dom`` the element id's stem; ``choices`` are (value, words), the unknown
    choice first; ``unknown`` is the value that means unknown (``""`` for null)."""

    key: str
    dom: str
    label: str
    kind: str
    choices: list[tuple[str, str]]
    unknown: str
    unit: str
    minimum: str
    maximum: str
    step: str


@dataclass(frozen=True)
class FormSection:
    """The form's fields of one section of the profile."""

    title: str
    fields: list[FormField]


def form_sections(book: Rulebook) -> list[FormSection]:
    """The form, generated from the profile's field catalogue and its JSON Schema's
    ranges, in the words of ``book``'s vocabulary."""
    voc = book.vocabulary
    ranges = number_ranges()
    sections: dict[str, list[FormField]] = {}
    for path, spec in FIELDS.items():
        section = path.rpartition(".")[0]
        choices: list[tuple[str, str]] = []
        unknown = spec.unknown_value or ""
        if spec.kind == "enum":
            choices = [(unknown, "not known")] + [
                (value, voc.value_text(path, value))
                for value in spec.values
                if value != spec.unknown_value
            ]
        elif spec.kind == "boolean":
            choices = [("", "not known"), ("true", "yes"), ("false", "no")]
        elif spec.kind == "list":
            choices = [(value, value.replace("_", " ")) for value in spec.values]
        low, high, integer = ranges.get(path, (0.0, 0.0, True))
        sections.setdefault(section, []).append(
            FormField(
                key=path.replace(".", "/"),
                dom=path.replace(".", "-"),
                label=voc.label(path),
                kind=spec.kind,
                choices=choices,
                unknown=unknown,
                unit=voc.unit(path),
                minimum=f"{low:g}",
                maximum=f"{high:g}",
                step="1" if integer else "any",
            )
        )
    return [
        FormSection(_SECTION_TITLES.get(name, name.replace("_", " ").capitalize()), fields)
        for name, fields in sections.items()
    ]


_TITLE_LIMIT = 90


def literature_title(book: Rulebook, reported: Mapping[str, Any]) -> str:
    """Return a literature case's name in words: the first clause of its summary (cut
    at ``_TITLE_LIMIT`` characters) and its source as cited aloud, the key only when
    the case has no summary."""
    summary = " ".join(str(reported.get("summary") or "").split())
    first = summary.split("; ")[0].split(". ")[0].rstrip(".")
    if len(first) > _TITLE_LIMIT:
        first = first[: _TITLE_LIMIT - 1].rsplit(" ", 1)[0].rstrip(",:;")
        if first.count("(") > first.count(")"):  # no aside left open by the cut
            first = first[: first.rindex(" (")]
        first = first.rstrip(",:;") + "\u2026"
    if not first:
        return str(reported["id"])
    source = reported.get("source")
    return f"{first} ({short_source(book, str(source))})" if source else first


def _packaged_cases(book: Rulebook) -> dict[str, tuple[str, dict[str, Any], str | None]]:
    """The loadable cases by key: (title, profile, context). Raises ``CaseFileError``
    when the shipped case files cannot be read."""
    out: dict[str, tuple[str, dict[str, Any], str | None]] = {}
    for case in load_cases():
        profile = json.loads(case.path.read_text(encoding="utf-8"))
        out[f"published:{case.number}"] = (
            f"Published patient {case.number} ({case.context})",
            profile,
            case.context,
        )
    for reported in read_literature_cases():
        key = str(reported["id"])
        out[f"literature:{key}"] = (
            literature_title(book, reported),
            dict(reported["profile"]),
            None,
        )
    return out


def _problems(problems: list[Problem], what: str) -> JSONResponse:
    return problems_response(ProfileError(problems), what)


def add_page_routes(app: FastAPI, book: Rulebook, served: Served, audit: AuditLog | None) -> None:
    """Add the case page, its script, the packaged cases, evaluation and the board's
    decisions to ``app`` (decisions need ``audit``: 503 without one); every evaluation
    and every refused decision is stored through ``served``."""
    sections = form_sections(book)
    cases = _packaged_cases(book)
    contexts = [(name, ctx.title) for name, ctx in sorted(book.contexts.items())]
    reasons = dict(book.vocabulary.override_reasons)
    css = Markup(_PAGE_CSS)

    @app.get("/", response_class=HTMLResponse, summary="The tumor board's case page")
    def page() -> HTMLResponse:
        groups = [
            ("Published patients", [(k, t) for k, (t, _, _) in cases.items() if k[0] == "p"]),
            ("Literature cases", [(k, t) for k, (t, _, _) in cases.items() if k[0] == "l"]),
        ]
        return HTMLResponse(
            render(
                book.vocabulary,
                "page.html",
                css=css,
                cases=groups,
                contexts=contexts,
                default_context=book.default_context,
                sections=sections,
            )
        )

    @app.get(
        "/page.js",
        summary="The case page's script",
        openapi_extra={
            "responses": {
                "200": {
                    "description": "JavaScript",
                    "content": {"text/javascript": {"schema": {"type": "string"}}},
                }
            }
        },
    )
    def script() -> Response:
        return Response(_SCRIPT, media_type="text/javascript")

    @app.get(
        "/page/cases/{key}",
        summary="A packaged case's profile and context",
        openapi_extra=answers(None, 404, body=False, plain_404=True),
    )
    def packaged(key: str) -> Response:
        found = cases.get(key)
        if found is None:
            return JSONResponse(status_code=404, content={"error": "no such case"})
        _, profile, context = found
        return JSONResponse({"profile": profile, "context": context or book.default_context})

    @app.post(
        "/page/evaluate",
        response_class=HTMLResponse,
        summary="The case, for the page",
        openapi_extra=answers(None, 404, 413, 422, html=True),
    )
    async def evaluate(
        request: Request, context: str | None = None, hide_id: str | None = None
    ) -> Response:
        body = await read_body(request, MAX_BODY)
        if isinstance(body, Response):
            return served(request, "page/evaluate", b"", body, context)
        try:
            built = case_report(body, rulebook=book, context=context or None)
        except ProfileError as error:
            reply: Response = _problems(error.problems, "invalid patient profile")
        except UnknownContextError as error:
            reply = unknown_context_response(error)
        else:
            reply = HTMLResponse(
                render(
                    book.vocabulary,
                    "_page_result.html",
                    v=report_view(built),
                    show_id=not truthy(hide_id),
                    interactive=True,
                    override_reasons=list(reasons.items()),
                    about_url="/about",
                    about_what=ABOUT_WHAT,
                )
            )
        return served(request, "page/evaluate", body, reply, context)

    @app.post(
        "/page/report",
        response_class=HTMLResponse,
        summary="The printable report, for the page",
        openapi_extra=answers(None, 404, 413, 422, html=True),
    )
    async def printable(
        request: Request,
        context: str | None = None,
        hide_id: str | None = None,
        paper: str | None = None,
    ) -> Response:
        body = await read_body(request, MAX_BODY)
        if isinstance(body, Response):
            return body
        try:
            built = case_report(body, rulebook=book, context=context or None)
        except ProfileError as error:
            return _problems(error.problems, "invalid patient profile")
        except UnknownContextError as error:
            return unknown_context_response(error)
        return HTMLResponse(
            html_report(
                built,
                about_url="/about",
                show_id=not truthy(hide_id),
                paper=paper if paper in ("A4", "letter") else None,
            )
        )

    add_decision_routes(app, book, served, audit, css)
