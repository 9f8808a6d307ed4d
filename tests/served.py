"""The real service for tests: ``sequencer serve`` in its own process on 127.0.0.1,
called over loopback. Every wait is bounded; the process is stopped on exit."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server_process(
    *args: str,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    stderr_to: Path | None = None,
    preexec: Callable[[], None] | None = None,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start ``sequencer serve --host 127.0.0.1 --port N ARGS`` (N: ``port`` or a free
    one) in a process group of its own (``preexec`` run in the child first) and yield
    the process and its base URL once ``/health`` answers (at most about 60 s: before it
    listens the service builds its transparency documents, seconds of work that a loaded
    machine stretches); stop it afterwards, and kill whatever is left of its group (a
    worker)."""
    port = port or free_port()
    command = ["serve", "--host", HOST, "--port", str(port), *args]
    sink = stderr_to.open("w") if stderr_to is not None else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "sequencer.cli", *command],
        stdout=subprocess.DEVNULL,
        stderr=sink if sink is not None else subprocess.PIPE,
        env=None if env is None else dict(env),
        start_new_session=True,
        preexec_fn=preexec,
    )
    base = f"http://{HOST}:{port}"
    try:
        for _ in range(600):  # bounded: at most about 60 s to come up
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    said = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(said) from None
                time.sleep(0.1)
        else:
            raise RuntimeError("the service did not come up")
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a worker left behind
        if proc.stderr:
            proc.stderr.close()
        if sink is not None:
            sink.close()


@contextlib.contextmanager
def running_server(
    *args: str,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    stderr_to: Path | None = None,
) -> Iterator[str]:
    """Like :func:`server_process`, yielding only the base URL."""
    with server_process(*args, env=env, port=port, stderr_to=stderr_to) as (_, base):
        yield base


def call(
    url: str,
    body: bytes | None = None,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request; returns the status, the headers and the body (errors too)."""
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
