"""The service benchmark (bench/service.py) runs end to end on a tiny request count.

Only the shape of its figures is checked, never a timing: performance is measured by
`make bench`, not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import REPO


def test_the_service_bench_serves_for_real_and_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "service.json"
    script = str(REPO / "bench" / "service.py")
    result = subprocess.run(
        [sys.executable, script, "--requests", "40", "--latency", "6", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
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
