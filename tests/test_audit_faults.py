"""The audit trail cannot stall the running service: with the SQLite file locked by
another process, or PostgreSQL frozen with SIGSTOP, an answer that cannot be audited is a
503 problem (never unaudited, never a bare 500), /health answers at once and says
"degraded", and everything recovers when the database does. A database that cannot be
written stops start-up, saying why; refusals are counted, not stored."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PATIENTS_DIR
from localdb import sqlite_locked
from served import call, running_server
from test_audit_postgres import postgres  # noqa: F401 (a fixture)

from sequencer.service.audit import AuditLog

PROFILE = (PATIENTS_DIR / "patient-1.json").read_bytes()
HEALTH_WAIT = 10  # seconds: a frozen service would not answer at all


def _health(base: str) -> dict[str, object]:
    status, _, raw = call(f"{base}/health")
    assert status == 200
    return dict(json.loads(raw))


def _served_rows(url: str) -> int:
    log = AuditLog(url)
    try:
        return len(log.rows())
    finally:
        log.close()


def test_a_locked_sqlite_audit_gives_503_and_health_says_degraded(tmp_path: Path) -> None:
    """While another process holds the lock: /recommend is a 503 problem
    (audit_unavailable), the decisions list still reads, /health answers and says
    degraded; nothing unaudited is sent.
    Once the lock goes, answers are audited again and /health is ok."""
    path = tmp_path / "audit.sqlite3"
    url = f"sqlite:///{path}"
    with running_server("--audit", url, "--audit-timeout", "1") as base:
        assert call(f"{base}/recommend", PROFILE, "POST")[0] == 200
        before = _served_rows(url)
        with sqlite_locked(path):
            status, _, raw = call(f"{base}/recommend", PROFILE, "POST")
            assert status == 503 and json.loads(raw)["code"] == "audit_unavailable"
            assert call(f"{base}/decisions")[0] == 200  # WAL: reading goes on under the lock
            health = _health(base)
            assert health["status"] == "degraded" and health["audit"] == "degraded"
            assert "audit_reason" in health
        assert _served_rows(url) == before  # the refused answer left no row
        assert call(f"{base}/recommend", PROFILE, "POST")[0] == 200
        assert _health(base)["audit"] == "ok"
        assert _served_rows(url) == before + 1


def _postgres_processes(port: str) -> list[int]:
    """The PostgreSQL server listening on ``port`` and every process it forked."""
    master = None
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat[1])
        if command and command[0].endswith(b"postgres") and port.encode() in command:
            master = int(entry.name)
    assert master is not None, "the PostgreSQL server was not found"
    return [master, *(pid for pid, parent in parents.items() if parent == master)]


def test_a_frozen_postgresql_audit_gives_503_and_recovers(postgres: str) -> None:  # noqa: F811
    """PostgreSQL stopped with SIGSTOP: answers are 503 within the audit timeout,
    /health answers; after SIGCONT the service audits again."""
    with running_server("--audit", postgres, "--audit-timeout", "1") as base:
        assert call(f"{base}/recommend", PROFILE, "POST")[0] == 200
        frozen = _postgres_processes(postgres.rsplit(":", 1)[1].split("/")[0])
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            status, _, raw = call(f"{base}/recommend", PROFILE, "POST")
            assert status == 503 and json.loads(raw)["code"] == "audit_unavailable"
            assert _health(base)["status"] == "degraded"
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        for _ in range(20):  # bounded: the pool reconnects within a few calls
            if call(f"{base}/recommend", PROFILE, "POST")[0] == 200:
                break
        assert _health(base)["audit"] == "ok"


def test_start_up_fails_fast_when_the_audit_cannot_be_written(tmp_path: Path) -> None:
    """A database opened read-only: `sequencer serve` exits 2 saying it cannot write."""
    path = tmp_path / "audit.sqlite3"
    AuditLog(f"sqlite:///{path}").close()  # the tables exist; the file is then read-only
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    done = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "serve", "--port", "1", "--audit", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "cannot write" in done.stderr
    assert "Traceback" not in done.stderr


def test_refusals_are_counted_not_stored(tmp_path: Path) -> None:
    """An oversized body (413) and a cross-site write (403) add no audit row and are
    counted by /health."""
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    with running_server("--audit", url) as base:
        rows = _served_rows(url)
        host, port = base.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.putrequest("POST", "/recommend")  # a declared length over the limit
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", "2000000")
        connection.endheaders()
        assert connection.getresponse().status == 413
        connection.close()
        assert call(f"{base}/recommend", PROFILE, "POST", {"Content-Type": "text/plain"})[0] == 403
        assert _served_rows(url) == rows
        refused = _health(base)["refused"]
        assert isinstance(refused, dict) and refused["413"] == 1 and refused["403"] == 1


def test_the_announcement_names_url_audit_and_contexts(tmp_path: Path) -> None:
    """A running service prints its URL, its audit location and its contexts."""
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    log = tmp_path / "stderr.txt"
    with running_server("--audit", url, stderr_to=log) as base:
        assert _health(base)["status"] == "ok"
    text = log.read_text()
    assert f"listening on {base}" in text and str(tmp_path / "audit.sqlite3") in text
    assert "contexts built: us-2020, us-2026" in text


def test_sqlite3_lock_helper_really_locks(tmp_path: Path) -> None:
    """The lock holder used above does block a writer (else the 503 test proves nothing)."""
    path = tmp_path / "x.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    with sqlite_locked(path):
        writer = sqlite3.connect(path, timeout=0.2)
        with pytest.raises(sqlite3.OperationalError):
            writer.execute("INSERT INTO t VALUES (1)")
            writer.commit()
        writer.close()
