"""Properties over the whole rule base, for any valid profile (Hypothesis).

Where one fails, the rule base (or the ranking) is wrong: fix that, not the property.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sequencer import PatientProfile, Recommendation, default_rulebook, fired_rules, recommend
from sequencer.api import effective_profile
from sequencer.profile import flatten
from sequencer.ranking import CLOSE_CALL_MARGIN, WEIGHTS
from sequencer.reference import ReferenceEngine
from sequencer.rulebook import THERAPIES
from sequencer.testing import (
    older_adults,
    ph_positive,
    post_transplant_relapses,
    profile_dicts,
    profiles,
)

BOOK = default_rulebook()
REFERENCE = ReferenceEngine(BOOK)


def _score(rec: Recommendation, therapy: str) -> int:
    return next(o.score for o in rec.options if o.therapy == therapy)


def _eligible(rec: Recommendation, therapy: str) -> bool:
    return next(o.status != "not_eligible" for o in rec.options if o.therapy == therapy)


def _balance(rec: Recommendation) -> int:
    """Positive: leaning to CAR T cells; negative: to blinatumomab."""
    return _score(rec, "car_t") - _score(rec, "blinatumomab")


def _with(profile: PatientProfile, section: str, **changes: Any) -> PatientProfile:
    part = getattr(profile, section).model_copy(update=changes)
    return PatientProfile.model_validate({**profile.model_dump(), section: part.model_dump()})


def _not_toward_blinatumomab(before: Recommendation, after: Recommendation) -> None:
    assert _balance(after) >= _balance(before)
    assert not (before.preferred == "car_t" and after.preferred == "blinatumomab")
    assert _eligible(after, "car_t") or not _eligible(before, "car_t")
    assert not _eligible(after, "blinatumomab") or _eligible(before, "blinatumomab")


@given(profiles())
def test_any_valid_profile_gets_a_recommendation_deterministically(profile: PatientProfile) -> None:
    """No crash, and the same answer twice."""
    assert recommend(profile) == recommend(profile)


@given(st.one_of(profiles(), older_adults(), post_transplant_relapses(), ph_positive()))
def test_durable_rules_fires_exactly_what_the_reference_fires(profile: PatientProfile) -> None:
    """Differential test: the engine and the plain-Python evaluator agree rule for rule."""
    for context in BOOK.contexts:
        effective, _, _ = effective_profile(profile, context=context)
        assert fired_rules(effective) == REFERENCE.fired(flatten(effective))


@given(profile_dicts())
def test_dict_strategy_yields_only_valid_profiles(data: dict[str, Any]) -> None:
    """The public strategies draw valid profiles (they survive validation unchanged)."""
    profile = PatientProfile.model_validate(data)
    assert profile.id == data["id"]


@given(profiles())
def test_every_reason_and_warning_is_cited_and_explained(profile: PatientProfile) -> None:
    """No empty or uncited rationale; every citation resolves; reasons name fired rules."""
    rec = recommend(profile)
    fired = fired_rules(profile)
    for item in [*rec.reasons, *rec.warnings]:
        assert item.rule in fired
        assert item.text.strip()
        assert item.citations
        assert all(c.key in BOOK.sources and c.label for c in item.citations)
    for fact in rec.missing:
        assert fact.text.strip() and set(fact.rules) <= fired
    assert rec.rulebook.digest == BOOK.digest


@given(profiles())
def test_options_follow_the_documented_ranking(profile: PatientProfile) -> None:
    """Scores are the sum of weights; order, preference and close calls are as documented."""
    rec = recommend(profile)
    for option in rec.options:
        assert option.score == sum(
            WEIGHTS[r.strength]
            for r in rec.reasons
            if r.therapy == option.therapy and r.effect == "favors" and r.strength
        )
    keys = [(o.status == "not_eligible", -o.score, THERAPIES.index(o.therapy)) for o in rec.options]
    assert keys == sorted(keys)
    eligible = [o for o in rec.options if o.status != "not_eligible"]
    tie = len(eligible) == 2 and eligible[0].score == eligible[1].score
    blocked = any(m.blocking for m in rec.missing)
    assert rec.preferred == (None if tie or blocked or not eligible else eligible[0].therapy)
    if tie or blocked:
        assert [o.status for o in eligible] == ["alternative"] * len(eligible)
    else:
        assert [o.status for o in eligible] == ["preferred", "alternative"][: len(eligible)]
    assert rec.close_call == (
        not blocked
        and len(eligible) == 2
        and abs(eligible[0].score - eligible[1].score) <= CLOSE_CALL_MARGIN
    )
    if not eligible:
        assert rec.alternatives
    assert all(_eligible(rec, w.therapy) for w in rec.warnings)


@given(profiles())
def test_cd19_negative_leaves_nothing_cd19_directed(profile: PatientProfile) -> None:
    """CD19-negative disease: both options not eligible, alternatives offered."""
    rec = recommend(_with(profile, "disease", cd19="negative"))
    assert rec.preferred is None
    assert {o.status for o in rec.options} == {"not_eligible"}
    assert {"inotuzumab-ozogamicin", "cd22-car-t-trial"} <= {a.id for a in rec.alternatives}


@given(post_transplant_relapses())
def test_active_gvhd_on_immunosuppression_gives_neither_now(profile: PatientProfile) -> None:
    """Active GVHD on immunosuppression: neither option is given now."""
    rec = recommend(_with(profile, "transplant", gvhd="active", on_immunosuppression=True))
    assert rec.preferred is None
    assert rec.alternatives


@given(profiles(), st.sampled_from(["CNS2", "CNS3"]))
def test_adding_cns_disease_never_moves_toward_blinatumomab(
    profile: PatientProfile, cns: str
) -> None:
    """CNS1 -> CNS2/CNS3 never shifts the balance toward blinatumomab."""
    before = recommend(_with(profile, "disease", cns="CNS1"))
    after = recommend(_with(profile, "disease", cns=cns))
    _not_toward_blinatumomab(before, after)


@given(profiles())
def test_adding_extramedullary_disease_never_moves_toward_blinatumomab(
    profile: PatientProfile,
) -> None:
    """none -> present -> bulky never shifts the balance toward blinatumomab."""
    steps = [
        recommend(_with(profile, "disease", extramedullary=e)) for e in ("none", "present", "bulky")
    ]
    for before, after in itertools.pairwise(steps):
        _not_toward_blinatumomab(before, after)


@given(profiles(), st.sampled_from([False, None]))
def test_rapid_progression_never_moves_toward_car_t(
    profile: PatientProfile, slower: bool | None
) -> None:
    """Rapidly progressing disease never shifts the balance toward CAR T cells."""
    before = recommend(_with(profile, "disease", rapidly_progressing=slower))
    after = recommend(_with(profile, "disease", rapidly_progressing=True))
    assert _balance(after) <= _balance(before)
    assert not (before.preferred == "blinatumomab" and after.preferred == "car_t")


@given(profiles(), st.floats(0, 100), st.floats(0, 100))
def test_higher_marrow_blasts_never_raise_blinatumomab(
    profile: PatientProfile, a: float, b: float
) -> None:
    """More marrow blasts never raise blinatumomab's score or standing."""
    low, high = sorted((a, b))
    status = profile.disease.status if profile.disease.status != "mrd_positive" else "relapsed"
    before = recommend(_with(profile, "disease", status=status, marrow_blasts_pct=low))
    after = recommend(_with(profile, "disease", status=status, marrow_blasts_pct=high))
    assert _score(after, "blinatumomab") <= _score(before, "blinatumomab")
    _not_toward_blinatumomab(before, after)
