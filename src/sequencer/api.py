"""The library's front door: ``recommend()``."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from sequencer.engine import DurableEngine
from sequencer.profile import PatientProfile, flatten, parse_profile
from sequencer.ranking import rank
from sequencer.recommendation import Recommendation
from sequencer.rulebook import Rulebook, load_rulebook

__all__ = ["default_rulebook", "fired_rules", "recommend"]

_lock = threading.Lock()
_default: Rulebook | None = None
_engines: dict[str, DurableEngine] = {}


def default_rulebook() -> Rulebook:
    """Return the rule base shipped with the package, loaded once per process.

    Raises ``RuleBaseError`` if it cannot be loaded.
    """
    global _default
    with _lock:
        if _default is None:
            _default = load_rulebook()
        return _default


def _engine(rulebook: Rulebook) -> DurableEngine:
    with _lock:
        engine = _engines.get(rulebook.digest)
        if engine is None:
            engine = _engines[rulebook.digest] = DurableEngine(rulebook)
        return engine


def fired_rules(
    profile: PatientProfile | Mapping[str, Any], *, rulebook: Rulebook | None = None
) -> frozenset[str]:
    """Return the ids of the rules that fire for ``profile`` (through durable_rules).

    Raises ``ProfileError`` for an invalid profile and ``EngineError`` if the engine fails.
    """
    book = rulebook or default_rulebook()
    return _engine(book).fired(flatten(parse_profile(profile)))


def recommend(
    profile: PatientProfile | Mapping[str, Any] | str | bytes,
    *,
    rulebook: Rulebook | None = None,
) -> Recommendation:
    """Return the ranked, cited recommendation for one patient.

    ``profile`` may be a ``PatientProfile``, a mapping in the v1 interchange format, or
    that format as JSON text. ``rulebook`` defaults to the shipped rule base.

    Raises ``ProfileError`` (every problem, with its field path) when the profile is
    invalid, and ``EngineError`` if the rule engine fails; never returns a
    recommendation built on data that did not validate.
    """
    parsed = parse_profile(profile)
    book = rulebook or default_rulebook()
    fired = _engine(book).fired(flatten(parsed))
    return rank(book, parsed, fired)
