"""The rule base shipped with the package, loaded once per process."""

from __future__ import annotations

from sequencer.knowledge.kept import load_kept
from sequencer.knowledge.rulebook import Rulebook
from sequencer.locks import ForkSafeLock

__all__ = ["default_rulebook"]

_lock = ForkSafeLock()
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
