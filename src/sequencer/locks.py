"""Locks that a forked child gets fresh.

``fork`` copies only the forking thread: a lock another thread held at that moment would
stay held in the child for ever. A ``ForkSafeLock`` is replaced by a new one in every
forked child (the batch's workers and the service's are forked).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

__all__ = ["ForkSafeLock"]


class _Lock(Protocol):
    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> None: ...


class ForkSafeLock:
    """A lock (``threading.Lock`` by default, or another ``factory``'s) used with ``with``,
    and made anew in a forked child."""

    def __init__(self, factory: Callable[[], _Lock] = threading.Lock) -> None:
        self._factory = factory
        self._lock = factory()
        os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self._lock = self._factory()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._lock.release()
