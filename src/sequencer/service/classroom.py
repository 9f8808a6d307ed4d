"""The classroom in the service: exercise pages for students, a class view for teachers.

- ``GET /teach``: the exercises (the review's patients and every literature case;
  discussion cases marked as such);
- ``GET /teach/{case}`` (``?group=``, ``?student=`` fill the form in): the student's
  sheet with its form: the choice, the statements to tick as deciding and as set aside,
  an optional name and a class code;
- ``POST /teach/{case}/answers`` (a form): the answer marked (``explain.teach.mark``),
  the feedback in the clinician's words and, with a class code and an audit database,
  the answer stored (``class_answers``);
- ``GET /teach/class/{group}``: per case, the choices, how often each statement was
  ticked beside what it truly was, the most common wrong reasons, the mean score;
  ``GET /teach/class/{group}.csv`` the answers as CSV (cells guarded against formula
  injection); ``GET /teach/class?group=`` redirects there.

The class code is the only key to a class view: a classroom on loopback needs no more.
The paths are not in the service's ``OPEN`` list, so with ``--auth`` every one of them
needs a token like any other call (a deployed service keeps its classes closed).
Answers and class views are stored in the audit trail like every answer. Pages are
self-contained HTML (no script, nothing fetched) under a Content-Security-Policy that
allows no other origin; a form posted from another origin is refused.
"""

from __future__ import annotations

import datetime
import hmac
import re
import secrets
import threading
import unicodedata
import urllib.parse
from collections import defaultdict

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sequencer.explain.casebook import LITERATURE, PUBLISHED, gather
from sequencer.explain.classroom import CaseTally, tally
from sequencer.explain.deciding import NEITHER, NOT_YET
from sequencer.explain.teach import Answer, Exercise, exercises, mark
from sequencer.knowledge.rulebook import Rulebook
from sequencer.present.classroom import (
    NAME_LIMIT,
    class_csv,
    html_class_view,
    html_exercise_list,
    html_feedback_page,
    html_problems,
    html_student_sheet,
)
from sequencer.service.audit import AuditLog
from sequencer.service.audit_gate import AuditUnavailable, unavailable
from sequencer.service.audit_rows import ClassAnswer
from sequencer.service.common import Served, read_body

__all__ = ["FORM_LIMIT", "GROUP", "add_classroom_routes"]

FORM_LIMIT = 20_000
"""The largest answer form accepted, in bytes (an answer is a few hundred)."""
GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
"""A class code: letters, digits, ``-`` and ``_``, at most 40 (compared in lower case)."""
_FIELDS = {"choice", "deciding", "set_aside", "student", "group", "form_token"}
FORM_COOKIE = "sequencer_form"
"""The cookie holding a browser session's form token: set with the sheet (HttpOnly,
SameSite=Strict, so no other site's page sends or reads it) and echoed by the sheet's
hidden ``form_token`` field; a hand-in whose two differ is refused (403)."""
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class _Sheets:
    """The exercises, built once on first use (about a second and a half)."""

    def __init__(self, book: Rulebook) -> None:
        self._book = book
        self._lock = threading.Lock()
        self._built: list[Exercise] | None = None

    def all(self) -> list[Exercise]:
        with self._lock:
            if self._built is None:
                self._built = exercises(gather((PUBLISHED, LITERATURE)), self._book)
            return self._built

    def find(self, key: str) -> Exercise | None:
        """Return the exercise whose case key is ``key``, or whose number it is (as the
        ``--answers`` files write ``1:``); None if there is none."""
        number = int(key) if key.isdigit() and len(key) < 6 else None
        return next(
            (ex for ex in self.all() if ex.case.key == key or ex.case.number == number), None
        )


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _problems(title: str, problems: list[str], back: str, status: int) -> HTMLResponse:
    return _page(html_problems(title, problems, back), status)


def group_code(text: str) -> str | None:
    """Return the class code in ``text`` (lower case), or None if it is not one."""
    text = text.strip()
    return text.lower() if GROUP.fullmatch(text) else None


def _student(text: str) -> tuple[str, str | None]:
    """The name as typed (spaces trimmed), or a problem with it."""
    name = " ".join(text.split())
    if len(name) > NAME_LIMIT:
        return name, f"student: at most {NAME_LIMIT} characters"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs") for c in name):
        return name, "student: control or invisible characters are not allowed in a name"
    return name, None


def _form(body: bytes) -> tuple[dict[str, list[str]], list[str]]:
    """The form's fields, or the problems with it."""
    try:
        text = body.decode("utf-8")
        fields = urllib.parse.parse_qs(
            text, keep_blank_values=True, errors="strict", max_num_fields=400
        )
    except ValueError as error:  # not UTF-8, too many fields
        return {}, [f"form: not a readable form ({type(error).__name__})"]
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        return fields, [f"form: unknown fields {', '.join(unknown)[:200]}"]
    return fields, []


def _answer(ex: Exercise, fields: dict[str, list[str]]) -> tuple[Answer | None, list[str]]:
    """The answer the form gives for ``ex``, or every problem with it."""
    problems = []
    offered = [*ex.rulebook.option_ids, NEITHER, NOT_YET]
    choice = fields.get("choice", [])
    if len(choice) != 1 or choice[0] not in offered:
        problems.append(f"choice: pick one of {', '.join(offered)}")
    letters = {f.key for f in ex.factors}
    picked: dict[str, list[str]] = {}
    for name in ("deciding", "set_aside"):
        items = fields.get(name, [])
        bad = [i for i in items if i not in letters]
        if bad:
            problems.append(f"{name}: no statement {', '.join(sorted(set(bad)))[:100]}")
        if items and ex.kind == "discussion":
            problems.append(f"{name}: a discussion case takes no statements")
        picked[name] = sorted(set(items) & letters, key=lambda k: (len(k), k))
    both = sorted(set(picked["deciding"]) & set(picked["set_aside"]))
    if both:
        problems.append(f"{', '.join(both)}: both deciding and set aside; choose one")
    for name in ("student", "group"):
        if len(fields.get(name, [])) > 1:
            problems.append(f"{name}: given more than once")
    if problems:
        return None, problems
    answer = Answer(
        choice=choice[0], factors=tuple(picked["deciding"]), set_aside=tuple(picked["set_aside"])
    )
    return answer, []


def _tallies(sheets: list[Exercise], stored: list[ClassAnswer], digest: str) -> list[CaseTally]:
    """Per exercise with answers, in the exercises' order: the class's answers tallied."""
    by_case: dict[str, list[ClassAnswer]] = defaultdict(list)
    for row in stored:
        by_case[row.case_key].append(row)
    out = []
    for ex in sheets:
        rows = by_case.get(ex.case.key, [])
        if not rows:
            continue
        here = [
            Answer(choice=r.choice, factors=r.deciding, set_aside=r.set_aside)
            for r in rows
            if r.rulebook_digest == digest
        ]
        out.append(tally(ex, here, elsewhere=len(rows) - len(here)))
    return out


def add_classroom_routes(
    app: FastAPI, book: Rulebook, served: Served, audit: AuditLog | None
) -> None:
    """Add the classroom's pages to ``app`` (see the module docstring)."""
    sheets = _Sheets(book)
    index = "/teach"

    def sheet_href(key: str, group: str = "", student: str = "") -> str:
        query = urllib.parse.urlencode(
            {k: v for k, v in (("group", group), ("student", student)) if v}
        )
        return f"/teach/{urllib.parse.quote(key)}" + (f"?{query}" if query else "")

    @app.get("/teach", response_class=HTMLResponse, include_in_schema=False)
    async def teach_index() -> Response:
        """The exercises."""
        found = await run_in_threadpool(sheets.all)
        return _page(html_exercise_list(found, "/teach/{key}", "/teach/class"))

    @app.get("/teach/class", include_in_schema=False)
    def class_form(group: str = "") -> Response:
        """The teacher's class-code form lands here: on to the class view."""
        code = group_code(group)
        if code is None:
            return _problems(
                "Not a class code", ["group: letters, digits, - and _, at most 40"], index, 422
            )
        return RedirectResponse(f"/teach/class/{code}", status_code=303)

    def closed() -> HTMLResponse:
        return _problems(
            "No class answers are kept here",
            ["This service keeps no audit database: start it with --audit sqlite:///FILE."],
            index,
            503,
        )

    @app.get("/teach/class/{group}.csv", include_in_schema=False)
    async def class_export(request: Request, group: str) -> Response:
        """A class's answers as CSV."""
        code = group_code(group)
        if code is None:
            reply: Response = _problems("Not a class code", ["group: not a class code"], index, 404)
        elif audit is None:
            reply = closed()
        else:
            try:
                rows = await served.gate.read(audit.class_answers, code)
            except AuditUnavailable as error:
                return unavailable(error.reason)
            text = class_csv(
                [
                    (
                        r.at,
                        r.class_code,
                        r.student,
                        r.case_key,
                        r.rulebook_version,
                        r.rulebook_digest,
                        r.choice,
                        " ".join(r.deciding),
                        " ".join(r.set_aside),
                        r.points,
                        r.max_points,
                    )
                    for r in rows
                ]
            )
            reply = Response(
                text,
                media_type="text/csv; charset=utf-8",
                headers={
                    **_HEADERS,
                    "Content-Disposition": f'attachment; filename="class-{code}.csv"',
                },
            )
        return served(request, "teach/class.csv", b"", reply)

    @app.get("/teach/class/{group}", response_class=HTMLResponse, include_in_schema=False)
    async def class_view(request: Request, group: str) -> Response:
        """A class's answers, per case."""
        code = group_code(group)
        if code is None:
            reply: Response = _problems("Not a class code", ["group: not a class code"], index, 404)
        elif audit is None:
            reply = closed()
        else:
            try:
                answers = await served.gate.read(audit.class_answers, code)
            except AuditUnavailable as error:
                return unavailable(error.reason)

            def render() -> str:
                found = _tallies(sheets.all(), answers, book.digest)
                return html_class_view(code, found, index, f"/teach/class/{code}.csv")

            reply = _page(await run_in_threadpool(render))
        return served(request, "teach/class", b"", reply)

    @app.get("/teach/{case}", response_class=HTMLResponse, include_in_schema=False)
    async def student_sheet(
        request: Request, case: str, group: str = "", student: str = ""
    ) -> Response:
        """A student's sheet with its form (and the session's form token)."""
        ex = await run_in_threadpool(sheets.find, case)
        if ex is None:
            return _problems("No such exercise", [f"case: no exercise {case[:80]}"], index, 404)
        if case != ex.case.key:  # asked by number: the sheet's own address
            return RedirectResponse(sheet_href(ex.case.key, group, student), status_code=307)
        total = len(sheets.all())
        code = group_code(group) or ""
        name, _ = _student(student[: NAME_LIMIT * 2])
        action = f"/teach/{urllib.parse.quote(ex.case.key)}/answers"
        token = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
        html = html_student_sheet(ex, total, action, index, name[:NAME_LIMIT], code, token)
        reply = _page(html)
        reply.set_cookie(FORM_COOKIE, token, httponly=True, samesite="strict", path="/teach")
        return reply

    @app.post("/teach/{case}/answers", response_class=HTMLResponse, include_in_schema=False)
    async def hand_in(request: Request, case: str) -> Response:
        """Mark an answer, show the feedback, store it for the class."""
        endpoint = "teach/answers"
        ex = await run_in_threadpool(sheets.find, case)
        if ex is None:
            reply = _problems("No such exercise", [f"case: no exercise {case[:80]}"], index, 404)
            return served(request, endpoint, b"", reply)
        back = sheet_href(ex.case.key)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            reply = _problems(
                "Not a form", ["body: send application/x-www-form-urlencoded"], back, 415
            )
            return served(request, endpoint, b"", reply)
        body = await read_body(request, FORM_LIMIT)
        if isinstance(body, Response):
            return served(request, endpoint, b"", body)
        fields, problems = _form(body)
        sent = (fields.get("form_token") or [""])[0]
        kept_token = request.cookies.get(FORM_COOKIE, "")
        if not (sent and kept_token and hmac.compare_digest(sent, kept_token)):
            why = ["form: not this browser session's form (open the sheet again)"]
            return served(request, endpoint, b"", _problems("Refused", why, back, 403))
        answer, more = _answer(ex, fields) if not problems else (None, [])
        name, bad_name = _student((fields.get("student") or [""])[0])
        raw_group = (fields.get("group") or [""])[0].strip()
        code = group_code(raw_group) if raw_group else ""
        problems += more + ([bad_name] if bad_name else [])
        if code is None:
            problems.append("group: letters, digits, - and _, at most 40")
        if problems or answer is None or code is None:
            reply = _problems("Your answer could not be marked", problems, back, 422)
            return served(request, endpoint, body, reply, kept=b"")
        marked = mark(ex, answer)
        if not code:
            stored = "Not stored: no class code was given."
        elif audit is None:
            stored = "Not stored: this service keeps no answers (no audit database)."
        else:
            row = ClassAnswer(
                at=datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
                class_code=code,
                student=name,
                case_key=ex.case.key,
                rulebook_version=book.version,
                rulebook_digest=book.digest,
                choice=answer.choice,
                deciding=answer.factors,
                set_aside=answer.set_aside,
                points=marked.points,
                max_points=marked.max_points,
            )
            try:
                await served.gate.run(audit.record_class_answer, row)
            except AuditUnavailable as error:
                return unavailable(error.reason)
            stored = f"Stored for class {code}" + (f" as {name}." if name else " (anonymous).")
        found = sheets.all()
        at = found.index(ex)
        following = found[at + 1] if at + 1 < len(found) else None
        next_href = sheet_href(following.case.key, code, name) if following else None
        html = await run_in_threadpool(html_feedback_page, marked, stored, index, next_href)
        return served(request, endpoint, body, _page(html), kept=b"")
