"""The tumor board's decisions, recorded from the case page (``service.page``).

``add_decision_routes(app, book, served, audit, css)`` adds:

* ``POST /decisions``: records the board's decision (the option chosen or another
  therapy, whether it follows the advice and why, the meeting date, who signed) in the
  audit database as a feedback row with its decision row, and the case report with the
  decision on it as rendered then (with and without the patient id); the raw profile
  only when the site keeps profiles (``--keep-profiles``), its SHA-256 always;
* ``GET /decisions``: the decisions with their rule base version;
* ``GET /decisions/{id}/report``: the case report with the decision on it: rendered
  again from the profile when the site keeps profiles and the rule base is the one the
  decision was made under (``?paper=`` and ``?hide_id=`` honoured), else as rendered
  when the decision was recorded (``?hide_id=`` picks the copy without the patient id).
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup

from sequencer.errors import Problem, ProfileError, UnknownContextError
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.parsing import load_json_strict
from sequencer.present.report import DecisionRecord, case_report, html_report
from sequencer.present.templating import render
from sequencer.service.audit import AuditLog, now
from sequencer.service.audit_gate import AuditUnavailable, unavailable
from sequencer.service.audit_rows import BoardDecision, DecisionRow
from sequencer.service.cds_cards import OVERRIDE_SYSTEM
from sequencer.service.common import (
    MAX_BODY,
    Served,
    caller_of,
    problems_response,
    read_body,
    truthy,
    unknown_context_response,
)
from sequencer.service.openapi import answers

__all__ = ["FREE_TEXT_LIMITS", "add_decision_routes"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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


DECISION_KEYS = frozenset(
    {
        "profile",
        "context",
        "chosen",
        "other_therapy",
        "reason",
        "comment",
        "meeting_date",
        "signed_by",
    }
)
"""The keys a decision may have; any other is refused, as in the profile."""

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Characters refused in a decision's text: NUL and other control characters (a comment
may keep its line breaks and tabs), and the bidirectional marks and overrides that make
text read otherwise than it is stored."""

EARLIEST_MEETING = datetime.date(2000, 1, 1)
"""The earliest meeting date accepted (before CD19-directed immunotherapy existed)."""


def shape_problems(data: dict[str, Any], today: datetime.date) -> list[Problem]:
    """Every problem with a decision's shape: an unknown key, a text field that is not a
    string or holds control characters or bidirectional overrides, and a meeting date
    outside 2000-01-01 to a year from ``today``."""
    problems = [
        Problem(key, "not part of a decision", "unknown_field")
        for key in sorted(set(data) - DECISION_KEYS)
    ]
    for key in sorted(DECISION_KEYS - {"profile"}):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(Problem(key, "text is expected", "wrong_type"))
            continue
        allowed = value.replace("\n", "").replace("\t", "") if key == "comment" else value
        found = _UNSAFE.search(allowed)
        if found:
            code = f"U+{ord(found.group()):04X}"
            problems.append(
                Problem(key, f"a control or direction character ({code}) is not accepted")
            )
    meeting = data.get("meeting_date")
    if isinstance(meeting, str) and _DATE.match(meeting.strip()):
        try:
            day = datetime.date.fromisoformat(meeting.strip())
        except ValueError:
            day = None
        latest = today + datetime.timedelta(days=366)
        if day is not None and not EARLIEST_MEETING <= day <= latest:
            problems.append(
                Problem(
                    "meeting_date",
                    f"between {EARLIEST_MEETING.isoformat()} and {latest.isoformat()}",
                    "out_of_range",
                )
            )
    return problems


def add_decision_routes(
    app: FastAPI, book: Rulebook, served: Served, audit: AuditLog | None, css: Markup
) -> None:
    """Add recording, listing and printing the board's decisions to ``app`` (503 without
    ``audit``); every refused decision is stored through ``served``; ``css`` is the
    page's style sheet (for the list)."""
    reasons = dict(book.vocabulary.override_reasons)

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
        shape = shape_problems(data, datetime.date.today())
        if shape:
            return served(request, "decisions", body, _problems(shape, "invalid decision"))
        context = _text(data, "context", 80) or None
        profile = data.get("profile")
        if not isinstance(profile, dict):
            return _problems(
                [Problem("profile", "the profile the decision is about", "missing_field")],
                "invalid decision",
            )
        try:
            built = case_report(profile, rulebook=book, context=context)
        except ProfileError as error:
            return _problems(error.problems, "invalid patient profile")
        except UnknownContextError as error:
            return unknown_context_response(error)
        rec = built.recommendation
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
        at = now()
        chosen_name = other if chosen == "other" else names[chosen]
        advice_name = names[advice] if advice else "no option preferred"
        record = DecisionRecord(
            chosen=chosen_name,
            follows=outcome == "accepted",
            reason=reasons.get(used_reason) if used_reason else None,
            comment=comment,
            meeting_date=meeting,
            signed_by=signed,
            recorded_at=at,
            rulebook_version=rec.rulebook.version,
            advice=advice_name,
        )
        reports = [
            html_report(built, about_url="/about", show_id=show, decision=record, prepared=meeting)
            for show in (True, False)
        ]
        decision = (
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
                chosen_name=chosen_name,
                advice=advice,
                advice_name=advice_name,
                rulebook_version=rec.rulebook.version,
                rulebook_digest=rec.rulebook.digest,
                context=rec.context.name,
                profile=json.dumps(profile, ensure_ascii=False),
                at=at,
                report=reports[0],
                report_no_id=reports[1],
            ),
            caller_of(request),
        )
        try:
            decision_id = await served.gate.run(audit.record_decision, *decision)
        except AuditUnavailable as error:
            return unavailable(error.reason)
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
    async def decisions(hide_id: str | None = None) -> Response:
        if audit is None:
            return JSONResponse(status_code=503, content={"error": "no audit database"})
        try:
            rows = await served.gate.read(audit.decisions)
        except AuditUnavailable as error:
            return unavailable(error.reason)
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
                show_id=not truthy(hide_id),
            )
        )

    @app.get(
        "/decisions/{decision_id}/report",
        response_class=HTMLResponse,
        summary="The case report with the board's decision",
        openapi_extra=answers(None, 404, 503, body=False, html=True, plain_404=True),
    )
    async def decision_report(
        decision_id: Annotated[int, FastApiPath(ge=1, le=2**53)],
        hide_id: str | None = None,
        paper: str | None = None,
    ) -> Response:
        if audit is None:
            return JSONResponse(status_code=503, content={"error": "no audit database"})
        try:
            found = await served.gate.read(audit.decisions, decision_id)
        except AuditUnavailable as error:
            return unavailable(error.reason)
        if not found:
            return JSONResponse(status_code=404, content={"error": "no such decision"})
        row = found[0]
        stored = row.report_no_id if truthy(hide_id) else row.report
        if stored is not None and (row.profile is None or row.rulebook_digest != book.digest):
            return HTMLResponse(stored)  # as rendered when recorded (no profile kept)
        if row.profile is None:  # pragma: no cover - every row has a report or a profile
            return JSONResponse(status_code=404, content={"error": "no report stored"})
        built = case_report(json.loads(row.profile), rulebook=book, context=row.context)
        return HTMLResponse(
            html_report(
                built,
                about_url="/about",
                show_id=not truthy(hide_id),
                decision=_record(row),
                prepared=row.meeting_date,
                paper=paper if paper in ("A4", "letter") else None,
            )
        )
