"""The performance table of docs/benchmarks.md is written from a bench results file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import report


def _results(p50: float, per_s: float) -> dict[str, Any]:
    return {
        "when": "2026-12-04T16:00:00+00:00",
        "machine": {"python": "3.11.7", "cpus": 2, "platform": "linux"},
        "rulebook": {"version": "0.4.0", "rules": 108},
        "load": 0.5,
        "targets": report.TARGETS,
        "cold": {
            "import_ms": 120.0,
            "rulebook_load_ms": 30.0,
            "import_and_load_ms": 150.0,
            "first_import_and_load_ms": 170.0,
            "first_rulebook_load_ms": 50.0,
            "help_s": 0.2,
            "recommend_file_s": 0.3,
        },
        "latency": {
            "profiles": 10000,
            "recommend_p50_ms": p50,
            "recommend_p99_ms": 0.7,
            "search_off_p50_ms": 0.15,
            "search_off_p99_ms": 0.3,
            "ratio_to_search_off_p50": p50 / 0.15,
            "fast_search_equals_exhaustive": 10000,
            "reference_p50_ms": 0.3,
            "reference_p99_ms": 0.6,
            "ratio_end_to_end": 0.9,
            "rules_engine_p50_ms": 0.02,
            "rules_reference_p50_ms": 0.06,
        },
        "throughput": {"profiles": 50000, "per_s_1_process": 2500.0, "per_s_2_process": per_s},
        "rules_diff": {"cohort": 100000, "seconds": 15.4, "changed": 20306},
    }


def test_the_table_marks_each_target_met_or_missed_from_the_figures() -> None:
    """A figure over its target is marked missed, one within it met; nothing is fixed text."""
    fast = report.markdown(_results(0.2, 6000.0))
    slow = report.markdown(_results(0.4, 4000.0))
    assert "| `recommend()` p50 / p99 | 0.200 / 0.700 ms | <= 0.25 / 1.0 ms (met / met) |" in fast
    assert "0.400 / 0.700 ms | <= 0.25 / 1.0 ms (**missed** / met)" in slow
    assert "6,000 profiles/s | >= 5,000/s (met)" in fast
    assert "4,000 profiles/s | >= 5,000/s (**missed**)" in slow
    assert "15.4 s (20,306 decisions change) | <= 30 s (met)" in fast
    assert "on 2026-12-04 (2 CPUs, Python 3.11.7, rule base 0.4.0 with 108" in fast


def test_writing_replaces_only_the_generated_part(tmp_path: Path) -> None:
    """The text around the markers stays; a page without them is an error."""
    page = tmp_path / "page.md"
    page.write_text(f"before\n{report.START}\nold table\n{report.END}\nafter\n")
    report.write(_results(0.2, 6000.0), page)
    text = page.read_text()
    assert text.startswith(f"before\n{report.START}\nMeasured by `make bench`")
    assert text.endswith(f"{report.END}\nafter\n") and "old table" not in text
    page.write_text("no markers\n")
    with pytest.raises(ValueError, match="bench:start"):
        report.write(_results(0.2, 6000.0), page)


def test_the_benchmarks_page_has_the_generated_part() -> None:
    """docs/benchmarks.md carries the markers `make bench` writes between."""
    text = report.PAGE.read_text()
    assert text.index(report.START) < text.index(report.END)
