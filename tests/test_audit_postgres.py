"""The audit trail in a real PostgreSQL: a throwaway server on 127.0.0.1 started for
this module (Debian's postgresql package; CI installs it, and fails rather than skips
without it)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from conftest import REPO
from localdb import postgres_binaries, postgresql_server
from served import HOST, call, free_port, running_server
from test_cds import hook_call, without_answer
from test_service_decisions import check_upgraded, write_old_database

from sequencer.service.audit import BOARD_SERVICE, AuditLog
from sequencer.service.audit_rows import IssuedCard


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A URL of an empty database in a PostgreSQL server of our own, stopped afterwards."""
    binaries = postgres_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed here (apt-get install postgresql)")
    with postgresql_server(binaries) as url:
        yield url


def test_answers_cards_and_feedback_round_trip_through_postgresql(postgres: str) -> None:
    log = AuditLog(postgres)
    card = IssuedCard(str(uuid.uuid4()), "Prefer blinatumomab", "info", ("s-1",))
    try:
        log.record(
            endpoint="cds-services/sequencer-choice",
            status=200,
            rulebook_version="0.3.0",
            rulebook_digest="sha256:x",
            context="us-2026",
            body=b'{"hook": "patient-view"}',
            output='{"cards": []}',
            caller="https://ehr.example.org/",
            cards=[("sequencer-choice", "hook-1", card)],
        )
        stored = log.record_feedback(
            "sequencer-choice",
            [
                {
                    "card": card.uuid,
                    "outcome": "accepted",
                    "acceptedSuggestions": [{"id": "s-1"}],
                    "outcomeTimestamp": "2026-11-29T10:00:00Z",
                }
            ],
            "https://ehr.example.org/",
        )
        assert stored == 1
        [row] = [r for r in log.rows() if r.caller == "https://ehr.example.org/"]
        assert row.status == 200 and row.profile is None and row.context == "us-2026"
        assert log.cards([card.uuid])[card.uuid].suggestions == ("s-1",)
        [feedback] = [f for f in log.feedback() if f.card == card.uuid]
        assert feedback.accepted_suggestions == ("s-1",) and feedback.outcome == "accepted"
    finally:
        log.close()


def test_the_service_audits_into_postgresql(postgres: str) -> None:
    with running_server("--audit", postgres) as base:
        body = without_answer(hook_call(1), "disease.cd19")
        status, _, raw = call(
            f"{base}/cds-services/sequencer-choice", json.dumps(body).encode(), "POST"
        )
        assert status == 200
        cards = json.loads(raw)["cards"]
        feedback = {
            "feedback": [
                {
                    "card": cards[0]["uuid"],
                    "outcome": "overridden",
                    "overrideReason": {"userComment": "went to a trial"},
                    "outcomeTimestamp": "2026-11-29T11:00:00Z",
                }
            ]
        }
        reply = call(
            f"{base}/cds-services/sequencer-choice/feedback", json.dumps(feedback).encode(), "POST"
        )
        assert reply[0] == 200
    log = AuditLog(postgres)
    try:
        assert set(log.cards(c["uuid"] for c in cards)) == {c["uuid"] for c in cards}
        [stored] = [f for f in log.feedback() if f.card == cards[0]["uuid"]]
        assert stored.user_comment == "went to a trial" and stored.caller == HOST
    finally:
        log.close()


def test_an_unreachable_database_is_a_usage_error_without_the_password() -> None:
    from sequencer import UsageError

    port = free_port()  # nothing listens there
    with pytest.raises(UsageError) as caught:
        AuditLog(f"postgresql://someone:secret@{HOST}:{port}/audit")
    assert "secret" not in str(caught.value)


def test_a_board_decision_is_a_feedback_row_with_its_decision_in_postgresql(
    postgres: str,
) -> None:
    """The case page's decision through the real service into PostgreSQL, read back
    with its feedback row, listed, and printed on its report."""
    profile = json.loads((REPO / "examples" / "patients" / "patient-4.json").read_text())
    decision = {
        "profile": profile,
        "context": "us-2020",
        "chosen": "other",
        "other_therapy": "Inotuzumab ozogamicin <trial>",
        "reason": "trial",
        "comment": "enrolled on a trial",
        "meeting_date": "2026-11-27",
        "signed_by": "Dr Chair",
    }
    with running_server("--audit", postgres) as base:
        status, _, raw = call(f"{base}/decisions", json.dumps(decision).encode(), "POST")
        assert status == 200, raw
        stored = json.loads(raw)
        status, _, listed = call(f"{base}/decisions")
        assert status == 200 and b"Inotuzumab ozogamicin &lt;trial&gt;" in listed
        status, _, report = call(f"{base}{stored['report']}")
        assert status == 200 and b"The board's decision" in report
    log = AuditLog(postgres)
    try:
        [row] = log.decisions(stored["id"])
        assert row.chosen == "other" and row.chosen_name == "Inotuzumab ozogamicin <trial>"
        assert row.outcome == "overridden" and row.reason_code == "trial"
        assert row.meeting_date == "2026-11-27" and row.signed_by == "Dr Chair"
        assert row.profile is None and row.caller == HOST  # no raw profile by default
        assert row.report == report.decode() and row.profile_sha256
        [feedback] = [f for f in log.feedback() if f.service == BOARD_SERVICE]
        assert feedback.outcome == "overridden" and feedback.user_comment == "enrolled on a trial"
    finally:
        log.close()


def test_a_decisions_table_written_before_the_report_columns_is_upgraded(
    postgres: str,
) -> None:
    """A database the older service wrote (the profile NOT NULL, no report columns) is
    upgraded when the service opens it: the old decision still prints, a new one is
    stored without its profile."""
    admin = sa.create_engine(
        postgres.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as db:
            db.execute(sa.text("CREATE DATABASE old_audit"))
    finally:
        admin.dispose()
    url = postgres.rsplit("/", 1)[0] + "/old_audit"
    write_old_database(url)
    with running_server("--audit", url) as base:
        stored = check_upgraded(base)
    log = AuditLog(url)
    try:
        new, old = log.decisions()
    finally:
        log.close()
    assert new.id == stored["id"] and new.profile is None and new.report
    assert old.id == 1 and old.profile and old.report is None
