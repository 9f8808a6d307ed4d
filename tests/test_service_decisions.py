"""The board's decisions in the audit database, served for real on 127.0.0.1 over a real
SQLite file: the raw profile only with ``--keep-profiles`` (its hash and the report as
rendered always), and a database written before the report columns upgraded in place."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from conftest import PATIENTS_DIR
from served import call, running_server

from sequencer import default_rulebook
from sequencer.service.audit import AuditLog

DECISION = {
    "context": "us-2020",
    "chosen": "blinatumomab",
    "reason": "patient-preference",
    "comment": "wants home care",
    "meeting_date": "2026-11-27",
    "signed_by": "Dr Chair",
}
PATIENT = "aldoss2020-patient-4"


def _profile() -> dict[str, Any]:
    return dict(json.loads((PATIENTS_DIR / "patient-4.json").read_text()))


def _decide(base: str) -> dict[str, Any]:
    body = json.dumps({"profile": _profile(), **DECISION}).encode()
    status, _, raw = call(f"{base}/decisions", body, "POST")
    assert status == 200, raw
    return dict(json.loads(raw))


def _file_bytes(path: Path) -> bytes:
    """The SQLite file and its write-ahead log, as bytes."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _stored_columns(path: Path) -> dict[str, Any]:
    """The newest decision row, read with sqlite3 itself (not through our code)."""
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM decisions ORDER BY id DESC LIMIT 1").fetchone()
        return dict(row)


def test_without_keep_profiles_a_decision_stores_no_profile_but_prints_its_report(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.sqlite3"
    with running_server("--audit", f"sqlite:///{path}") as base:
        stored = _decide(base)
        status, _, report = call(f"{base}{stored['report']}")
        status_hidden, _, hidden = call(f"{base}{stored['report']}?hide_id=true")
    assert status == status_hidden == 200
    assert b"The board's decision" in report
    assert b"wants home care" in report and PATIENT.encode() in report
    assert b"wants home care" in hidden and PATIENT.encode() not in hidden
    row = _stored_columns(path)
    assert row["profile"] is None
    profile_json = json.dumps(_profile(), ensure_ascii=False)
    assert row["profile_sha256"] == hashlib.sha256(profile_json.encode()).hexdigest()
    # the file holds no copy of the profile's JSON anywhere
    assert profile_json[:60].encode() not in _file_bytes(path)
    log = AuditLog(f"sqlite:///{path}")
    try:
        [decision] = log.decisions(stored["id"])
    finally:
        log.close()
    assert decision.profile is None and decision.report is not None
    assert decision.report.encode() == report and decision.report_no_id is not None


def test_with_keep_profiles_the_profile_is_stored_and_the_report_made_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.sqlite3"
    with running_server("--audit", f"sqlite:///{path}", "--keep-profiles") as base:
        stored = _decide(base)
        status, _, report = call(f"{base}{stored['report']}?paper=A4")
    assert status == 200 and b"size: A4" in report and b"wants home care" in report
    row = _stored_columns(path)
    assert json.loads(row["profile"]) == _profile()
    profile_json = json.dumps(_profile(), ensure_ascii=False)
    assert profile_json[:60].encode() in _file_bytes(path)  # the check above can fail
    assert row["report_zlib"] is not None  # the report as rendered is kept as well


# The decisions table as databases written before the report columns have it.
_OLD = sa.MetaData()
sa.Table(
    "feedback",
    _OLD,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("card", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("accepted_suggestions", sa.Text, nullable=False),
    sa.Column("reason_system", sa.Text),
    sa.Column("reason_code", sa.Text),
    sa.Column("reason_display", sa.Text),
    sa.Column("user_comment", sa.Text),
    sa.Column("outcome_at", sa.Text, nullable=False),
    sa.Column("caller", sa.Text),
)
OLD_DECISIONS = sa.Table(
    "decisions",
    _OLD,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("feedback_id", sa.Integer, sa.ForeignKey("feedback.id"), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("meeting_date", sa.String(10), nullable=False),
    sa.Column("signed_by", sa.String(200), nullable=False),
    sa.Column("patient_id", sa.String(200), nullable=False),
    sa.Column("chosen", sa.String(80), nullable=False),
    sa.Column("chosen_name", sa.String(200), nullable=False),
    sa.Column("advice", sa.String(80)),
    sa.Column("advice_name", sa.String(200), nullable=False),
    sa.Column("rulebook_version", sa.String(40), nullable=False),
    sa.Column("rulebook_digest", sa.String(80), nullable=False),
    sa.Column("context", sa.String(80), nullable=False),
    sa.Column("profile", sa.Text, nullable=False),
)


def write_old_database(url: str) -> None:
    """A database as the service wrote it before reports were stored: one decision
    (id 1, the first), its profile in the NOT NULL ``profile`` column."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        _OLD.create_all(engine)
        book = default_rulebook()
        with engine.begin() as db:
            feedback = db.execute(
                _OLD.tables["feedback"]
                .insert()
                .values(
                    at="2026-01-02T10:00:00.000+00:00",
                    service="board-page",
                    card="6a1b3a8e-5f7e-4d7e-9d55-0d5f0b1b2c3d",
                    outcome="overridden",
                    accepted_suggestions="[]",
                    reason_code="patient-preference",
                    reason_display="The patient prefers the other option",
                    user_comment="written by the old service",
                    outcome_at="2026-01-02",
                )
            )
            db.execute(
                OLD_DECISIONS.insert().values(
                    feedback_id=feedback.inserted_primary_key[0],
                    at="2026-01-02T10:00:00.000+00:00",
                    meeting_date="2026-01-02",
                    signed_by="Dr Old",
                    patient_id=PATIENT,
                    chosen="blinatumomab",
                    chosen_name="Blinatumomab",
                    advice="car_t",
                    advice_name="CD19 CAR T cells",
                    rulebook_version=book.version,
                    rulebook_digest=book.digest,
                    context="us-2020",
                    profile=json.dumps(_profile()),
                )
            )
    finally:
        engine.dispose()


def check_upgraded(base: str) -> dict[str, Any]:
    """The old decision prints from its profile, and a new one is recorded beside it;
    returns the new decision's answer."""
    status, _, report = call(f"{base}/decisions/1/report")
    assert status == 200 and b"written by the old service" in report
    stored = _decide(base)
    status, _, listed = call(f"{base}/decisions")
    assert status == 200 and b"Dr Old" in listed and b"Dr Chair" in listed
    return stored


def test_a_database_written_before_the_report_columns_is_upgraded_in_place(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    write_old_database(f"sqlite:///{path}")
    with running_server("--audit", f"sqlite:///{path}") as base:
        stored = check_upgraded(base)
    with sqlite3.connect(path) as db:
        columns = {row[1]: row for row in db.execute("PRAGMA table_info(decisions)")}
        old = db.execute("SELECT profile, report_zlib FROM decisions WHERE id = 1").fetchone()
        new = db.execute("SELECT profile FROM decisions WHERE id = ?", (stored["id"],)).fetchone()
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert columns["profile"][3] == 0  # notnull: 0 (the profile is optional now)
    assert {"profile_sha256", "report_zlib", "report_no_id_zlib"} <= set(columns)
    assert json.loads(old[0]) == _profile() and old[1] is None  # the old row as it was
    assert new[0] is None


def test_a_decision_with_unsafe_or_loose_text_is_refused_on_its_field(tmp_path: Path) -> None:
    """NUL and control characters, a right-to-left override, a comment that is not text,
    an unknown key and implausible meeting dates are each a 422 naming the field; a
    comment with line breaks is accepted. Nothing refused reaches the decisions list."""
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    bad = [
        ({"signed_by": "Dr\x00Chair"}, "signed_by"),
        ({"signed_by": "Dr \u202eriahC"}, "signed_by"),
        ({"other_therapy": "x\x1b[31m", "chosen": "other"}, "other_therapy"),
        ({"comment": 42}, "comment"),
        ({"extra": "x"}, "extra"),
        ({"meeting_date": "0001-01-01"}, "meeting_date"),
        ({"meeting_date": "9999-12-31"}, "meeting_date"),
    ]
    with running_server("--audit", url) as base:
        for change, field in bad:
            body = json.dumps({"profile": _profile(), **DECISION, **change}).encode()
            status, _, raw = call(f"{base}/decisions", body, "POST")
            assert status == 422, change
            assert field in [p["field"] for p in json.loads(raw)["problems"]], change
        ok = {"profile": _profile(), **DECISION, "comment": "line one\nline two\tend"}
        status, _, raw = call(f"{base}/decisions", json.dumps(ok).encode(), "POST")
        assert status == 200, raw
        listed = call(f"{base}/decisions")[2].decode()
        assert "riahC" not in listed and "\x1b" not in listed and "\x00" not in listed
