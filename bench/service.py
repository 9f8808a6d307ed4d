"""Service benchmark: the real `sequencer serve` process, called over loopback.

Starts ``sequencer serve`` on 127.0.0.1 (a free port) with its audit database in a
temporary directory (the audit is on, as it always is when served) and measures:
  - POST /recommend latency p50/p99 and throughput at concurrency 1 and 16 (client
    threads, each with its own keep-alive ``http.client`` connection);
  - the server's resident memory (VmRSS from /proc) before any request, after a
    warm-up, and every 10,000 requests along a long run at concurrency 16, with the
    audit database's size and row count after it;
  - a CDS Hooks call (POST /cds-services/sequencer-choice with one of the five
    published patients' FHIR records as prefetch: mapping, recommendation, cards):
    p50/p99 at concurrency 1 and 16;
  - for comparison, the same latencies from the same application served by uvicorn
    without an audit log (the CLI has no switch to turn the audit off).

The bodies are a realistic mix: one request in ten is one of the five published
patients (examples/patients), the rest are fresh generated profiles (bench/profiles.py,
most fields unknown, the expensive case). Client and server share the machine's cores,
so the figures include the client's own cost.

Run from `make bench` (bench/run.py calls :func:`measure`), or alone:
``python bench/service.py --requests 100000 [--latency 5000] [--output FILE]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from profiles import profiles  # noqa: E402

from sequencer.service.cds_discovery import PREFETCH_KEY_OF_TYPE  # noqa: E402

HOST = "127.0.0.1"
PATIENTS = HERE.parent / "examples" / "patients"
BUNDLES = HERE.parent / "examples" / "fhir"
CDS_PATH = "/cds-services/sequencer-choice"
SAMPLE_EVERY = 10_000
CONCURRENCY = (1, 16)
# uvicorn without the audit: the same application, the same server, no AuditLog.
_NO_AUDIT = (
    "import sys, uvicorn; from sequencer.service.app import create_app; "
    "uvicorn.run(create_app(), host=sys.argv[1], port=int(sys.argv[2]), log_level='warning')"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """One running server process: its port and pid."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc, self.port, self.pid = proc, port, proc.pid


@contextlib.contextmanager
def serving(audit_db: Path | None) -> Iterator[Server]:
    """Start the server (``sequencer serve --audit sqlite:///AUDIT_DB``, or uvicorn over
    the app without an audit when ``audit_db`` is None) and yield it once /health
    answers (at most about 30 s); stop it afterwards."""
    port = _free_port()
    if audit_db is not None:
        args = ["-m", "sequencer.cli", "serve", "--host", HOST, "--port", str(port)]
        args += ["--audit", f"sqlite:///{audit_db}"]
    else:
        args = ["-c", _NO_AUDIT, HOST, str(port)]
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        for _ in range(300):  # bounded: at most about 30 s to come up
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"the server stopped: {err}")
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=1)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
                conn.close()
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not come up")
        yield Server(proc, port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


def bodies(count: int, seed: int) -> list[bytes]:
    """``count`` request bodies: every tenth a published patient, the rest generated."""
    published = [path.read_bytes() for path in sorted(PATIENTS.glob("patient-*.json"))]
    generated = profiles(count, seed=seed)
    out = []
    for index, item in enumerate(generated):
        if index % 10 == 0:
            out.append(published[(index // 10) % len(published)])
        else:
            out.append(json.dumps(item).encode())
    return out


def cds_bodies(count: int) -> list[bytes]:
    """``count`` CDS Hooks patient-view calls, cycling through the five published
    patients' records (examples/fhir) as a client would prefetch them, read as of the
    day the records are written for."""
    calls = []
    for number in range(1, 6):
        bundle = json.loads((BUNDLES / f"patient-{number}.bundle.json").read_text())
        prefetch: dict[str, Any] = dict.fromkeys(PREFETCH_KEY_OF_TYPE.values())
        for entry in bundle["entry"]:
            key = PREFETCH_KEY_OF_TYPE.get(entry["resource"]["resourceType"])
            if key == "patient":
                prefetch[key] = entry["resource"]
            elif key is not None:
                prefetch[key] = prefetch[key] or {"resourceType": "Bundle", "type": "searchset"}
                prefetch[key].setdefault("entry", []).append({"resource": entry["resource"]})
        calls.append(
            {
                "hook": "patient-view",
                "hookInstance": f"bench-{number}",
                "context": {"userId": "Practitioner/bench", "patientId": prefetch["patient"]["id"]},
                "prefetch": prefetch,
                "extension": {"sequencer.as_of": bundle["timestamp"][:10]},
            }
        )
    return [json.dumps(calls[i % len(calls)]).encode() for i in range(count)]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def drive(
    server: Server, payloads: list[bytes], concurrency: int, path: str = "/recommend"
) -> dict[str, Any]:
    """POST every payload to ``path`` from ``concurrency`` threads, each with its own
    keep-alive connection; return latency percentiles (ms), throughput, the statuses
    and the server's CPU time per request."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    statuses: list[Counter[int]] = [Counter() for _ in range(concurrency)]
    errors: list[str] = []
    start = threading.Barrier(concurrency + 1)
    headers = {"Content-Type": "application/json"}

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=60)
        mine, seen = latencies[index], statuses[index]
        start.wait()
        try:
            for body in islice(payloads, index, None, concurrency):
                began = time.perf_counter_ns()
                conn.request("POST", path, body, headers)
                reply = conn.getresponse()
                reply.read()
                mine.append((time.perf_counter_ns() - began) / 1e6)
                seen[reply.status] += 1
        except (OSError, http.client.HTTPException) as error:
            errors.append(f"{type(error).__name__}: {error}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    cpu_before = _cpu_s(server.pid)
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu = _cpu_s(server.pid) - cpu_before
    if errors:
        raise RuntimeError(f"{len(errors)} client threads failed; first: {errors[0]}")
    every = [ms for part in latencies for ms in part]
    total: Counter[int] = sum(statuses, Counter())
    return {
        "requests": len(every),
        "concurrency": concurrency,
        "p50_ms": statistics.median(every),
        "p99_ms": _pct(every, 0.99),
        "max_ms": max(every),
        "per_s": len(every) / elapsed,
        "seconds": elapsed,
        "server_cpu_ms_per_request": cpu * 1000 / len(every),
        "statuses": {str(code): n for code, n in sorted(total.items())},
    }


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


def measure(requests: int = 100_000, latency: int = 5_000, no_audit: bool = True) -> dict[str, Any]:
    """Run the whole service benchmark; return its figures.

    After a warm-up (``min(500, latency)`` requests), latency at concurrency 1 over
    ``latency`` requests and at 16 over four times as many; memory along ``requests``
    requests at concurrency 16 (sampled every 10,000, or ten times when fewer).
    Raises ``RuntimeError`` when the server does not come up or a client thread fails.
    """
    step = min(SAMPLE_EVERY, max(requests // 10, 1))
    warmup = min(500, latency)
    out: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "body_mix": "1 in 10 published, rest generated",
        "warmup": warmup,
    }
    with tempfile.TemporaryDirectory(prefix="sequencer-bench-") as tmp:
        db = Path(tmp) / "audit.sqlite3"
        with serving(db) as server:
            rss_start = _rss_kib(server.pid)
            drive(server, bodies(warmup, seed=100), 4)  # warm-up: imports, caches, pages
            rss_warm = _rss_kib(server.pid)
            out["latency"] = _latencies(server, latency, seed=200)
            calls = max(latency // 5, 5)
            out["cds"] = {
                f"c{n}": drive(server, cds_bodies(calls if n == 1 else calls * 4), n, CDS_PATH)
                for n in CONCURRENCY
            }
            samples: list[dict[str, Any]] = []
            done, seed, chunks = 0, 1000, []
            rss_before_long = _rss_kib(server.pid)
            while done < requests:
                size = min(step, requests - done)
                chunk = drive(server, bodies(size, seed=seed), 16)
                chunks.append(chunk)
                done += size
                seed += 1
                db_bytes, rows = _audit_size(db)
                samples.append(
                    {"requests": done, "rss_kib": _rss_kib(server.pid), "audit_bytes": db_bytes}
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
        if no_audit:
            with serving(None) as server:
                drive(server, bodies(warmup, seed=100), 4)
                out["no_audit_latency"] = _latencies(server, latency, seed=200)
    return out


def rows(service: dict[str, Any]) -> list[tuple[str, str]]:
    """The table's rows (measure, value) for these figures."""
    out = []
    for key, lat in service["latency"].items():
        n = lat["concurrency"]
        line = f"{lat['p50_ms']:.2f} / {lat['p99_ms']:.2f} ms, {lat['per_s']:,.0f}/s"
        bare = service.get("no_audit_latency", {}).get(key)
        if bare:
            line += (
                f" (no audit: {bare['p50_ms']:.2f} / {bare['p99_ms']:.2f}, {bare['per_s']:,.0f}/s)"
            )
        out.append((f"POST /recommend, concurrency {n}: p50 / p99, throughput", line))
        out.append(
            (
                f"  server CPU per request, concurrency {n} (ms)",
                f"{lat['server_cpu_ms_per_request']:.2f}",
            )
        )
    for lat in service.get("cds", {}).values():
        out.append(
            (
                f"CDS Hooks call, concurrency {lat['concurrency']}: p50 / p99, throughput",
                f"{lat['p50_ms']:.2f} / {lat['p99_ms']:.2f} ms, {lat['per_s']:,.0f}/s",
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
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="long run (memory)")
    parser.add_argument("--latency", type=int, default=5_000, help="requests at concurrency 1")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without audit")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    if args.requests < 1 or args.latency < 1:
        parser.error("--requests and --latency must be at least 1")
    figures = measure(args.requests, args.latency, no_audit=not args.no_baseline)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(figures, indent=2) + "\n")
    for name, value in rows(figures):
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
