"""What every endpoint shares: reading a bounded body, 422 bodies with every problem,
who called, and storing the answer in the audit trail. (JSON bodies other than profiles
are read with ``sequencer.model.parsing.load_json_strict``: repeated keys refused.)"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from sequencer.errors import ProfileError, UnknownContextError
from sequencer.knowledge.rulebook import Rulebook
from sequencer.service.audit import AuditLog
from sequencer.service.audit_gate import Audited, AuditGate
from sequencer.service.audit_rows import IssuedCard

__all__ = [
    "MAX_BODY",
    "MAX_CDS_BODY",
    "Served",
    "caller_of",
    "problems_response",
    "read_body",
    "truthy",
    "unknown_context_response",
]

DISCONNECTED = 499
"""The status recorded for a call whose client went away before its body was read (as
proxies record it); nobody receives the answer."""

REFUSALS = frozenset({401, 403, 413})
"""Statuses counted, never stored: a flood of bad tokens or oversized bodies must not
fill the audit trail."""

MAX_BODY = 1_000_000
"""The largest request body accepted, in bytes (a profile is a few hundred)."""

MAX_CDS_BODY = 10_000_000
"""The largest CDS Hooks call or FHIR Bundle accepted, in bytes (prefetched bundles can
be large)."""


def problems_response(error: ProfileError, what: str = "invalid patient profile") -> JSONResponse:
    """A 422 listing every problem with its field path, code and message."""
    return JSONResponse(
        status_code=422,
        content={"error": what, "problems": [p.as_json() for p in error.problems]},
    )


def unknown_context_response(error: UnknownContextError) -> JSONResponse:
    """A 404 for a regulatory context that does not exist, listing the known ones."""
    return JSONResponse(status_code=404, content={"error": str(error), "known": error.known})


def too_large(limit: int) -> JSONResponse:
    """A 413 naming the limit."""
    return JSONResponse(status_code=413, content={"error": f"body over {limit} bytes"})


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes | JSONResponse:
    """The request body, or a 413 as soon as it is known to exceed ``limit`` bytes (a
    declared length is refused before anything is read; a body is read in chunks and
    dropped the moment it passes the limit)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            return JSONResponse(status_code=400, content={"error": "bad Content-Length"})
        if int(declared) > limit:
            return too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:  # recorded as such: not an error, no traceback
        return JSONResponse(status_code=DISCONNECTED, content={"error": "client disconnected"})
    return b"".join(chunks)


def caller_of(request: Request) -> str | None:
    """Who called: the verified token's issuer when authenticated, else the address."""
    verified = getattr(request.state, "caller", None)
    if verified is not None:
        return str(verified)
    return request.client.host if request.client else None


@dataclass(frozen=True)
class Served:
    """Stores an answer in the audit trail (when there is one) and returns it: the
    record is written through ``gate`` (off the event loop, bounded) as the answer is
    sent, and a record that cannot be written turns the answer into a 503. Refusals
    (401, 403, 413) are counted in ``refused``, not stored."""

    book: Rulebook
    audit: AuditLog | None
    gate: AuditGate = field(default_factory=AuditGate)
    refused: Counter[str] = field(default_factory=Counter)

    def __call__(
        self,
        request: Request,
        endpoint: str,
        body: bytes,
        reply: Response,
        context: str | None = None,
        cards: tuple[tuple[str, str, IssuedCard], ...] = (),
        kept: bytes | None = None,
    ) -> Response:
        """Store ``reply`` to ``body`` at ``endpoint`` (``kept``: what may be stored of
        the body when profiles are kept, if not the body itself) and return it."""
        audit = self.audit
        if audit is None:
            return reply
        if reply.status_code in REFUSALS:
            self.refused[str(reply.status_code)] += 1
            return reply
        record = {
            "endpoint": endpoint,
            "status": reply.status_code,
            "rulebook_version": self.book.version,
            "rulebook_digest": self.book.digest,
            "context": context or self.book.default_context,
            "body": body,
            "output": bytes(reply.body).decode("utf-8", "replace"),
            "caller": caller_of(request),
            "cards": cards,
            "kept": kept,
        }

        async def write() -> None:
            await self.gate.record(audit.record, **record)

        return Audited(reply, write)


def truthy(value: str | None) -> bool:
    """Whether a query flag is on (``1``, ``true``, ``yes``, ``on``, any case)."""
    return (value or "").lower() in ("1", "true", "yes", "on")
