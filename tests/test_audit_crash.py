"""The audit trail through the two faults a running service cannot prevent, against the
real server: a full disk (a real file-size limit, RLIMIT_FSIZE, set on the server's
process: its writes fail with EFBIG as on a full file system) and a ``kill -9`` in the
middle of a burst of concurrent answers and decisions (SQLite and PostgreSQL, one and two
workers). Whatever the client was told is what the database holds: every answer or
decision acknowledged with a 200 is stored exactly once, an answer that could not be
stored is a 503 problem (``audit_unavailable``), never a bare 500, and the database opens
cleanly afterwards."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import resource
import signal
import sqlite3
import subprocess
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import PATIENTS_DIR
from served import call, running_server, server_process
from test_audit_postgres import postgres  # noqa: F401 (a fixture)

from sequencer.service.audit import AuditLog

PROFILE: dict[str, Any] = json.loads((PATIENTS_DIR / "patient-1.json").read_text())
DECISION = {
    "context": "us-2026",
    "meeting_date": "2026-11-27",
    "comment": "recorded during a fault run",
}
Sent = tuple[str, str, bytes, int | None, dict[str, Any]]
"""One request of a fault run: path, tag (signature or patient id), body, the status
the client got (None: no answer) and the JSON answer."""
BURST = 200  # requests fired at once, half decisions, half recommendations
KILL_AFTER = 40  # answers received before the server is killed


def _profile(tag: str) -> bytes:
    """Patient 1 under its own id: every body distinct, so each answer's row is found by
    the hash of its body."""
    return json.dumps({**PROFILE, "id": tag}).encode()


def _decision(tag: str) -> bytes:
    """A board decision on patient 1 signed with ``tag`` (found by its signature)."""
    body = {**DECISION, "profile": PROFILE, "chosen": "blinatumomab", "signed_by": tag}
    body["reason"] = "patient-preference"  # needed if the advice is the other option
    return json.dumps(body).encode()


def _post(base: str, path: str, body: bytes) -> tuple[int | None, dict[str, Any]]:
    """POST ``body``; the status and the JSON answer, or (None, {}) when no answer came."""
    try:
        status, _, raw = call(f"{base}{path}", body, "POST")
    except (OSError, http.client.HTTPException):  # refused, reset or cut off: gone
        return None, {}
    try:
        return status, dict(json.loads(raw))
    except ValueError:
        return status, {"raw": raw.decode("utf-8", "replace")}


def _stored(url: str) -> tuple[Counter[str], Counter[str], dict[str, list[int]]]:
    """What the database holds: the 200 answers' body hashes, the decisions' signatures,
    and each signature's decision ids (read with SQLAlchemy, not through the service)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as db:
            answers = db.execute(
                sa.text("SELECT input_sha256 FROM served WHERE status = 200")
            ).all()
            decisions = db.execute(sa.text("SELECT id, signed_by FROM decisions")).all()
    finally:
        engine.dispose()
    ids: dict[str, list[int]] = {}
    for row_id, signer in decisions:
        ids.setdefault(signer, []).append(int(row_id))
    return (
        Counter(str(h) for (h,) in answers),
        Counter(str(s) for _, s in decisions),
        ids,
    )


def _integrity(path: Path) -> str:
    """SQLite's own integrity check of the file, opened read-only."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def _check_acknowledged(url: str, sent: list[Sent]) -> None:
    """Every acknowledged (200) answer and decision is stored exactly once, a decision
    under the id it was acknowledged with; nothing sent is stored twice."""
    hashes, signers, ids = _stored(url)
    for path, tag, body, status, answer in sent:
        if path == "/recommend":
            digest = hashlib.sha256(body).hexdigest()
            assert hashes[digest] <= 1, f"{tag} stored twice"
            if status == 200:
                assert hashes[digest] == 1, f"{tag} acknowledged but not stored"
        else:
            assert signers[tag] <= 1, f"{tag} stored twice"
            if status == 200:
                assert ids.get(tag) == [answer["id"]], f"{tag} acknowledged but not stored"


def _limit_file_size(limit: int) -> Callable[[], None]:
    """A preexec function: no file the process writes may grow past ``limit`` bytes."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_gives_503_audit_unavailable_and_loses_no_acknowledged_answer(
    tmp_path: Path,
) -> None:
    """Files capped 256 KiB above the database's size (RLIMIT_FSIZE): answers and
    decisions are 200 until the audit's writes fail, then 503 audit_unavailable (never a
    bare 500, never a 200 left unstored); /health says degraded with the reason; every
    200 is in the database afterwards, which opens cleanly; without the cap the service
    audits again."""
    path = tmp_path / "audit.sqlite3"
    url = f"sqlite:///{path}"
    AuditLog(url).close()  # the tables exist: the cap is measured from their size
    cap = max(p.stat().st_size for p in tmp_path.iterdir()) + 256 * 1024
    sent: list[Sent] = []
    limited = _limit_file_size(cap)
    with server_process("--audit", url, "--audit-timeout", "30", preexec=limited) as (_, base):
        refused = 0
        for number in range(400):  # bounded: the cap is reached within a few dozen writes
            tag = f"Dr Disk {number}"
            path_, body = (
                ("/decisions", _decision(tag))
                if number % 2
                else ("/recommend", _profile(f"disk-{number}"))
            )
            status, answer = _post(base, path_, body)
            sent.append((path_, tag, body, status, answer))
            assert status in (200, 503), (status, answer)
            if status == 503:
                assert answer["code"] == "audit_unavailable", answer
                refused += 1
                if refused >= 6:
                    break
        assert refused >= 6, "the file-size cap never made the audit fail"
        status, _, raw = call(f"{base}/health")
        health = json.loads(raw)
        assert status == 200 and health["status"] == "degraded"
        assert health["audit"] == "degraded" and "disk" in health["audit_reason"]
    acknowledged = [s for s in sent if s[3] == 200]
    assert {p for p, *_ in acknowledged} == {"/recommend", "/decisions"}
    assert _integrity(path) == "ok"
    _check_acknowledged(f"sqlite:///file:{path}?mode=ro&uri=true", sent)
    hashes, signers, _ = _stored(url)
    assert sum(hashes.values()) == sum(1 for s in acknowledged if s[0] == "/recommend")
    assert sum(signers.values()) == sum(1 for s in acknowledged if s[0] == "/decisions")
    with running_server("--audit", url) as base:  # room again: audited answers again
        assert call(f"{base}/recommend", _profile("disk-after"), "POST")[0] == 200
        assert json.loads(call(f"{base}/health")[2])["audit"] == "ok"


def _burst_and_kill(base: str, proc: subprocess.Popen[bytes], run: str) -> list[Sent]:
    """Fire ``BURST`` requests from 32 client threads (even: decisions, odd:
    recommendations); once ``KILL_AFTER`` answers have come back, SIGKILL the server's
    whole process group. Returns every request with what its client got."""
    answered = threading.Semaphore(0)

    def one(number: int) -> Sent:
        tag = f"Dr Crash {run} {number}"
        path, body = (
            ("/decisions", _decision(tag))
            if number % 2 == 0
            else ("/recommend", _profile(f"crash-{run}-{number}"))
        )
        status, answer = _post(base, path, body)
        if status is not None:
            answered.release()
        return path, tag, body, status, answer

    with ThreadPoolExecutor(32) as pool:
        futures = [pool.submit(one, n) for n in range(BURST)]
        for _ in range(KILL_AFTER):
            assert answered.acquire(timeout=120), "the burst got no answers"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return [future.result(timeout=120) for future in futures]


def _crash_run(url: str, workers: str, run: str) -> None:
    """The burst, the kill, the restart on the same database and the accounting."""
    # A long audit timeout: a 503 here would come from load, not from the kill.
    with server_process("--audit", url, "--audit-timeout", "30", "--workers", workers) as (
        proc,
        base,
    ):
        sent = _burst_and_kill(base, proc, run)
    statuses = Counter(s[3] for s in sent)
    assert set(statuses) <= {200, 503, None}, statuses  # never a bare 500
    assert statuses[200] >= KILL_AFTER // 2 and statuses[None] > 0, statuses  # part-way
    assert {s[0] for s in sent if s[3] == 200} == {"/recommend", "/decisions"}
    with running_server("--audit", url) as base:  # the database opens again, cleanly
        assert json.loads(call(f"{base}/health")[2])["audit"] == "ok"
        assert call(f"{base}/decisions")[0] == 200
        assert call(f"{base}/recommend", _profile(f"after-{run}"), "POST")[0] == 200
    _check_acknowledged(url, sent)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_kill_9_mid_burst_loses_no_acknowledged_decision_on_sqlite(
    tmp_path: Path, workers: str
) -> None:
    """SQLite: 200 concurrent decisions and answers, SIGKILL part-way: every one
    acknowledged is stored exactly once, and the file passes its integrity check."""
    path = tmp_path / "audit.sqlite3"
    _crash_run(f"sqlite:///{path}", workers, f"sqlite-{workers}")
    assert _integrity(path) == "ok"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_kill_9_mid_burst_loses_no_acknowledged_decision_on_postgresql(
    postgres: str,  # noqa: F811
    workers: str,
) -> None:
    """PostgreSQL: 200 concurrent decisions and answers, SIGKILL part-way: every one
    acknowledged is stored exactly once."""
    _crash_run(postgres, workers, f"pg-{workers}-{uuid.uuid4().hex[:8]}")
