"""Running the service: uvicorn, on a loopback address unless it is protected.

Without authentication the service listens only on this machine's loopback interface
(127.0.0.1, ::1, localhost): a reverse proxy on the same host can still publish it.
Any other address needs both authentication (``--auth``: signed CDS Hooks client
tokens) and TLS (``--tls-cert`` and ``--tls-key``), as CDS Hooks requires HTTPS.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from sequencer.errors import UsageError
from sequencer.knowledge.rulebook import Rulebook
from sequencer.service.audit import AuditLog
from sequencer.service.audit_gate import DEFAULT_AUDIT_TIMEOUT
from sequencer.service.auth import load_auth

__all__ = [
    "DEFAULT_AUDIT",
    "LOOPBACK_NAMES",
    "check_binding",
    "check_origins",
    "is_loopback",
    "serve",
    "served_hosts",
]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
"""The names a loopback-bound service also answers to."""

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


def check_binding(host: str, port: int, authenticated: bool, tls: bool) -> None:
    """Refuse an address the service may not listen on.

    Raises ``UsageError`` for a port outside 1-65535, or an address that is not
    loopback while authentication or TLS is missing.
    """
    if not 1 <= port <= 65535:
        raise UsageError("port must be between 1 and 65535")
    if is_loopback(host):
        return
    if not authenticated:
        raise UsageError(
            f"refusing to listen on {host}: no authentication is configured (--auth), so the "
            "service binds only a loopback address (127.0.0.1, ::1 or localhost)"
        )
    if not tls:
        raise UsageError(
            f"refusing to listen on {host} without TLS (--tls-cert and --tls-key): CDS "
            "Hooks calls carry patient data and must use HTTPS; or bind a loopback address "
            "behind a TLS proxy"
        )


_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$"
)


def check_origins(origins: tuple[str, ...]) -> None:
    """Refuse a browser origin that is not ``scheme://host[:port]`` (no path, no ``*``).

    Raises ``UsageError`` naming every origin refused.
    """
    bad = [o for o in origins if not _ORIGIN.match(o)]
    if bad:
        raise UsageError(
            "--allow-origin takes an origin, scheme://host[:port] (no path, no wildcard): "
            + ", ".join(repr(o) for o in bad)
        )


def served_hosts(host: str, public_url: str | None) -> tuple[str, ...]:
    """The ``Host`` names the service answers for: the bound address, the loopback names
    when it is bound to loopback, and the public URL's host (``service.guard``)."""
    from urllib.parse import urlsplit

    names = [host.strip("[]").lower()]
    if is_loopback(host):
        names += LOOPBACK_NAMES
    if public_url:
        names.append((urlsplit(public_url).hostname or "").lower())
    return tuple(dict.fromkeys(n for n in names if n))


def serve(
    host: str,
    port: int,
    rulebook: Rulebook | None = None,
    audit: str = DEFAULT_AUDIT,
    keep_profiles: bool = False,
    auth: Path | None = None,
    tls: tuple[Path | None, Path | None] | None = None,
    fhir_servers: tuple[str, ...] = (),
    public_url: str | None = None,
    allow_origins: tuple[str, ...] = (),
    audit_timeout: float | None = None,
    access_log: bool = False,
    workers: int = 1,
) -> None:
    """Serve the HTTP API and the CDS Hooks services on ``host``:``port`` until
    interrupted, storing every answer in the ``audit`` database (a SQLAlchemy URL;
    raw profiles only with ``keep_profiles``); with ``auth`` (a JSON file of trusted
    issuers), every call needs a signed token; ``tls`` is (certificate, key);
    ``fhir_servers`` are the FHIR base URLs a CDS call may have read (none by default);
    ``public_url`` is where clients reach the service (default: the address bound, or
    the authentication file's ``public_url``); ``allow_origins`` the browser origins
    allowed to call across sites (CORS; none by default); ``workers`` processes share
    the port and the audit database (SQLite in WAL mode with a busy timeout, or
    PostgreSQL). Forwarded headers are not trusted.

    Raises ``UsageError`` for an address, port, authentication file, TLS pair, origin or
    audit URL that cannot be used.
    """
    if tls is not None and (tls[0] is None or tls[1] is None):
        raise UsageError("TLS needs both --tls-cert and --tls-key")
    config = load_auth(auth) if auth is not None else None
    check_origins(allow_origins)
    check_binding(host, port, config is not None, tls is not None)
    if audit_timeout is not None and not 0.1 <= audit_timeout <= 300:
        raise UsageError("--audit-timeout is a number of seconds from 0.1 to 300")
    log = AuditLog(audit, keep_profiles=keep_profiles)
    try:
        log.probe()  # fail fast: a read-only file or a database that refuses writes
    except UsageError:
        log.close()
        raise
    if not 1 <= workers <= 32:
        raise UsageError("--workers is a number of worker processes from 1 to 32")
    log.close()
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if tls else "http"
    settings = {
        "rules": None
        if rulebook is None or rulebook is _default_rulebook()
        else str(rulebook.root),
        "audit": audit,
        "keep_profiles": keep_profiles,
        "auth": str(auth) if auth is not None else None,
        "fhir_servers": list(fhir_servers),
        "public_url": public_url or f"{scheme}://{shown}:{port}",
        "allow_origins": list(allow_origins),
        "hosts": list(served_hosts(host, public_url or (config.public_url if config else None))),
        "audit_timeout": audit_timeout or DEFAULT_AUDIT_TIMEOUT,
    }
    import uvicorn

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info" if access_log else "warning",
        "access_log": access_log,
        "proxy_headers": False,
        "ssl_certfile": str(tls[0]) if tls else None,
        "ssl_keyfile": str(tls[1]) if tls else None,
    }
    if workers == 1:
        app = build_app(settings, rulebook)
        _announce(app.state.rulebook, f"{scheme}://{shown}:{port}", log.location, settings, 1)
        uvicorn.run(app, **options)
        return
    # Several processes on one port: each worker builds its own app from the settings;
    # what they share is the audit database (the token ids included).
    os.environ[SETTINGS_VARIABLE] = json.dumps(settings)
    book = rulebook if rulebook is not None else _default_rulebook()
    _announce(book, f"{scheme}://{shown}:{port}", log.location, settings, workers)
    uvicorn.run(f"{__name__}:worker_app", factory=True, workers=workers, **options)


SETTINGS_VARIABLE = "SEQUENCER_SERVE_SETTINGS"
"""The environment variable through which ``serve`` hands its settings to its workers."""


def _default_rulebook() -> Rulebook:
    from sequencer.api import default_rulebook

    return default_rulebook()


def build_app(settings: dict[str, Any], rulebook: Rulebook | None = None) -> Any:
    """Return the service's application for ``settings`` (as ``serve`` writes them): the
    rule base, a fresh connection to the audit database, authentication, the allowed
    origins and hosts (``rulebook``, when given, instead of loading ``settings["rules"]``).
    Raises ``UsageError`` for settings that cannot be used."""
    from sequencer.knowledge.rulebook import load_rulebook
    from sequencer.service.app import create_app
    from sequencer.service.fhirclient import FhirReader

    rules = settings["rules"]
    book = rulebook or (load_rulebook(rules) if rules else _default_rulebook())
    config = load_auth(Path(settings["auth"])) if settings["auth"] else None
    return create_app(
        book,
        AuditLog(
            settings["audit"],
            keep_profiles=settings["keep_profiles"],
            wait=0.8 * float(settings["audit_timeout"]),  # the database gives up first
        ),
        auth=config,
        reader=FhirReader(tuple(settings["fhir_servers"])),
        public_url=settings["public_url"],
        prepare=True,  # before the port opens: no request pays for the about document
        allow_origins=tuple(settings["allow_origins"]),
        hosts=tuple(settings["hosts"]),
        audit_timeout=float(settings["audit_timeout"]),
    )


def worker_app() -> Any:
    """The application of one worker process (``serve --workers N``), from the settings
    ``serve`` left in the environment."""
    return build_app(json.loads(os.environ[SETTINGS_VARIABLE]))


def _announce(
    book: Rulebook, url: str, location: str, settings: dict[str, Any], workers: int
) -> None:
    """Say on standard error where the service listens and what it keeps."""
    print(
        f"sequencer {book.name} {book.version} listening on {url}\n"
        f"  audit trail: {location} (writes wait at most {settings['audit_timeout']:g} s, "
        "then 503)\n"
        f"  contexts built: {', '.join(sorted(book.contexts))}; workers: {workers}\n"
        f"  ready when {url}/health answers; Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
