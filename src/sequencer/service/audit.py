"""The audit trail: every served answer, stored in a database.

Each row keeps when, which endpoint, the rule base's version and digest, the context,
a SHA-256 of the request body, the answer itself and the caller's address. The raw
profile is stored only when the site asks for it (``keep_profiles``): a profile's
``id`` is often a record number. The database is named by a URL; ``sqlite:///PATH`` is
supported (the standard library's sqlite3), other schemes are refused with a clear
error rather than ignored.

What is logged and for how long is documented in the README ("Audit trail").
"""

from __future__ import annotations

import datetime
import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from sequencer.errors import UsageError

__all__ = ["AuditLog", "AuditRow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS served (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status INTEGER NOT NULL,
    rulebook_version TEXT NOT NULL,
    rulebook_digest TEXT NOT NULL,
    context TEXT,
    input_sha256 TEXT NOT NULL,
    output TEXT NOT NULL,
    caller TEXT,
    profile TEXT
)
"""


@dataclass(frozen=True)
class AuditRow:
    """One served answer, as stored."""

    at: str
    endpoint: str
    status: int
    rulebook_version: str
    rulebook_digest: str
    context: str | None
    input_sha256: str
    output: str
    caller: str | None
    profile: str | None


class AuditLog:
    """An append-only log of served answers in one database."""

    def __init__(self, url: str, keep_profiles: bool = False) -> None:
        """Open (and create) the database ``url`` names.

        Raises ``UsageError`` for a URL that is not ``sqlite:///PATH``.
        """
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise UsageError(f"audit: only sqlite:///PATH databases are supported; got {url!r}")
        self.path = Path(url[len(prefix) :])
        self.keep_profiles = keep_profiles
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def record(
        self,
        *,
        endpoint: str,
        status: int,
        rulebook_version: str,
        rulebook_digest: str,
        context: str | None,
        body: bytes,
        output: str,
        caller: str | None,
    ) -> None:
        """Store one served answer (the body only as a hash unless profiles are kept)."""
        at = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        profile = body.decode("utf-8", "replace") if self.keep_profiles else None
        with self._lock:
            self._db.execute(
                "INSERT INTO served (at, endpoint, status, rulebook_version, rulebook_digest,"
                " context, input_sha256, output, caller, profile)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    at,
                    endpoint,
                    status,
                    rulebook_version,
                    rulebook_digest,
                    context,
                    hashlib.sha256(body).hexdigest(),
                    output,
                    caller,
                    profile,
                ),
            )

    def rows(self) -> list[AuditRow]:
        """Every stored answer, oldest first."""
        with self._lock:
            found = self._db.execute(
                "SELECT at, endpoint, status, rulebook_version, rulebook_digest, context,"
                " input_sha256, output, caller, profile FROM served ORDER BY id"
            ).fetchall()
        return [AuditRow(*row) for row in found]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
