"""sequencer benchmark: one run, one machine, one data set. Run with `make bench`.

Prints a table and writes bench/results/latest.json with:
  - import + rule-base load time, cold `sequencer --help` and `sequencer recommend FILE`;
  - recommend() latency p50/p99 over generated profiles, and the same through the
    plain-Python reference path (the floor), end to end (validation and output
    included in both), with their ratio;
  - the rule-evaluation step alone (durable_rules vs reference);
  - batch throughput with 1 and 2 processes;
  - `rules diff` over a 100,000-patient cohort;
  - memory over a long batch (resident set of the parent and of the workers);
  - the HTTP service, served for real (bench/service.py): POST /recommend latency and
    throughput at concurrency 1 and 16 with 1 and 2 workers on SQLite and PostgreSQL,
    the audit's cost per answer, the server's memory and the audit database along a
    long run of requests, and /health latency while the audit is locked.

Options: --profiles N (latency sample, default 10000), --batch N (throughput, default
50000), --memory N (long batch, default 1000000; 0 skips), --service N (requests in the
service's long run, default 100000; 0 skips), --quick (small numbers), --no-docs. A
full run rewrites the table in docs/benchmarks.md from its results (bench/report.py).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402
import service  # noqa: E402
from profiles import profiles  # noqa: E402

from sequencer import default_rulebook, parse_profile, recommend  # noqa: E402
from sequencer.api import effective_profile, engine_for  # noqa: E402
from sequencer.batch import recommend_many  # noqa: E402
from sequencer.cli.progress import progress  # noqa: E402
from sequencer.decide.ranking import rank  # noqa: E402
from sequencer.decide.unknowns import search_mode  # noqa: E402
from sequencer.engine.reference import ReferenceEngine  # noqa: E402
from sequencer.model.fields import flatten  # noqa: E402

TARGETS = report.TARGETS


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(calls: list[Callable[[], Any]]) -> list[float]:
    out = []
    for call in calls:
        start = time.perf_counter_ns()
        call()
        out.append((time.perf_counter_ns() - start) / 1e6)
    return out


def _paired(data: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """``recommend()`` on each profile with the search (``fast``) and without it (``off``),
    in ms: the two calls on one profile back to back, in alternating order, so that a
    machine that speeds up or slows down during the run, and the costs both modes share
    on a profile seen first (durable_rules asked, its verdicts remembered), fall on both
    modes alike."""
    fast: list[float] = []
    off: list[float] = []
    for i, item in enumerate(data):
        for mode in ("fast", "off") if i % 2 else ("off", "fast"):
            with search_mode(mode):
                start = time.perf_counter_ns()
                recommend(item)
                took = (time.perf_counter_ns() - start) / 1e6
            (fast if mode == "fast" else off).append(took)
    return fast, off


def _run_cmd(args: list[str], repeat: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(args, capture_output=True, check=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cold_start(repeat: int) -> dict[str, float]:
    """Import + load in a fresh interpreter, and the console script's wall time.

    Measured twice: as every process after the first finds it (the loaded rule base
    kept on disk, ``sequencer.knowledge.kept``), and as the first process after an
    install or a rule edit finds it (an empty cache folder each time: a full load that
    also writes the copy).
    """
    probe = (
        "import time; t0 = time.perf_counter(); import sequencer; t1 = time.perf_counter(); "
        "sequencer.default_rulebook(); t2 = time.perf_counter(); "
        "print((t1 - t0) * 1000, (t2 - t1) * 1000)"
    )

    def run_probe(env: dict[str, str]) -> tuple[float, float]:
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
        ).stdout.split()
        return float(out[0]), float(out[1])

    with tempfile.TemporaryDirectory(prefix="sequencer-bench-cache-") as folder:
        kept_env = {**os.environ, "SEQUENCER_CACHE_DIR": str(Path(folder) / "kept")}
        run_probe(kept_env)  # the first process writes the copy
        warm = [run_probe(kept_env) for _ in range(repeat)]
        first = [
            run_probe({**os.environ, "SEQUENCER_CACHE_DIR": str(Path(folder) / f"first-{n}")})
            for n in range(repeat)
        ]
        script = str(Path(sys.executable).parent / "sequencer")
        patient = str(HERE.parent / "examples" / "patients" / "patient-1.json")
        help_s = _run_cmd([script, "--help"], repeat, kept_env)
        recommend_s = _run_cmd([script, "recommend", patient, "--format", "json"], repeat, kept_env)
    return {
        "import_ms": statistics.median(a for a, _ in warm),
        "rulebook_load_ms": statistics.median(b for _, b in warm),
        "import_and_load_ms": statistics.median(a + b for a, b in warm),
        "first_import_and_load_ms": statistics.median(a + b for a, b in first),
        "first_rulebook_load_ms": statistics.median(b for _, b in first),
        "help_s": help_s,
        "recommend_file_s": recommend_s,
    }


def latency(count: int) -> dict[str, float]:
    """recommend() vs the reference path, end to end, on the same profiles."""
    book = default_rulebook()
    reference = ReferenceEngine(book)
    engine = engine_for(book)
    data = list(profiles(count, seed=7))
    for item in profiles(count, seed=8):  # warm both modes' caches on as many other profiles
        recommend(item)
        with search_mode("off"):
            recommend(item)

    def via_reference(item: dict[str, Any]) -> Any:
        parsed, ctx, derived = effective_profile(item, rulebook=book)
        return rank(
            book, parsed, reference.fired(flatten(parsed)), context=ctx, derivations=derived
        )

    gc.collect()
    engine_ms, off_ms = _paired(data)
    gc.collect()
    ref_ms = _timed([lambda item=item: via_reference(item) for item in data])
    with search_mode("exhaustive"):
        exhaustive = [recommend(item).model_dump() for item in data]
    fast_equal = sum(
        recommend(item).model_dump() == e for item, e in zip(data, exhaustive, strict=True)
    )
    facts = [flatten(effective_profile(item, rulebook=book)[0]) for item in data]
    fired_engine = _timed([lambda f=f: engine.fired(f) for f in facts])
    fired_ref = _timed([lambda f=f: reference.fired(f) for f in facts])
    parse_ms = _timed([lambda item=item: parse_profile(item) for item in data])
    same = all(engine.fired(f) == reference.fired(f) for f in facts[:2000])
    return {
        "profiles": count,
        "recommend_p50_ms": statistics.median(engine_ms),
        "recommend_p99_ms": _pct(engine_ms, 0.99),
        "recommend_mean_ms": statistics.fmean(engine_ms),
        "search_off_p50_ms": statistics.median(off_ms),
        "search_off_p99_ms": _pct(off_ms, 0.99),
        "ratio_to_search_off_p50": statistics.median(engine_ms) / statistics.median(off_ms),
        "fast_search_equals_exhaustive": fast_equal,
        "reference_p50_ms": statistics.median(ref_ms),
        "reference_p99_ms": _pct(ref_ms, 0.99),
        "reference_mean_ms": statistics.fmean(ref_ms),
        "ratio_end_to_end": statistics.fmean(engine_ms) / statistics.fmean(ref_ms),
        "rules_engine_p50_ms": statistics.median(fired_engine),
        "rules_reference_p50_ms": statistics.median(fired_ref),
        "ratio_rules_only": statistics.fmean(fired_engine) / statistics.fmean(fired_ref),
        "validation_p50_ms": statistics.median(parse_ms),
        "engine_equals_reference_on_2000": same,
    }


def throughput(count: int) -> dict[str, float]:
    """Profiles per second through recommend_many (JSON out), 1 and 2 processes."""
    out: dict[str, float] = {"profiles": count}
    for workers in (1, 2):
        start = time.perf_counter()
        done = sum(
            1 for r in recommend_many(profiles(count), processes=workers, as_json=True) if r.ok
        )
        elapsed = time.perf_counter() - start
        out[f"per_s_{workers}_process"] = done / elapsed
    return out


def _rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory(count: int) -> dict[str, Any]:
    """RSS of the parent and the workers along a long two-process batch."""
    samples: list[dict[str, int]] = []
    step = max(count // 10, 1)
    for done, _ in enumerate(
        recommend_many(profiles(count, seed=11), processes=2, as_json=True), start=1
    ):
        if done % step == 0:
            workers = [_rss_kib(p.pid) for p in multiprocessing.active_children() if p.pid]
            samples.append({"done": done, "parent_kib": _rss_kib(), "workers_kib": sum(workers)})
    first, last = samples[0], samples[-1]
    return {
        "profiles": count,
        "samples": samples,
        "parent_growth_kib": last["parent_kib"] - first["parent_kib"],
        "workers_growth_kib": last["workers_kib"] - first["workers_kib"],
    }


def cli_memory(count: int) -> dict[str, Any]:
    """RSS of the CLI's parent process along `recommend --batch - --processes 2`, fed
    ``count`` generated JSON lines through a pipe, output to /dev/null."""
    import subprocess
    import threading

    cmd = [
        sys.executable,
        "-m",
        "sequencer.cli",
        "recommend",
        "--batch",
        "-",
        "--processes",
        "2",
    ]
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=sink, stderr=subprocess.PIPE)
        assert proc.stdin is not None

        def feed() -> None:
            assert proc.stdin is not None
            for item in profiles(count, seed=13):
                proc.stdin.write((json.dumps(item) + "\n").encode())
            proc.stdin.close()

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        samples: list[dict[str, float]] = []
        started = time.perf_counter()
        while proc.poll() is None:
            time.sleep(0.5)
            try:
                samples.append(
                    {"seconds": round(time.perf_counter() - started, 1), "kib": _rss_kib(proc.pid)}
                )
            except (OSError, ValueError):
                break
        feeder.join()
        stderr = proc.stderr.read().decode() if proc.stderr else ""
    samples = [s for s in samples if s["kib"]]
    warm = samples[len(samples) // 10 :] or samples
    return {
        "lines": count,
        "exit": proc.returncode,
        "summary": stderr.strip().splitlines()[-1:] or [""],
        "seconds": round(time.perf_counter() - started, 1),
        "parent_kib_first": warm[0]["kib"] if warm else 0,
        "parent_kib_last": warm[-1]["kib"] if warm else 0,
        "parent_kib_max": max((s["kib"] for s in warm), default=0),
        "samples": warm[:: max(len(warm) // 20, 1)],
    }


def rules_diff_time(size: int) -> dict[str, float]:
    """Seconds for `rules diff` of the shipped rule base against a copy with one rule
    retired, over a cohort of ``size`` patients, with one worker per CPU."""
    import shutil
    import tempfile

    from sequencer import load_rulebook
    from sequencer.explain.impact import rules_diff

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rules"
        shutil.copytree(default_rulebook().root, root)
        path = root / "considerations" / "access.yaml"
        text = path.read_text()
        path.write_text(
            text.replace(
                "  - id: car-t-unavailable\n", "  - id: car-t-unavailable\n    status: retired\n"
            )
        )
        new = load_rulebook(root)
        start = time.perf_counter()
        impact = rules_diff(default_rulebook(), new, size=size, processes=0)
        seconds = time.perf_counter() - start
    return {"cohort": size, "seconds": seconds, "changed": len(impact.changes)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--memory", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--cli-memory", type=int, default=0, help="CLI batch lines (0 skips)")
    parser.add_argument("--diff", type=int, default=100_000, help="rules diff cohort (0 skips)")
    parser.add_argument("--service", type=int, default=100_000, help="service requests (0 skips)")
    parser.add_argument(
        "--service-latency", type=int, default=5_000, help="service requests at concurrency 1"
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--no-docs",
        action="store_true",
        help="leave docs/benchmarks.md alone (a full run rewrites its table; --quick never does)",
    )
    parser.add_argument("--output", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args()
    if args.quick:
        args.profiles, args.batch, args.memory, args.repeat = 2000, 5000, 20_000, 3
        args.diff, args.service, args.service_latency = 5000, 5000, 500

    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "rulebook": {
            "version": default_rulebook().version,
            "rules": len(default_rulebook().active),
        },
        "targets": TARGETS,
        "load": round(os.getloadavg()[0], 2),
    }
    stages: list[tuple[str, str, Callable[[], Any]]] = [
        ("cold", "cold start", lambda: cold_start(args.repeat)),
        ("latency", "latency", lambda: latency(args.profiles)),
        ("throughput", "throughput", lambda: throughput(args.batch)),
    ]
    if args.memory:
        stages.append(
            ("memory", f"memory over {args.memory} profiles", lambda: memory(args.memory))
        )
    if args.diff:
        stages.append(
            (
                "rules_diff",
                f"rules diff over a cohort of {args.diff}",
                lambda: rules_diff_time(args.diff),
            )
        )
    if args.service:
        stages.append(
            (
                "service",
                f"service over loopback, {args.service} requests",
                lambda: service.measure(args.service, args.service_latency),
            )
        )
    if args.cli_memory:
        stages.append(
            (
                "cli_memory",
                f"CLI batch memory over {args.cli_memory} lines",
                lambda: cli_memory(args.cli_memory),
            )
        )
    # A progress bar over the stages on a terminal (naming the one running); piped, silent.
    with progress("bench", len(stages)) as advance:
        for done, (key, label, measure) in enumerate(stages):
            advance(done, label)
            results[key] = measure()
        advance(len(stages), "done")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    _print(results)
    print(f"\nwritten to {args.output}")
    if not args.quick and not args.no_docs:
        report.write(results)
        print(f"table rewritten in {report.PAGE}")
    return 0


def _print(r: dict[str, Any]) -> None:
    """Print the table of ``r`` on the terminal: the rows of docs/benchmarks.md, then the
    service's."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"sequencer benchmark ({r['machine']['cpus']} CPUs, Python "
        f"{r['machine']['python']}, {r['rulebook']['rules']} rules)"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    for row in report.rows(r, missed="MISSED"):
        table.add_row(*row)
    if "service" in r:
        for name, value in service.rows(r["service"]):
            table.add_row(name, value, "")
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
