"""The rule base shipped with the package, loaded once per process."""

from __future__ import annotations

import os
import threading

from sequencer.knowledge.kept import load_kept
from sequencer.knowledge.rulebook import Rulebook

__all__ = ["default_rulebook"]

_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child starts with fresh locks: one held by another thread at fork time
    would never be released there (fork copies only the forking thread)."""
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
_default: Rulebook | None = None


def default_rulebook() -> Rulebook:
    """Return the rule base shipped with the package, loaded once per process (from the
    copy kept by an earlier process when nothing it was built from has changed; see
    ``sequencer.knowledge.kept``).

    Raises ``RuleBaseError`` if it cannot be loaded.
    """
    global _default
    with _lock:
        if _default is None:
            _default = load_kept()
        return _default
