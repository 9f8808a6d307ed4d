"""Running the service: uvicorn on a loopback address.

The service has no authentication yet, so it refuses to listen anywhere but on this
machine's loopback interface (127.0.0.1, ::1, localhost).
"""

from __future__ import annotations

import ipaddress

from sequencer.errors import UsageError
from sequencer.knowledge.rulebook import Rulebook
from sequencer.service.audit import AuditLog

__all__ = ["DEFAULT_AUDIT", "is_loopback", "serve"]

DEFAULT_AUDIT = "sqlite:///sequencer-audit.sqlite3"
"""The audit database when none is named: a SQLite file in the working directory."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: str,
    port: int,
    rulebook: Rulebook | None = None,
    audit: str = DEFAULT_AUDIT,
    keep_profiles: bool = False,
) -> None:
    """Serve the HTTP API on ``host``:``port`` until interrupted, storing every answer
    in the ``audit`` database (a ``sqlite:///PATH`` URL; raw profiles only with
    ``keep_profiles``).

    Raises ``UsageError`` for an address that is not loopback (no authentication is
    configured), a port outside 1-65535 or an audit URL that is not supported.
    """
    if not is_loopback(host):
        raise UsageError(
            f"refusing to listen on {host}: no authentication is configured, so the "
            "service binds only a loopback address (127.0.0.1, ::1 or localhost)"
        )
    if not 1 <= port <= 65535:
        raise UsageError("port must be between 1 and 65535")
    log = AuditLog(audit, keep_profiles=keep_profiles)
    import uvicorn

    from sequencer.service.app import create_app

    try:
        uvicorn.run(create_app(rulebook, log), host=host, port=port, log_level="warning")
    finally:
        log.close()
