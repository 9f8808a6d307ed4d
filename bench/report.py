"""The performance table of docs/benchmarks.md, written from one `make bench` run.

``python bench/report.py [RESULTS]`` (default bench/results/latest.json) rewrites the part
of docs/benchmarks.md between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` from
the results; `make bench` does it after measuring (``--no-docs`` leaves the page alone).
Every figure in that part comes from the results file: nothing is typed in by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PAGE = HERE.parent / "docs" / "benchmarks.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

TARGETS = {
    "recommend_p50_ms": 0.25,
    "recommend_p99_ms": 1.0,
    "ratio_to_search_off_max": 1.5,
    "ratio_end_to_end_max": 3.0,
    "batch_per_s_min": 5000,
    "import_and_load_ms": 150,
    "help_s": 0.5,
    "rules_diff_s_max": 30,
}
"""What `make bench` is held to (issue 26's targets); written into every results file."""

Row = tuple[str, str, str]
"""A measure, its value, its target (with whether it was met)."""


def rows(r: dict[str, Any], missed: str = "**missed**") -> list[Row]:
    """Return the table's rows for results ``r`` as `bench/run.py` writes them; a target
    not reached says ``missed``."""

    def _mark(ok: bool) -> str:
        return "met" if ok else missed

    def _target(limit: object, unit: str, ok: bool, sign: str = "<=") -> str:
        return f"{sign} {limit}{unit} ({_mark(ok)})"

    t = r["targets"]
    cold, lat, thr = r["cold"], r["latency"], r["throughput"]
    out: list[Row] = [
        (
            "`import sequencer` + rule-base load (the loaded rule base kept on disk)",
            f"{cold['import_and_load_ms']:.0f} ms (load alone {cold['rulebook_load_ms']:.0f} ms)",
            _target(
                t["import_and_load_ms"],
                " ms",
                cold["import_and_load_ms"] <= t["import_and_load_ms"],
            ),
        ),
        (
            "the same in the first process after an install or a rule edit (full load)",
            f"{cold['first_import_and_load_ms']:.0f} ms "
            f"(load alone {cold['first_rulebook_load_ms']:.0f} ms)",
            "",
        ),
        (
            "cold `sequencer --help`",
            f"{cold['help_s']:.2f} s",
            f"<= {t['help_s']} s ({_mark(cold['help_s'] <= t['help_s'])})",
        ),
        ("cold `sequencer recommend FILE`", f"{cold['recommend_file_s']:.2f} s", ""),
        (
            "`recommend()` p50 / p99",
            f"{lat['recommend_p50_ms']:.3f} / {lat['recommend_p99_ms']:.3f} ms",
            f"<= {t['recommend_p50_ms']} / {t['recommend_p99_ms']} ms "
            f"({_mark(lat['recommend_p50_ms'] <= t['recommend_p50_ms'])} / "
            f"{_mark(lat['recommend_p99_ms'] <= t['recommend_p99_ms'])})",
        ),
        (
            "the same with the search for unknown facts off (the floor) p50 / p99",
            f"{lat['search_off_p50_ms']:.3f} / {lat['search_off_p99_ms']:.3f} ms "
            f"(ratio at p50 {lat['ratio_to_search_off_p50']:.2f}x)",
            f"<= {t['ratio_to_search_off_max']}x "
            f"({_mark(lat['ratio_to_search_off_p50'] <= t['ratio_to_search_off_max'])})",
        ),
        (
            "fast search output equal to the exhaustive search output",
            f"{lat['fast_search_equals_exhaustive']:,} of {lat['profiles']:,} profiles",
            f"all ({_mark(lat['fast_search_equals_exhaustive'] == lat['profiles'])})",
        ),
        (
            "plain-Python reference path (same validation, ranking and output) p50 / p99",
            f"{lat['reference_p50_ms']:.3f} / {lat['reference_p99_ms']:.3f} ms",
            "",
        ),
        (
            "durable_rules path / reference path, end to end (mean)",
            f"{lat['ratio_end_to_end']:.2f}x",
            _target(
                t["ratio_end_to_end_max"],
                "x",
                lat["ratio_end_to_end"] <= t["ratio_end_to_end_max"],
            ),
        ),
        (
            "rule evaluation alone, durable_rules (remembered verdicts) vs reference, p50",
            f"{lat['rules_engine_p50_ms']:.3f} vs {lat['rules_reference_p50_ms']:.3f} ms",
            "",
        ),
        (
            "batch, 1 process / 2 processes (JSON out)",
            f"{thr['per_s_1_process']:,.0f} / {thr['per_s_2_process']:,.0f} profiles/s",
            _target(
                f"{t['batch_per_s_min']:,}",
                "/s",
                thr["per_s_2_process"] >= t["batch_per_s_min"],
                ">=",
            ),
        ),
    ]
    if "memory" in r:
        mem = r["memory"]
        out.append(
            (
                f"resident memory over a {mem['profiles']:,}-profile batch (2 processes)",
                f"parent {mem['parent_growth_kib'] / 1024:+.1f} MB, "
                f"workers {mem['workers_growth_kib'] / 1024:+.1f} MB",
                "flat",
            )
        )
    if "rules_diff" in r:
        diff = r["rules_diff"]
        limit = t.get("rules_diff_s_max")
        out.append(
            (
                f"`rules diff` over a {diff['cohort']:,}-patient cohort (all CPUs)",
                f"{diff['seconds']:.1f} s ({diff['changed']:,} decisions change)",
                "" if limit is None else f"<= {limit} s ({_mark(diff['seconds'] <= limit)})",
            )
        )
    return out


def markdown(r: dict[str, Any]) -> str:
    """Return the table (with a line saying when and where it was measured) for results
    ``r`` as `bench/run.py` writes them."""
    lat, thr, machine = r["latency"], r["throughput"], r["machine"]
    head = (
        f"Measured by `make bench` on {r['when'][:10]} ({machine['cpus']} CPUs, Python "
        f"{machine['python']}, rule base {r['rulebook']['version']} with "
        f"{r['rulebook']['rules']} active rules; {lat['profiles']:,} generated profiles for "
        f"latency, {thr['profiles']:,} for throughput"
        + (
            f", a {r['rules_diff']['cohort']:,}-patient cohort for the rule-base diff"
            if "rules_diff" in r
            else ""
        )
        + f"; load average {r.get('load', '?')} when it started). A shared virtual machine: "
        "repeated runs vary by up to about 20%."
    )
    lines = [head, "", "| measure | value | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows(r)]
    return "\n".join(lines)


def write(results: dict[str, Any], page: Path = PAGE) -> None:
    """Rewrite the generated part of ``page`` from ``results``.

    Raises ``ValueError`` when the page lacks the markers.
    """
    text = page.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{page} has no {START} ... {END} part")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    page.write_text(f"{before}{START}\n{markdown(results)}\n{END}{after}")


def main() -> int:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results" / "latest.json"
    write(json.loads(source.read_text()))
    print(f"{PAGE} rewritten from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
