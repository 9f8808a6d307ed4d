"""Case reports behind card links, for a while.

A CDS Hooks card links to the case report of the answer it gave. The report is made
when the link is followed, from the profile the answer was made from, which is kept in
memory only (never written to disk), for ``ttl`` seconds and at most ``capacity``
reports; the link's uuid is random (122 bits) and is the only way to it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["KeptProfile", "ReportStore"]


@dataclass(frozen=True)
class KeptProfile:
    """What a report is made from: the profile and the context of the answer."""

    profile: dict[str, Any]
    context: str


class ReportStore:
    """Profiles kept for their report links, oldest dropped first."""

    def __init__(self, ttl: float = 3600.0, capacity: int = 1000) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._kept: OrderedDict[str, tuple[float, KeptProfile]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, profile: dict[str, Any], context: str) -> str:
        """Keep ``profile`` and return the key of its report link."""
        key = str(uuid.uuid4())
        now = time.monotonic()
        with self._lock:
            self._kept[key] = (now, KeptProfile(profile, context))
            self._drop(now)
        return key

    def get(self, key: str) -> KeptProfile | None:
        """The kept profile of ``key``, or ``None`` when unknown or expired."""
        now = time.monotonic()
        with self._lock:
            self._drop(now)
            found = self._kept.get(key)
        return found[1] if found else None

    def _drop(self, now: float) -> None:
        while self._kept and (
            len(self._kept) > self.capacity or next(iter(self._kept.values()))[0] < now - self.ttl
        ):
            self._kept.popitem(last=False)
