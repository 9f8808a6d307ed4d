"""The classroom in the service: exercise pages, answers marked and stored in the audit
database, the class view and its CSV, over HTTP against the real server on 127.0.0.1."""

from __future__ import annotations

import csv
import html
import io
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO
from served import call, running_server
from test_audit_postgres import postgres  # noqa: F401 (a fixture)
from test_cds import client_key, secured, secured_audit  # noqa: F401 (fixtures)

from sequencer.api import default_rulebook
from sequencer.explain.casebook import LITERATURE, PUBLISHED, gather
from sequencer.explain.classroom import tally
from sequencer.explain.teach import Answer, Exercise, exercises, mark
from sequencer.present.classroom import CSV_HEADER, class_csv, safe_cell
from sequencer.service.app import OPEN
from sequencer.service.audit import AuditLog

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def sheets() -> list[Exercise]:
    return exercises(gather((PUBLISHED, LITERATURE)))


@pytest.fixture(scope="module")
def audit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("classroom") / "audit.sqlite3"


@pytest.fixture(scope="module")
def classroom(audit_file: Path) -> Iterator[str]:
    with running_server("--audit", f"sqlite:///{audit_file}") as base:
        yield base


def by_key(sheets: list[Exercise], key: str) -> Exercise:
    return next(ex for ex in sheets if ex.case.key == key)


def form_session(base: str, case: str) -> tuple[str, str]:
    """Open the sheet as a browser would: its session cookie and the form's token."""
    status, headers, raw = call(f"{base}/teach/{case}")
    assert status == 200
    cookie = headers["set-cookie"].split(";")[0]
    token = re.search(r'name="form_token" value="([^"]+)"', raw.decode())
    assert token is not None and cookie.endswith("=" + token.group(1))
    return cookie, token.group(1)


def hand_in(base: str, case: str, fields: list[tuple[str, str]], **headers: str) -> tuple[int, str]:
    """Hand in ``fields`` from the sheet's own form (its session cookie and token)."""
    cookie, token = form_session(base, case)
    body = urllib.parse.urlencode([*fields, ("form_token", token)]).encode()
    sent = {**FORM, "Cookie": cookie, **headers}
    status, _, raw = call(f"{base}/teach/{case}/answers", body, "POST", sent)
    return status, raw.decode()


def test_a_hand_in_without_the_sessions_form_token_is_refused(classroom: str) -> None:
    """A form posted without the token its sheet set (another site's forged form cannot
    read it), or with another session's, is a 403 and stores nothing."""
    cookie, token = form_session(classroom, "patient-4")
    fields = [("choice", "car_t"), ("group", "Ward-9")]
    url = f"{classroom}/teach/patient-4/answers"
    for extra, sent in (
        ([], {}),
        ([("form_token", token)], {}),
        ([("form_token", "forged")], {"Cookie": cookie}),
    ):
        body = urllib.parse.urlencode([*fields, *extra]).encode()
        status, _, raw = call(url, body, "POST", {**FORM, **sent})
        assert status == 403 and "not this browser session" in raw.decode()
    status, _, raw = call(f"{classroom}/teach/class/Ward-9")
    assert status == 200 and "No answers yet." in raw.decode()


def text_of(page: str) -> str:
    """The page's visible text, tags dropped, entities decoded."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


def test_the_exercise_list_offers_every_published_and_literature_case(
    classroom: str, sheets: list[Exercise]
) -> None:
    status, headers, raw = call(f"{classroom}/teach")
    page = raw.decode()
    assert status == 200 and "default-src 'none'" in headers["content-security-policy"]
    for ex in sheets:
        assert f'href="/teach/{ex.case.key}"' in page
    discussions = [ex for ex in sheets if ex.kind == "discussion"]
    assert discussions, "the literature holds a case the rules do not decide"
    assert text_of(page).count("(a case for discussion)") == len(discussions)


def test_the_sheet_offers_every_choice_and_statement_and_escapes_what_is_typed(
    classroom: str, sheets: list[Exercise]
) -> None:
    ex = by_key(sheets, "patient-4")
    query = urllib.parse.urlencode({"group": "Bio3", "student": "<b>Ann</b>"})
    status, _, raw = call(f"{classroom}/teach/patient-4?{query}")
    page = raw.decode()
    assert status == 200
    assert "<b>Ann</b>" not in page and 'value="&lt;b&gt;Ann&lt;/b&gt;"' in page
    assert 'value="bio3"' in page  # class codes are compared in lower case
    for option in [*ex.rulebook.option_ids, "neither", "not_yet"]:
        assert f'name="choice" id="choice-{option}" value="{option}"' in page
    for f in ex.factors:
        assert f'id="deciding-{f.key}"' in page and f'id="set_aside-{f.key}"' in page
        assert f'<label for="deciding-{f.key}">' in page  # every control has its label
    assert "<script" not in page and "http" not in page.split("<body>")[1]


def test_an_answer_is_marked_stored_and_read_back_by_the_teacher(
    classroom: str, audit_file: Path, sheets: list[Exercise]
) -> None:
    ex = by_key(sheets, "patient-4")
    right = ex.deciding[0].key
    wrong = next(f.key for f in ex.factors if f.role == "not_deciding" and not f.neutral)
    name = '=HYPERLINK("x") <script>alert(1)</script>'
    fields = [
        ("choice", ex.answer),
        ("deciding", right),
        ("deciding", wrong),
        ("student", name),
        ("group", "Ward-7"),
    ]
    status, page = hand_in(classroom, "patient-4", fields)
    expected = mark(ex, Answer(choice=ex.answer, factors=tuple(sorted((right, wrong)))))
    assert status == 200
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    words = text_of(page)
    assert f"{expected.points} of {expected.max_points} points" in words
    assert "Stored for class ward-7 as" in words and "Published decision" in words

    log = AuditLog(f"sqlite:///{audit_file}")
    try:
        [row] = [r for r in log.class_answers("ward-7") if r.case_key == "patient-4"]
        served = [r for r in log.rows() if r.endpoint == "teach/answers"]
    finally:
        log.close()
    book = default_rulebook()
    assert row.student == name  # kept as typed; escaped wherever it is shown
    assert (row.choice, row.points, row.max_points) == (ex.answer, expected.points, 4)
    assert set(row.deciding) == {right, wrong} and row.set_aside == ()
    assert (row.rulebook_version, row.rulebook_digest) == (book.version, book.digest)
    assert served and all(r.profile is None for r in served)

    status, _, raw = call(f"{classroom}/teach/class/ward-7")
    view = text_of(raw.decode())
    assert status == 200 and "Class ward-7: 1 answer" in view
    assert f"Mean score {expected.points:.1f} of 4 points" in view
    wrong_text = next(f.text for f in ex.factors if f.key == wrong)
    assert f"Ticked {wrong}. ({wrong_text}) as deciding (1 of 1)" in view

    status, headers, raw = call(f"{classroom}/teach/class/ward-7.csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    [header, line] = list(csv.reader(io.StringIO(raw.decode())))
    assert tuple(header) == CSV_HEADER
    assert line[2] == "'" + name and line[1] == "ward-7" and line[3] == "patient-4"
    assert line[9:] == [str(expected.points), "4"]


def test_the_class_view_tallies_choices_statements_and_wrong_reasons(
    classroom: str, sheets: list[Exercise]
) -> None:
    ex = by_key(sheets, "patient-2")
    other = next(o for o in ex.rulebook.option_ids if o != ex.answer)
    all_keys = [f.key for f in ex.factors]
    answers = [
        [("choice", ex.answer), *(("deciding", f.key) for f in ex.deciding)],
        [("choice", other), *(("deciding", k) for k in all_keys)],
        [("choice", other)],
    ]
    for fields in answers:
        assert hand_in(classroom, "patient-2", [*fields, ("group", "tally")])[0] == 200
    expected = tally(
        ex,
        [
            Answer(
                choice=dict(a)["choice"],
                factors=tuple(v for k, v in a if k == "deciding"),
            )
            for a in answers
        ],
    )
    status, _, raw = call(f"{classroom}/teach/class/tally")
    view = text_of(raw.decode())
    assert status == 200 and "3 answers" in view
    assert f"Mean score {expected.mean_points:.1f} of {ex.max_points} points" in view
    counts = dict(expected.choices)
    assert counts[other] == 2 and counts[ex.answer] == 1
    assert expected.wrong[0].kind == "choice" and expected.wrong[0].count == 2
    assert f"({expected.wrong[0].count} of 3); the answer:" in view
    for s in expected.statements:
        assert s.ticked_deciding == 1 + (s.factor.deciding)


def test_a_bad_answer_is_refused_with_every_problem(classroom: str, sheets: list[Exercise]) -> None:
    ex = by_key(sheets, "patient-1")
    key = ex.factors[0].key
    fields = [
        ("choice", "chemo"),
        ("deciding", "zz"),
        ("deciding", key),
        ("set_aside", key),
        ("group", "no spaces!"),
        ("student", "a\u202eb"),
    ]
    status, page = hand_in(classroom, "patient-1", fields)
    words = text_of(page)
    assert status == 422
    for expected in (
        "choice: pick one of",
        "deciding: no statement zz",
        f"{key}: both deciding and set aside",
        "group: letters, digits",
        "student: control or invisible characters",
    ):
        assert expected in words
    assert hand_in(classroom, "patient-1", [("choice", ex.answer), ("color", "x")])[0] == 422


def test_a_form_from_another_site_or_not_a_form_is_refused(classroom: str) -> None:
    fields = [("choice", "car_t"), ("group", "x")]
    status, _ = hand_in(classroom, "patient-1", fields, Origin="http://evil.example")
    assert status == 403
    status, _, _ = call(f"{classroom}/teach/patient-1/answers", b'{"choice": "car_t"}', "POST")
    assert status == 415  # the route's own answer: JSON is not the sheet's form
    assert call(f"{classroom}/teach/no-such-case")[0] == 404
    body = urllib.parse.urlencode(fields).encode()
    assert call(f"{classroom}/teach/no-such-case/answers", body, "POST", FORM)[0] == 404
    assert call(f"{classroom}/teach/class/not%20a%20code")[0] == 404


def test_an_answer_without_a_class_code_is_marked_not_stored(
    classroom: str, audit_file: Path, sheets: list[Exercise]
) -> None:
    ex = by_key(sheets, "patient-3")
    status, page = hand_in(classroom, "patient-3", [("choice", ex.answer)])
    assert status == 200 and "Not stored: no class code was given." in text_of(page)
    log = AuditLog(f"sqlite:///{audit_file}")
    try:
        assert log.class_answers("") == []
    finally:
        log.close()


def test_the_teachers_form_leads_to_the_class_view(classroom: str) -> None:
    status, _, raw = call(f"{classroom}/teach/class?group=Ward-7")
    assert status == 200 and "Class ward-7" in text_of(raw.decode())  # after the redirect


def test_the_classroom_needs_a_token_when_authentication_is_on(secured: str) -> None:  # noqa: F811
    assert not any(p.startswith(OPEN) for p in ("/teach", "/teach/class/g", "/teach/p/answers"))
    for path in ("/teach", "/teach/patient-1", "/teach/class/g", "/teach/class/g.csv"):
        assert call(f"{secured}{path}")[0] == 401


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("Ann", "Ann"),
        (3, "3"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(cell: object, safe: str) -> None:
    assert safe_cell(cell) == safe
    [_, row] = list(csv.reader(io.StringIO(class_csv([[cell] * len(CSV_HEADER)]))))
    assert row == [safe] * len(CSV_HEADER)


def test_answers_are_stored_in_and_read_back_from_postgresql(
    postgres: str,  # noqa: F811
    sheets: list[Exercise],
) -> None:
    ex = by_key(sheets, "patient-5")
    with running_server("--audit", postgres) as base:
        fields = [("choice", ex.answer), ("student", "Bea"), ("group", "pg-class")]
        status, page = hand_in(base, "patient-5", fields)
        assert status == 200 and "Stored for class pg-class as Bea." in text_of(page)
        status, _, raw = call(f"{base}/teach/class/pg-class")
        assert status == 200 and "Class pg-class: 1 answer" in text_of(raw.decode())
    log = AuditLog(postgres)
    try:
        [row] = log.class_answers("pg-class")
    finally:
        log.close()
    expected = mark(ex, Answer(choice=ex.answer))
    assert (row.student, row.case_key, row.choice) == ("Bea", "patient-5", ex.answer)
    assert (row.points, row.max_points) == (expected.points, expected.max_points)


def test_a_discussion_case_takes_a_view_unmarked_and_no_statements(
    classroom: str, sheets: list[Exercise]
) -> None:
    ex = next(ex for ex in sheets if ex.kind == "discussion")
    key = ex.case.key
    status, page = hand_in(classroom, key, [("choice", "neither"), ("group", "talk")])
    assert status == 200 and "A case for discussion" in text_of(page)
    status, _, raw = call(f"{classroom}/teach/class/talk")
    assert status == 200 and "Not marked (a case for discussion)." in text_of(raw.decode())
    fields = [("choice", "neither"), ("deciding", ex.factors[0].key)]
    status, page = hand_in(classroom, key, fields)
    assert status == 422 and "a discussion case takes no statements" in text_of(page)


def test_the_teaching_page_shows_the_class_view() -> None:
    """docs/teaching.md shows the class view's screenshot, a PNG beside it."""
    shot = REPO / "docs" / "classroom-class-view.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](classroom-class-view.png)" in (REPO / "docs" / "teaching.md").read_text()


def test_a_sheet_asked_for_by_its_number_is_the_sheet_of_that_case(
    classroom: str, sheets: list[Exercise]
) -> None:
    """/teach/1 leads to the first case's sheet, as an answer file's ``1:`` names it."""
    first = next(ex for ex in sheets if ex.case.number == 1)
    status, _, by_number = call(f"{classroom}/teach/1?group=ward-b")
    assert status == 200
    status, _, by_key_page = call(f"{classroom}/teach/{first.case.key}?group=ward-b")

    def untokened(page: bytes) -> bytes:  # each fresh session gets its own form token
        return re.sub(rb'name="form_token" value="[^"]+"', b"", page)

    assert status == 200 and untokened(by_number) == untokened(by_key_page)
    status, _, _ = call(f"{classroom}/teach/{len(sheets) + 1}")
    assert status == 404
