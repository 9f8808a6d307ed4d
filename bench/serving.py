"""The service benchmark's plumbing (bench/service.py): start the real server on
127.0.0.1, send it request bodies from client threads over keep-alive connections, and
read its processes' memory and CPU time from /proc. Every wait is bounded."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from profiles import profiles

from sequencer.service.cds_discovery import PREFETCH_KEY_OF_TYPE

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
PATIENTS = HERE.parent / "examples" / "patients"
BUNDLES = HERE.parent / "examples" / "fhir"
# uvicorn without the audit: the same application, the same server, no AuditLog.
_NO_AUDIT = (
    "import sys, uvicorn; from sequencer.service.app import create_app; "
    "uvicorn.run(create_app(), host=sys.argv[1], port=int(sys.argv[2]), log_level='warning')"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[tuple[int, bytes]]:
    """The processes whose parent is ``pid``, with their command lines."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == pid:
                out.append((int(entry.name), (entry / "cmdline").read_bytes()))
        except OSError:
            continue
    return out


def rss_kib(pid: int) -> int:
    """The resident memory (VmRSS) of process ``pid`` in KiB, 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _machine_ticks() -> tuple[int, int]:
    """The machine's CPU time so far, all cores, in clock ticks: (busy, total)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and waiting for I/O
    return sum(fields) - idle, sum(fields)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """One running server: its port, its main process and (``--workers N``) the worker
    processes uvicorn spawned under it."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, workers: int) -> None:
        self.proc, self.port, self.pid, self.workers = proc, port, proc.pid, workers

    def worker_pids(self) -> list[int]:
        """The processes that answer: the main one, or its spawned workers."""
        if self.workers == 1:
            return [self.pid]
        return [pid for pid, command in _children(self.pid) if b"spawn_main" in command]

    def rss_kib(self) -> int:
        """The answering processes' resident memory, summed (KiB)."""
        return sum(rss_kib(pid) for pid in self.worker_pids())

    def cpu_s(self) -> float:
        """CPU seconds used so far by the main process and every child."""
        return _cpu_s(self.pid) + sum(_cpu_s(pid) for pid, _ in _children(self.pid))


@contextlib.contextmanager
def serving(audit: str | None, workers: int = 1, *extra: str) -> Iterator[Server]:
    """Start ``sequencer serve --audit AUDIT --workers N EXTRA`` (or uvicorn over the app
    without an audit when ``audit`` is None) in its own process group, and yield it once
    /health answers and every worker is up (at most about 60 s); stop the whole group
    afterwards. Raises ``RuntimeError`` when it does not come up."""
    port = _free_port()
    if audit is not None:
        args = ["-m", "sequencer.cli", "serve", "--host", HOST, "--port", str(port)]
        args += ["--audit", audit, "--workers", str(workers), *extra]
    else:
        args = ["-c", _NO_AUDIT, HOST, str(port)]
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    server = Server(proc, port, workers)
    try:
        for _ in range(600):  # bounded: at most about 60 s to come up
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"the server stopped: {err}")
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=1)
                conn.request("GET", "/health")
                up = conn.getresponse().status == 200
                conn.close()
                if up and len(server.worker_pids()) == workers:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("the server did not come up")
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a worker left behind
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


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def drive(
    server: Server, payloads: list[bytes], concurrency: int, path: str = "/recommend"
) -> dict[str, Any]:
    """POST every payload to ``path`` from ``concurrency`` threads, each with its own
    keep-alive connection; return latency percentiles (ms), throughput, the statuses,
    the CPU time per request of the server (all its processes) and of the client (this
    process: its threads share the machine's cores with the server), and the share of
    the machine's CPU time (every core, every process, other work included) that was
    busy during the run.
    Raises ``RuntimeError`` when a client thread fails."""
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
    cpu_before, client_before = server.cpu_s(), time.process_time()
    busy_before, total_before = _machine_ticks()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu = server.cpu_s() - cpu_before
    client = time.process_time() - client_before
    busy_after, total_after = _machine_ticks()
    if errors:
        raise RuntimeError(f"{len(errors)} client threads failed; first: {errors[0]}")
    every = [ms for part in latencies for ms in part]
    total: Counter[int] = sum(statuses, Counter())
    return {
        "requests": len(every),
        "concurrency": concurrency,
        "p50_ms": statistics.median(every),
        "p99_ms": pct(every, 0.99),
        "max_ms": max(every),
        "per_s": len(every) / elapsed,
        "seconds": elapsed,
        "server_cpu_ms_per_request": cpu * 1000 / len(every),
        "client_cpu_ms_per_request": client * 1000 / len(every),
        "machine_busy": (busy_after - busy_before) / max(1, total_after - total_before),
        "statuses": {str(code): n for code, n in sorted(total.items())},
    }
