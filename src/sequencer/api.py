"""The library's front door: ``recommend()``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sequencer.decide.ranking import rank
from sequencer.decide.unknowns import active_search_mode
from sequencer.engine.durable import DurableEngine
from sequencer.knowledge.contexts import Context, Derivation, apply_context
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.shipped import default_rulebook
from sequencer.model.fields import flatten
from sequencer.model.parsing import parse_profile
from sequencer.model.profile import PatientProfile
from sequencer.model.recommendation import Recommendation

__all__ = [
    "default_rulebook",
    "effective_profile",
    "engine_for",
    "fired_rules",
    "recommend",
    "recommend_effective",
]

ProfileInput = PatientProfile | Mapping[str, Any] | str | bytes


def engine_for(rulebook: Rulebook) -> DurableEngine:
    """Return the durable_rules engine of ``rulebook``, built once with it."""
    return rulebook.compiled("durable-engine", DurableEngine)


def effective_profile(
    profile: ProfileInput, *, rulebook: Rulebook | None = None, context: str | None = None
) -> tuple[PatientProfile, Context, list[Derivation]]:
    """Return the profile as the rules see it in a regulatory context.

    That is the validated profile with ``access.car_t`` derived from the context when
    the profile leaves it null, the context itself, and what was derived. Raises
    ``ProfileError`` for an invalid profile and ``UnknownContextError`` for an unknown context.
    """
    book = rulebook or default_rulebook()
    ctx = book.context(context)
    parsed, derivations = apply_context(ctx, parse_profile(profile))
    return parsed, ctx, derivations


def fired_rules(
    profile: ProfileInput, *, rulebook: Rulebook | None = None, context: str | None = None
) -> frozenset[str]:
    """Return the ids of the rules that fire for ``profile`` (through durable_rules).

    Raises ``ProfileError`` for an invalid profile and ``EngineError`` if the engine fails.
    """
    book = rulebook or default_rulebook()
    parsed, ctx, _ = effective_profile(profile, rulebook=book, context=context)
    return engine_for(book).fired(flatten(parsed), ctx.context)


def recommend(
    profile: ProfileInput,
    *,
    rulebook: Rulebook | None = None,
    context: str | None = None,
) -> Recommendation:
    """Return the ranked, cited recommendation for one patient.

    ``profile`` may be a ``PatientProfile``, a mapping in the v1 interchange format, or
    that format as JSON text. ``rulebook`` defaults to the shipped rule base and
    ``context`` to its default regulatory context (``sequencer rules`` lists them).

    Raises ``ProfileError`` (every problem, with its field path) when the profile is
    invalid, ``UnknownContextError`` for an unknown context, and ``EngineError`` if the rule
    engine fails; never returns a recommendation built on data that did not validate.
    """
    book = rulebook or default_rulebook()
    parsed, ctx, derivations = effective_profile(profile, rulebook=book, context=context)
    return recommend_effective(parsed, ctx, derivations, rulebook=book)


def recommend_effective(
    effective: PatientProfile,
    context: Context,
    derivations: Sequence[Derivation],
    *,
    rulebook: Rulebook,
) -> Recommendation:
    """Return the recommendation for a profile already evaluated in ``context``: the
    three values ``effective_profile`` returns, so a caller that needs them too applies
    the context once. Raises ``EngineError`` if the rule engine fails."""
    facts = flatten(effective)
    # the exhaustive search is the yardstick: nothing remembered on its path
    remembered = active_search_mode() != "exhaustive"
    fired = engine_for(rulebook).fired(facts, context.context, remembered=remembered)
    return rank(rulebook, effective, fired, context=context, derivations=derivations, facts=facts)
