"""The audit trail kept off the event loop: every database call runs in the gate's own
threads and is waited for at most ``timeout`` seconds. A call that fails or does not
finish in time makes the answer a 503 problem (``code: "audit_unavailable"``): an answer
is never sent unaudited, and never as a bare 500. The gate remembers the last failure,
so ``/health`` (which never touches the database) says at once whether the audit is
writable.

A stalled database (a lock held by another process, a frozen PostgreSQL) ties up at most
the gate's own threads; the event loop, ``/health`` and the answers that need no audit
go on.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Receive, Scope, Send

__all__ = ["DEFAULT_AUDIT_TIMEOUT", "AuditGate", "AuditUnavailable", "Audited", "unavailable"]

T = TypeVar("T")

DEFAULT_AUDIT_TIMEOUT = 3.0
"""Seconds an answer waits for the audit database before it becomes a 503."""


class AuditUnavailable(Exception):
    """The audit database could not be written (or read) in time; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def unavailable(reason: str) -> JSONResponse:
    """The 503 problem sent instead of an answer that could not be audited."""
    message = f"the audit trail cannot be written, so no answer is given ({reason})"
    return JSONResponse(
        status_code=503,
        content={
            "error": message,
            "code": "audit_unavailable",
            "problems": [{"field": "", "code": "audit_unavailable", "message": message}],
        },
        headers={"Retry-After": "5"},
    )


class AuditGate:
    """Runs audit work in ``threads`` threads of its own, each call bounded by
    ``timeout`` seconds, and keeps the state ``/health`` reports."""

    def __init__(self, timeout: float = DEFAULT_AUDIT_TIMEOUT, threads: int = 4) -> None:
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="audit")
        self.failure: str | None = None

    async def record(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Like :meth:`run`, for a write that takes ``abandoned`` (a ``threading.Event``):
        it is set when the call is given up, so that a write finishing late rolls itself
        back instead of leaving a row for an answer that was never sent."""
        abandoned = threading.Event()
        try:
            return await self.run(work, *args, abandoned=abandoned, **kwargs)
        except AuditUnavailable:
            abandoned.set()
            raise

    async def run(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Return ``work(*args, **kwargs)``, a write, run in the gate's threads; a write
        that succeeds says the audit is writable again.

        Raises ``AuditUnavailable`` when the database fails or the call takes longer than
        the timeout (the thread may still finish later; its result is then dropped); any
        other exception of ``work`` is raised as it is."""
        result = await self._bounded(work, *args, **kwargs)
        self.failure = None
        return result

    async def read(self, work: Callable[..., T], *args: Any) -> T:
        """Return ``work(*args)``, a read, run like a write; a read that succeeds says
        nothing of whether the audit can be written. Raises ``AuditUnavailable``."""
        return await self._bounded(work, *args)

    async def _bounded(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, functools.partial(work, *args, **kwargs))
        try:
            result = await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            self._failed(f"no answer from the database within {self.timeout:g} s")
            raise AuditUnavailable(self.failure or "") from None
        except (SQLAlchemyError, OSError) as error:  # the database, a full disk, read-only
            self._failed(f"{type(error).__name__}: {str(error).splitlines()[0][:200]}")
            raise AuditUnavailable(self.failure or "") from None
        return result

    def _failed(self, reason: str) -> None:
        self.failure = reason

    def state(self) -> dict[str, Any]:
        """``{"audit": "ok"}``, or ``"degraded"`` with the last failure's reason."""
        if self.failure is None:
            return {"audit": "ok"}
        return {"audit": "degraded", "audit_reason": self.failure}

    def close(self) -> None:
        """Stop taking work (threads still stalled are not waited for)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class Audited(Response):
    """An answer that is sent only once its audit record is written: ``write`` runs when
    the answer is about to be sent; if it raises ``AuditUnavailable``, a 503 problem is
    sent instead."""

    def __init__(self, reply: Response, write: Callable[[], Awaitable[None]]) -> None:
        self.reply = reply
        self.write = write
        self.status_code = reply.status_code
        self.body = reply.body
        self.raw_headers = reply.raw_headers
        self.background = reply.background

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Write the audit record, then send the answer (or the 503)."""
        try:
            await self.write()
        except AuditUnavailable as error:
            await unavailable(error.reason)(scope, receive, send)
            return
        await self.reply(scope, receive, send)
