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
* ``POST /decisions``: records the board's decision (the option chosen or another
  therapy, whether it follows the advice and why, the meeting date, who signed) in the
  audit database as a feedback row with its decision row; ``GET /decisions`` lists
  them with their rule base version; ``GET /decisions/{id}/report`` prints the case
  report with the decision on it.
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup

from sequencer.api import recommend
from sequencer.errors import Problem, ProfileError, UnknownContextError
from sequencer.explain.impact import read_literature_cases
from sequencer.explain.published import load_cases
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.fields import FIELDS, number_ranges
from sequencer.model.parsing import load_json_strict
from sequencer.present.report import (
    ABOUT_WHAT,
    DecisionRecord,
    case_report,
    html_report,
    report_css,
    report_view,
)
from sequencer.present.templating import render
from sequencer.service.audit import AuditLog
from sequencer.service.audit_rows import BoardDecision, DecisionRow
from sequencer.service.cds_cards import OVERRIDE_SYSTEM
from sequencer.service.common import MAX_BODY, Served, caller_of, problems_response, read_body
from sequencer.service.openapi import answers

__all__ = ["FormField", "FormSection", "add_page_routes", "form_sections"]

_STATIC = resources.files("sequencer.service") / "static"
_PAGE_CSS = report_css() + "\n" + (_STATIC / "page.css").read_text(encoding="utf-8")
_SCRIPT = (_STATIC / "page.js").read_text(encoding="utf-8")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
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


def _packaged_cases() -> dict[str, tuple[str, dict[str, Any], str | None]]:
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
        out[f"literature:{key}"] = (key, dict(reported["profile"]), None)
    return out


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")


def _problems(problems: list[Problem], what: str) -> JSONResponse:
    return problems_response(ProfileError(problems), what)


def _record(row: DecisionRow) -> DecisionRecord:
    return DecisionRecord(
        chosen=row.chosen_name,
        follows=row.outcome == "accepted",
        reason=row.reason_display,
        comment=row.comment,
        meeting_date=row.meeting_date,
        signed_by=row.signed_by,
        recorded_at=row.at,
        rulebook_version=row.rulebook_version,
        advice=row.advice_name,
    )


_OUTCOME_WORDS = {
    "accepted": ("follows the advice", "follows"),
    "overridden": ("overrides the advice", "overrides"),
    "no-preference": ("no option was preferred", ""),
}


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    return value.strip()[:limit] if isinstance(value, str) else ""


FREE_TEXT_LIMITS = {"other_therapy": 80, "signed_by": 80, "comment": 2000}
"""The longest text the board may type in each free-text field of a decision; longer is
refused on its field (422), never cut. The other therapy and the signer print in full on
the report's first page, which must hold on A4 and Letter for every published patient and
literature case: patient 4 on Letter leaves about three lines for the decision, and 100
wide characters each already overflow it (tests/test_printed_report.py). The comment
prints its first line only on paper (report.css) and is kept in full on screen, in the
decision list and in the audit database."""


def _free_text(data: dict[str, Any], key: str, problems: list[Problem]) -> str:
    """The stripped text of ``data[key]`` ("" when absent or not text); adds a problem on
    ``key`` to ``problems`` when it is longer than ``FREE_TEXT_LIMITS[key]``, instead of
    cutting what the board typed."""
    text = _text(data, key, 1_000_000)
    limit = FREE_TEXT_LIMITS[key]
    if len(text) > limit:
        problems.append(
            Problem(key, f"at most {limit:,} characters ({len(text):,} given)", "out_of_range")
        )
    return text


def add_page_routes(app: FastAPI, book: Rulebook, served: Served, audit: AuditLog | None) -> None:
    """Add the case page, its script, the packaged cases, evaluation and the board's
    decisions to ``app`` (decisions need ``audit``: 503 without one); every evaluation
    and every refused decision is stored through ``served``."""
    sections = form_sections(book)
    cases = _packaged_cases()
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
            reply = JSONResponse(
                status_code=404, content={"error": str(error), "known": error.known}
            )
        else:
            reply = HTMLResponse(
                render(
                    book.vocabulary,
                    "_page_result.html",
                    v=report_view(built),
                    show_id=not _truthy(hide_id),
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
            return JSONResponse(
                status_code=404, content={"error": str(error), "known": error.known}
            )
        return HTMLResponse(
            html_report(
                built,
                about_url="/about",
                show_id=not _truthy(hide_id),
                paper=paper if paper in ("A4", "letter") else None,
            )
        )

    @app.post(
        "/decisions",
        summary="Record the board's decision",
        openapi_extra=answers(None, 404, 413, 422, 503),
    )
    async def record(request: Request) -> Response:
        if audit is None:
            return JSONResponse(status_code=503, content={"error": "no audit database"})
        body = await read_body(request, MAX_BODY)
        if isinstance(body, Response):
            return served(request, "decisions", b"", body)
        try:
            data = load_json_strict(body)
        except ProfileError as error:
            return served(request, "decisions", body, _problems(error.problems, "invalid decision"))
        if not isinstance(data, dict):
            problem = Problem("", "not a JSON object", "not_an_object")
            return served(request, "decisions", body, _problems([problem], "invalid decision"))
        context = _text(data, "context", 80) or None
        profile = data.get("profile")
        if not isinstance(profile, dict):
            return _problems(
                [Problem("profile", "the profile the decision is about", "missing_field")],
                "invalid decision",
            )
        try:
            rec = recommend(profile, rulebook=book, context=context)
        except ProfileError as error:
            return _problems(error.problems, "invalid patient profile")
        except UnknownContextError as error:
            return JSONResponse(
                status_code=404, content={"error": str(error), "known": error.known}
            )
        names = {o.therapy: o.name for o in rec.options}
        problems: list[Problem] = []
        chosen = _text(data, "chosen", 80)
        other = _free_text(data, "other_therapy", problems)
        reason = _text(data, "reason", 80)
        comment = _free_text(data, "comment", problems) or None
        meeting = _text(data, "meeting_date", 10)
        signed = _free_text(data, "signed_by", problems)
        if chosen not in (*names, "other"):  # checked again below as `valid`
            problems.append(
                Problem("chosen", "choose an option or another therapy", "missing_field")
            )
        if chosen == "other" and not other:
            problems.append(Problem("other_therapy", "name the other therapy", "missing_field"))
        advice = rec.preferred
        follows = advice is not None and chosen == advice
        valid = chosen in (*names, "other")
        if advice is not None and not follows and valid and reason not in reasons:
            problems.append(
                Problem("reason", "say why the board departs from the advice", "missing_field")
            )
        if reason and reason not in reasons:
            problems.append(Problem("reason", "not one of the override reasons", "invalid_value"))
        try:
            datetime.date.fromisoformat(meeting)
            if not _DATE.match(meeting):
                raise ValueError(meeting)
        except ValueError:
            problems.append(
                Problem("meeting_date", "give the meeting date (YYYY-MM-DD)", "invalid_value")
            )
        if not signed:
            problems.append(Problem("signed_by", "say who signed the decision", "missing_field"))
        if problems:
            return served(request, "decisions", body, _problems(problems, "invalid decision"))
        outcome = "no-preference" if advice is None else ("accepted" if follows else "overridden")
        used_reason = reason if (advice is not None and not follows) else ""
        decision_id = audit.record_decision(
            BoardDecision(
                uuid=str(uuid.uuid4()),
                outcome=outcome,
                reason_system=OVERRIDE_SYSTEM if used_reason else None,
                reason_code=used_reason or None,
                reason_display=reasons.get(used_reason) if used_reason else None,
                comment=comment,
                meeting_date=meeting,
                signed_by=signed,
                patient_id=rec.patient_id,
                chosen=chosen,
                chosen_name=other if chosen == "other" else names[chosen],
                advice=advice,
                advice_name=names[advice] if advice else "no option preferred",
                rulebook_version=rec.rulebook.version,
                rulebook_digest=rec.rulebook.digest,
                context=rec.context.name,
                profile=json.dumps(profile, ensure_ascii=False),
            ),
            caller_of(request),
        )
        return JSONResponse(
            {
                "id": decision_id,
                "outcome": outcome,
                "outcome_words": _OUTCOME_WORDS[outcome][0],
                "report": f"/decisions/{decision_id}/report",
            }
        )

    @app.get(
        "/decisions",
        response_class=HTMLResponse,
        summary="The board's decisions",
        openapi_extra=answers(None, 503, body=False, html=True),
    )
    def decisions(hide_id: str | None = None) -> Response:
        if audit is None:
            return JSONResponse(status_code=503, content={"error": "no audit database"})
        rows = audit.decisions()
        tallies: dict[str, list[int]] = {}
        column = {"accepted": 0, "overridden": 1, "no-preference": 2}
        for row in rows:
            tallies.setdefault(row.rulebook_version, [0, 0, 0])[column[row.outcome]] += 1
        shown = [
            {
                "id": row.id,
                "meeting_date": row.meeting_date,
                "patient_id": row.patient_id,
                "chosen": row.chosen_name,
                "advice": row.advice_name,
                "outcome_words": _OUTCOME_WORDS[row.outcome][0],
                "outcome_class": _OUTCOME_WORDS[row.outcome][1],
                "reason": row.reason_display,
                "comment": row.comment,
                "signed_by": row.signed_by,
                "rulebook_version": row.rulebook_version,
            }
            for row in rows
        ]
        return HTMLResponse(
            render(
                book.vocabulary,
                "decisions.html",
                css=css,
                decisions=shown,
                tallies=[(v, *counts) for v, counts in sorted(tallies.items())],
                show_id=not _truthy(hide_id),
            )
        )

    @app.get(
        "/decisions/{decision_id}/report",
        response_class=HTMLResponse,
        summary="The case report with the board's decision",
        openapi_extra=answers(None, 404, 503, body=False, html=True, plain_404=True),
    )
    def decision_report(
        decision_id: Annotated[int, FastApiPath(ge=1, le=2**53)],
        hide_id: str | None = None,
        paper: str | None = None,
    ) -> Response:
        if audit is None:
            return JSONResponse(status_code=503, content={"error": "no audit database"})
        found = audit.decisions(decision_id)
        if not found:
            return JSONResponse(status_code=404, content={"error": "no such decision"})
        row = found[0]
        built = case_report(json.loads(row.profile), rulebook=book, context=row.context)
        return HTMLResponse(
            html_report(
                built,
                about_url="/about",
                show_id=not _truthy(hide_id),
                decision=_record(row),
                prepared=row.meeting_date,
                paper=paper if paper in ("A4", "letter") else None,
            )
        )
