"""Service benchmark: the real `sequencer serve` process, called over loopback.

Starts ``sequencer serve`` on 127.0.0.1 (a free port) with its audit database in a
temporary directory (the audit is on, as it always is when served) and measures:
  - POST /recommend latency p50/p99 and throughput at concurrency 1 and 16 (client
    threads, each with its own keep-alive ``http.client`` connection), with
    ``--workers 1`` and ``--workers 2``, on SQLite and on PostgreSQL (a throwaway
    PostgreSQL server the bench starts in a temporary folder on 127.0.0.1 and stops at
    the end: tests/localdb.py), with the answering processes' memory after each;
  - the server's resident memory (VmRSS from /proc; with workers, their sum) before
    any request, after a warm-up, and every 10,000 requests along a long run at
    concurrency 16, with the audit database's size and row count after it;
  - a CDS Hooks call (POST /cds-services/sequencer-choice with one of the five
    published patients' FHIR records as prefetch: mapping, recommendation, cards):
    p50/p99 at concurrency 1 and 16;
  - for comparison, the same latencies from the same application served by uvicorn
    without an audit log (the CLI has no switch to turn the audit off), and from the
    two, the audit's cost per answer (ms and share of the audited answer's time);
  - GET /health latency (p50/p99/max) while another process holds the SQLite audit's
    lock and clients keep posting answers (which wait, then get 503): the target is
    under 100 ms.

The bodies are a realistic mix: one request in ten is one of the five published
patients (examples/patients), the rest are fresh generated profiles (bench/profiles.py,
most fields unknown, the expensive case). Client and server share the machine's cores,
so the figures include the client's own cost.

Run from `make bench` (bench/run.py calls :func:`measure`), or alone:
``python bench/service.py --requests 100000 [--latency 5000] [--no-postgres]
[--output FILE]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent / "tests"))  # localdb: PostgreSQL, the SQLite lock

from localdb import postgres_binaries, postgresql_server, sqlite_locked  # noqa: E402
from serving import HOST, Server, bodies, cds_bodies, drive, pct, serving  # noqa: E402

CDS_PATH = "/cds-services/sequencer-choice"
SAMPLE_EVERY = 10_000
CONCURRENCY = (1, 16)
WORKERS = (1, 2)
HEALTH_TARGET_MS = 100.0


def _audit_size(db: Path) -> tuple[int, int]:
    """The audit database's bytes on disk (with its write-ahead log) and its rows."""
    size = sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = int(conn.execute("SELECT count(*) FROM served").fetchone()[0])
    return size, rows


def _latencies(server: Server, count: int, seed: int) -> dict[str, Any]:
    return {
        f"c{n}": drive(server, bodies(count if n == 1 else count * 4, seed + n), n)
        for n in CONCURRENCY
    }


def _rows_in(url: str) -> int:
    """The answers stored in the audit database at ``url`` (SQLite or PostgreSQL;
    its tables created when missing)."""
    import sqlalchemy as sa

    from sequencer.service.audit import AuditLog

    AuditLog(url).close()  # the tables, created when missing
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as db:
            return int(db.execute(sa.text("SELECT count(*) FROM served")).scalar_one())
    finally:
        engine.dispose()


def _configuration(audit: str, workers: int, latency: int, warmup: int) -> dict[str, Any]:
    """Latency and throughput at concurrency 1 and 16 of ``sequencer serve --audit AUDIT
    --workers N`` after a warm-up; the answering processes' memory after them, and the
    rows the run added to the audit."""
    before = _rows_in(audit)
    with serving(audit, workers) as server:
        drive(server, bodies(warmup, seed=100), 4)
        figures = _latencies(server, latency, seed=200)
        rss = server.rss_kib()
    return {"workers": workers, **figures, "rss_kib": rss, "audited": _rows_in(audit) - before}


def _postgres_runs(latency: int, warmup: int) -> dict[str, Any]:
    """The configurations on a PostgreSQL server of the bench's own (stopped afterwards),
    or why they were skipped. Raises ``RuntimeError`` in CI without PostgreSQL."""
    binaries = postgres_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            raise RuntimeError("PostgreSQL is required in CI (apt-get install postgresql)")
        return {"skipped": "PostgreSQL is not installed here (apt-get install postgresql)"}
    with postgresql_server(binaries) as url:
        return {f"w{n}": _configuration(url, n, latency, warmup) for n in WORKERS}


def audit_cost(audited: dict[str, Any], bare: dict[str, Any]) -> dict[str, Any]:
    """What the audit adds to an answer, from the same application with and without it:
    per answer (1000 / throughput) and in server CPU time, in ms and as a share of the
    audited answer's."""
    out = {}
    for key, with_audit in audited.items():
        without = bare[key]
        wall, wall_bare = 1000 / with_audit["per_s"], 1000 / without["per_s"]
        cpu, cpu_bare = (
            with_audit["server_cpu_ms_per_request"],
            without["server_cpu_ms_per_request"],
        )
        out[key] = {
            "concurrency": with_audit["concurrency"],
            "ms_per_answer": wall - wall_bare,
            "share": (wall - wall_bare) / wall,
            "cpu_ms_per_answer": cpu - cpu_bare,
            "cpu_share": (cpu - cpu_bare) / cpu if cpu else 0.0,
        }
    return out


def health_while_locked(server: Server, db: Path, polls: int = 200) -> dict[str, Any]:
    """GET /health ``polls`` times, 20 ms apart, while another process holds the SQLite
    audit's lock and four clients keep posting answers (each waits out the audit
    timeout, then gets its 503); polling goes on until /health has said "degraded" at
    least once (at most 60 s). Returns the latencies (ms), what /health said and the posts'
    statuses. Raises ``RuntimeError`` when a client fails."""
    stop = threading.Event()
    guard = threading.Lock()
    posted: Counter[str] = Counter()
    errors: list[str] = []
    body = bodies(1, seed=7)[0]
    headers = {"Content-Type": "application/json"}

    def poster() -> None:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=60)
        try:
            while not stop.is_set():
                conn.request("POST", "/recommend", body, headers)
                reply = conn.getresponse()
                reply.read()
                with guard:
                    posted[str(reply.status)] += 1
        except (OSError, http.client.HTTPException) as error:
            errors.append(f"{type(error).__name__}: {error}")
        finally:
            conn.close()

    latencies: list[float] = []
    said: Counter[str] = Counter()
    with sqlite_locked(db):
        began = time.monotonic()
        threads = [threading.Thread(target=poster) for _ in range(4)]
        for thread in threads:
            thread.start()
        conn = http.client.HTTPConnection(HOST, server.port, timeout=60)
        try:
            while len(latencies) < polls or (
                not said["200 degraded"] and time.monotonic() - began < 60
            ):
                start = time.perf_counter_ns()
                conn.request("GET", "/health")
                reply = conn.getresponse()
                state = json.loads(reply.read())
                latencies.append((time.perf_counter_ns() - start) / 1e6)
                said[f"{reply.status} {state.get('audit')}"] += 1
                time.sleep(0.02)
        finally:
            conn.close()
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        locked_s = time.monotonic() - began
    if errors:
        raise RuntimeError(f"{len(errors)} posting clients failed; first: {errors[0]}")
    return {
        "polls": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": pct(latencies, 0.99),
        "max_ms": max(latencies),
        "target_ms": HEALTH_TARGET_MS,
        "health": dict(sorted(said.items())),
        "recommend_statuses": dict(sorted(posted.items())),
        "locked_seconds": locked_s,
    }


def measure(
    requests: int = 100_000, latency: int = 5_000, no_audit: bool = True, postgres: bool = True
) -> dict[str, Any]:
    """Run the whole service benchmark; return its figures.

    After a warm-up (``min(500, latency)`` requests), latency at concurrency 1 over
    ``latency`` requests and at 16 over four times as many, with 1 and 2 workers, on
    SQLite and (``postgres``) PostgreSQL; memory along ``requests`` requests at
    concurrency 16 (sampled every 10,000, or ten times when fewer); /health while the
    SQLite audit is locked; without the audit (``no_audit``) for the audit's cost.
    Raises ``RuntimeError`` when a server does not come up or a client thread fails.
    """
    step = min(SAMPLE_EVERY, max(requests // 10, 1))
    warmup = min(500, latency)
    out: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "body_mix": "1 in 10 published, rest generated",
        "warmup": warmup,
    }
    with tempfile.TemporaryDirectory(prefix="sequencer-bench-") as tmp:
        db = Path(tmp) / "audit.sqlite3"
        with serving(f"sqlite:///{db}") as server:
            rss_start = server.rss_kib()
            drive(server, bodies(warmup, seed=100), 4)  # warm-up: imports, caches, pages
            rss_warm = server.rss_kib()
            out["latency"] = _latencies(server, latency, seed=200)
            rss_latency = server.rss_kib()
            calls = max(latency // 5, 5)
            out["cds"] = {
                f"c{n}": drive(server, cds_bodies(calls if n == 1 else calls * 4), n, CDS_PATH)
                for n in CONCURRENCY
            }
            samples: list[dict[str, Any]] = []
            done, seed, chunks = 0, 1000, []
            rss_before_long = server.rss_kib()
            while done < requests:
                size = min(step, requests - done)
                chunk = drive(server, bodies(size, seed=seed), 16)
                chunks.append(chunk)
                done += size
                seed += 1
                db_bytes, rows = _audit_size(db)
                samples.append(
                    {"requests": done, "rss_kib": server.rss_kib(), "audit_bytes": db_bytes}
                )
            db_bytes, rows = _audit_size(db)
            out["served_total"] = (
                warmup
                + done
                + sum(lat["requests"] for lat in out["latency"].values())
                + sum(lat["requests"] for lat in out["cds"].values())
            )
            long_seconds = sum(c["seconds"] for c in chunks)
            statuses: Counter[str] = Counter()
            for c in chunks:
                statuses.update(c["statuses"])
            out["memory"] = {
                "requests": done,
                "concurrency": 16,
                "workers": 1,
                "rss_start_kib": rss_start,
                "rss_after_warmup_kib": rss_warm,
                "rss_before_kib": rss_before_long,
                "rss_after_kib": samples[-1]["rss_kib"],
                "growth_kib": samples[-1]["rss_kib"] - rss_before_long,
                "growth_after_first_sample_kib": samples[-1]["rss_kib"] - samples[0]["rss_kib"],
                "samples": samples,
                "per_s": done / long_seconds,
                "statuses": dict(sorted(statuses.items())),
                "audit_bytes": db_bytes,
                "audit_rows": rows,
                "audit_bytes_per_row": db_bytes / rows if rows else 0.0,
            }
            out["health_while_locked"] = health_while_locked(server, db)
        sqlite_w2 = f"sqlite:///{Path(tmp) / 'audit-2-workers.sqlite3'}"
        out["matrix"] = {
            "sqlite": {
                "w1": {"workers": 1, **out["latency"], "rss_kib": rss_latency},
                "w2": _configuration(sqlite_w2, 2, latency, warmup),
            },
            "postgresql": _postgres_runs(latency, warmup)
            if postgres
            else {"skipped": "--no-postgres"},
        }
        if no_audit:
            with serving(None) as server:
                drive(server, bodies(warmup, seed=100), 4)
                out["no_audit_latency"] = _latencies(server, latency, seed=200)
            out["audit_cost"] = audit_cost(out["latency"], out["no_audit_latency"])
    return out


def _line(lat: dict[str, Any]) -> str:
    return f"{lat['p50_ms']:.2f} / {lat['p99_ms']:.2f} ms, {lat['per_s']:,.0f}/s"


def rows(service: dict[str, Any]) -> list[tuple[str, str]]:
    """The table's rows (measure, value) for these figures."""
    out = []
    for key, lat in service["latency"].items():
        n = lat["concurrency"]
        line = _line(lat)
        bare = service.get("no_audit_latency", {}).get(key)
        if bare:
            line += f" (no audit: {_line(bare).replace(' ms', '')})"
        out.append((f"POST /recommend, concurrency {n}: p50 / p99, throughput", line))
        out.append(
            (
                f"  server CPU per request, concurrency {n} (ms)",
                f"{lat['server_cpu_ms_per_request']:.2f}",
            )
        )
    for key, cost in service.get("audit_cost", {}).items():
        out.append(
            (
                f"  the audit's cost per answer, concurrency {key[1:]}",
                f"{cost['ms_per_answer']:.2f} ms ({cost['share']:.0%} of the answer's time);"
                f" CPU {cost['cpu_ms_per_answer']:.2f} ms ({cost['cpu_share']:.0%})",
            )
        )
    for database, runs in service.get("matrix", {}).items():
        if "skipped" in runs:
            out.append((f"POST /recommend on {database}", f"skipped: {runs['skipped']}"))
            continue
        for run in runs.values():
            for key in ("c1", "c16"):
                out.append(
                    (
                        f"POST /recommend, {database}, {run['workers']} worker(s), "
                        f"concurrency {key[1:]}",
                        f"{_line(run[key])} (machine {run[key]['machine_busy']:.0%} busy)",
                    )
                )
            out.append(
                (
                    f"  {database}, {run['workers']} worker(s): answering processes' RSS (MiB)",
                    f"{run['rss_kib'] / 1024:.1f}",
                )
            )
    for lat in service.get("cds", {}).values():
        out.append(
            (
                f"CDS Hooks call, concurrency {lat['concurrency']}: p50 / p99, throughput",
                _line(lat),
            )
        )
    mem = service["memory"]
    out.append(
        (
            f"server RSS over {mem['requests']:,} requests (MiB)",
            f"{mem['rss_before_kib'] / 1024:.1f} -> {mem['rss_after_kib'] / 1024:.1f}"
            f" ({mem['growth_kib'] / 1024:+.1f}; at start {mem['rss_start_kib'] / 1024:.1f})",
        )
    )
    out.append(
        (
            f"audit database after {mem['audit_rows']:,} rows (MiB)",
            f"{mem['audit_bytes'] / 2**20:.1f} ({mem['audit_bytes_per_row']:,.0f} B/row)",
        )
    )
    health = service.get("health_while_locked")
    if health:
        out.append(
            (
                "GET /health while the SQLite audit is locked: p50 / p99 / max",
                f"{health['p50_ms']:.1f} / {health['p99_ms']:.1f} / {health['max_ms']:.1f} ms"
                f" over {health['polls']} polls (target < {health['target_ms']:.0f} ms;"
                f" posts meanwhile: {health['recommend_statuses']})",
            )
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="long run (memory)")
    parser.add_argument("--latency", type=int, default=5_000, help="requests at concurrency 1")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without audit")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL runs")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    if args.requests < 1 or args.latency < 1:
        parser.error("--requests and --latency must be at least 1")
    figures = measure(
        args.requests, args.latency, no_audit=not args.no_baseline, postgres=not args.no_postgres
    )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(figures, indent=2) + "\n")
    for name, value in rows(figures):
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
