"""Throwaway databases on this machine, shared by the tests and the benchmarks
(bench/service.py puts this folder on its path): a PostgreSQL server of our own in a
temporary folder, listening on 127.0.0.1 and a unix socket there, stopped afterwards;
and another process holding an SQLite file's lock. Every wait is bounded."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

HOST = "127.0.0.1"


def postgres_binaries() -> Path | None:
    """The folder of the newest PostgreSQL server binaries installed (Debian's
    /usr/lib/postgresql/N/bin), or None when there are none."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _as_postgres(command: list[str]) -> list[str]:
    """Run as the postgres user when we are root (PostgreSQL refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def postgresql_server(binaries: Path) -> Iterator[str]:
    """Start a PostgreSQL server of our own from ``binaries`` (initdb, pg_ctl) in a
    temporary folder, on 127.0.0.1 (a free port) and a unix socket in that folder; yield
    the URL of its empty ``postgres`` database; stop it (fast) and remove the folder.
    Raises ``subprocess.CalledProcessError`` or ``TimeoutExpired`` when it cannot start."""
    folder = Path(tempfile.mkdtemp(prefix="sequencer-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", _free_port()
    pg_ctl = str(binaries / "pg_ctl")
    try:
        subprocess.run(
            _as_postgres(
                [str(binaries / "initdb"), "-D", str(data), "-U", "sequencer", "-A", "trust"]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {folder} -c listen_addresses={HOST}"
        log = str(folder / "server.log")
        subprocess.run(
            _as_postgres(
                [pg_ctl, "-D", str(data), "-o", options, "-l", log, "-w", "-t", "60", "start"]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield f"postgresql://sequencer@{HOST}:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                timeout=120,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another process holds an exclusive lock on the SQLite file ``path`` until the
    block ends (it is waited for at most 30 s afterwards)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        said = holder.stdout.readline().strip() if holder.stdout is not None else b""
        if said != b"locked":
            raise RuntimeError(f"the lock holder did not take the lock on {path}")
        yield
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        try:
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
