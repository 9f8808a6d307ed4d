"""The service benchmark (bench/service.py) runs end to end on a tiny request count.

Only the shape of its figures is checked, never a timing: performance is measured by
`make bench`, not asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from localdb import postgres_binaries


def test_the_service_bench_serves_for_real_and_reports_every_figure(tmp_path: Path) -> None:
    """A tiny run of bench/service.py reports every figure, each consistent and sane."""
    out = tmp_path / "service.json"
    script = str(REPO / "bench" / "service.py")
    args = [script, "--requests", "40", "--latency", "6", "--output", str(out)]
    # Without PostgreSQL the bench fails in CI (as the tests' fixture does); elsewhere
    # its PostgreSQL runs are left out and said to be.
    postgres = postgres_binaries() is not None or bool(os.environ.get("CI"))
    result = subprocess.run(
        [sys.executable, *args, *([] if postgres else ["--no-postgres"])],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    figures: dict[str, Any] = json.loads(out.read_text())
    for run in ("latency", "no_audit_latency"):
        assert set(figures[run]) == {"c1", "c16"}
        for key, requests in (("c1", 6), ("c16", 24)):
            lat = figures[run][key]
            assert lat["requests"] == requests and lat["concurrency"] == int(key[1:])
            assert 0 < lat["p50_ms"] <= lat["p99_ms"] <= lat["max_ms"]
            assert lat["per_s"] > 0 and lat["statuses"] == {"200": requests}
    memory = figures["memory"]
    assert memory["requests"] == 40 and memory["statuses"] == {"200": 40}
    assert [s["requests"] for s in memory["samples"]] == list(range(4, 41, 4))
    assert all(s["rss_kib"] > 0 for s in memory["samples"])
    assert memory["growth_kib"] == memory["rss_after_kib"] - memory["rss_before_kib"]
    # Every answer the audited server gave is in its audit database: warm-up, both
    # latency runs and the long run.
    cds = figures["cds"]
    assert cds["c1"]["requests"] == 5 and cds["c16"]["requests"] == 20
    assert cds["c1"]["statuses"] == {"200": 5} and cds["c16"]["statuses"] == {"200": 20}
    assert figures["served_total"] == 6 + 6 + 24 + 5 + 20 + 40 == memory["audit_rows"]
    assert memory["audit_bytes"] > 0
    assert "POST /recommend, concurrency 16" in result.stdout
    # The audit's cost is the difference of the two runs, per answer and as a share.
    for key in ("c1", "c16"):
        cost, audited, bare = (
            figures[k][key] for k in ("audit_cost", "latency", "no_audit_latency")
        )
        wall = 1000 / audited["per_s"]
        assert cost["ms_per_answer"] == pytest.approx(wall - 1000 / bare["per_s"])
        assert cost["share"] == pytest.approx(cost["ms_per_answer"] / wall)
        assert cost["cpu_ms_per_answer"] == pytest.approx(
            audited["server_cpu_ms_per_request"] - bare["server_cpu_ms_per_request"]
        )
    # 1 and 2 workers on SQLite and on PostgreSQL (which the bench starts itself): every
    # answer a 200 and audited, the answering processes' memory (two workers: two
    # processes, summed) read.
    matrix = figures["matrix"]
    assert set(matrix) == {"sqlite", "postgresql"}
    assert matrix["sqlite"]["w1"]["c16"] == figures["latency"]["c16"]
    if not postgres:
        assert matrix.pop("postgresql") == {"skipped": "--no-postgres"}
    for database, runs in matrix.items():
        assert set(runs) == {"w1", "w2"}, runs
        for name, run in runs.items():
            assert run["workers"] == int(name[1:]) and run["rss_kib"] > 0
            for key, requests in (("c1", 6), ("c16", 24)):
                lat = run[key]
                assert lat["requests"] == requests and lat["statuses"] == {"200": requests}
                assert 0 < lat["p50_ms"] <= lat["p99_ms"] <= lat["max_ms"]
                assert 0 <= lat["machine_busy"] <= 1 and lat["client_cpu_ms_per_request"] >= 0
            if name == "w2" or database == "postgresql":
                assert run["audited"] == 6 + 6 + 24  # warm-up, concurrency 1 and 16
            assert f"{database}, {run['workers']} worker(s), concurrency 16" in result.stdout
    # /health under a held SQLite lock: every poll answered 200; the posts made meanwhile
    # were refused (503), never answered unaudited; /health said "degraded" once they were.
    health = figures["health_while_locked"]
    assert health["polls"] >= 200 and sum(health["health"].values()) == health["polls"]
    assert set(health["health"]) <= {"200 ok", "200 degraded"}
    assert health["health"].get("200 degraded", 0) > 0
    assert set(health["recommend_statuses"]) == {"503"}
    assert 0 < health["p50_ms"] <= health["p99_ms"] <= health["max_ms"]
    assert health["target_ms"] == 100
    assert "GET /health while the SQLite audit is locked" in result.stdout
