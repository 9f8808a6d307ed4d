"""`sequencer serve --workers N`: several processes on one port sharing one audit
database. SQLite in WAL mode with a busy timeout holds every concurrent answer, and a
CDS Hooks client token is accepted once across workers and restarts (its id is kept in
the database, not in one process's memory)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
from conftest import PATIENTS_DIR
from cryptography.hazmat.primitives.asymmetric import ec
from served import HOST, call, free_port, running_server
from test_cds import ALLOWED_JKU, ISSUER, _token, hook_call

from sequencer.service.audit import AuditLog

PROFILE = (PATIENTS_DIR / "patient-1.json").read_bytes()


def _rows(url: str) -> int:
    log = AuditLog(url)
    try:
        return len(log.rows())
    finally:
        log.close()


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(entry.name))
    return out


def test_two_workers_serve_one_port_and_every_concurrent_answer_is_audited(
    tmp_path: Path,
) -> None:
    """Two worker processes start under one server; 64 answers from 8 concurrent
    clients are all 200 and leave exactly 64 rows in the SQLite audit."""
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    port = free_port()
    log = tmp_path / "stderr.txt"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sequencer.cli",
                "serve",
                "--port",
                str(port),
                "--audit",
                url,
                "--workers",
                "2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    base = f"http://{HOST}:{port}"
    try:
        for _ in range(600):  # bounded: two workers each build their documents
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.1)
        assert len(_children(proc.pid)) >= 2
        assert "workers: 2" in log.read_text()
        before = _rows(url)
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(lambda _: call(f"{base}/recommend", PROFILE, "POST")[0], range(64))
            )
        assert statuses == [200] * 64
        assert _rows(url) == before + 64
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_token_is_accepted_once_across_workers_and_restarts(tmp_path: Path) -> None:
    """The same signed token sent from 6 concurrent clients to 2 workers is accepted
    once; after the service restarts, the unexpired token is still refused."""
    key = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": "ehr-key-1", "use": "sig", "alg": "ES384"})
    (tmp_path / "ehr.jwks.json").write_text(json.dumps({"keys": [public]}))
    port = free_port()
    config = {
        "public_url": f"http://{HOST}:{port}",
        "issuers": {ISSUER: {"jwks_file": "ehr.jwks.json", "jku": [ALLOWED_JKU]}},
        "algorithms": ["ES384"],
    }
    (tmp_path / "auth.json").write_text(json.dumps(config))
    audit = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    args = ("--audit", audit, "--auth", str(tmp_path / "auth.json"))
    path = "/cds-services/sequencer-choice"
    token = _token(key, f"http://{HOST}:{port}{path}")
    body = json.dumps(hook_call(1)).encode()
    headers = {"Authorization": f"Bearer {token}"}
    with running_server(*args, "--workers", "2", port=port) as base:
        with ThreadPoolExecutor(6) as pool:
            statuses = list(
                pool.map(lambda _: call(f"{base}{path}", body, "POST", headers)[0], range(6))
            )
        assert sorted(statuses) == [200] + [401] * 5
    with running_server(*args, port=port) as base:
        assert call(f"{base}{path}", body, "POST", headers)[0] == 401
