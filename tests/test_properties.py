"""Properties over the whole rule base, for any valid profile (Hypothesis).

Where one fails, the rule base (or the ranking) is wrong: fix that, not the property.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from sequencer import (
    PatientProfile,
    Recommendation,
    default_rulebook,
    fired_rules,
    load_rulebook,
    parse_profile,
    recommend,
)
from sequencer.api import effective_profile
from sequencer.decide.candidates import candidate_values
from sequencer.decide.decision import decide, quick_key, tally
from sequencer.engine.reference import ReferenceEngine
from sequencer.errors import ProfileError
from sequencer.explain.whatif import vary
from sequencer.knowledge.conditions import compile_predicate, evaluate
from sequencer.model.fields import FIELDS, flatten
from sequencer.testing import (
    older_adults,
    ph_positive,
    post_transplant_relapses,
    profile_dicts,
    profiles,
)

BOOK = default_rulebook()
REFERENCE = ReferenceEngine(BOOK)
# The rule base's options and scoring, read from rules/rulebook.yaml.
THERAPIES = BOOK.option_ids
WEIGHTS = BOOK.weights
CLOSE_CALL_MARGIN = BOOK.close_call_margin


def _score(rec: Recommendation, therapy: str) -> int:
    return next(o.score for o in rec.options if o.therapy == therapy)


def _eligible(rec: Recommendation, therapy: str) -> bool:
    return next(o.status != "not_eligible" for o in rec.options if o.therapy == therapy)


def _balance(rec: Recommendation) -> int:
    """Positive: leaning to CAR T cells; negative: to blinatumomab."""
    return _score(rec, "car_t") - _score(rec, "blinatumomab")


def _with(profile: PatientProfile, section: str, **changes: Any) -> PatientProfile:
    """The profile with some facts changed; variants that contradict the rest (an overt
    relapse left with no site of disease) are not drawn."""
    data = profile.model_dump()
    data[section] = {**data[section], **changes}
    try:
        return parse_profile(data)
    except ProfileError:
        assume(False)
        raise


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
        effective, ctx, _ = effective_profile(profile, context=context)
        assert fired_rules(effective, context=context) == REFERENCE.fired(
            flatten(effective), ctx.context
        )


@given(profile_dicts())
def test_dict_strategy_yields_only_valid_profiles(data: dict[str, Any]) -> None:
    """The public strategies draw valid profiles (they survive validation unchanged)."""
    profile = PatientProfile.model_validate(data)
    assert profile.id == data["id"]


@given(profiles())
def test_every_reason_and_warning_is_cited_and_explained(profile: PatientProfile) -> None:
    """No empty or uncited rationale; every citation resolves; reasons name fired rules;
    a missing fact names the rules that report it or that it would bring in."""
    rec = recommend(profile)
    fired = fired_rules(profile)
    known = {r.id for r in BOOK.active}
    for item in [*rec.reasons, *rec.warnings, *rec.arguments]:
        assert item.rule in fired
        assert item.text.strip()
        assert item.citations
        assert all(c.key in BOOK.sources and c.label for c in item.citations)
    for fact in rec.missing:
        assert fact.text.strip() and fact.rules
        assert set(fact.rules) <= (fired if not fact.could_flip else known)
    assert rec.rulebook.digest == BOOK.digest


_RANK = {"preferred": 0, "alternative": 0, "deferred": 1, "not_eligible": 2}


@given(profiles())
def test_options_follow_the_documented_ranking(profile: PatientProfile) -> None:
    """Scores are the sums of counted arguments (each once, at its strongest rule);
    order, standing, preference and close calls are as documented."""
    rec = recommend(profile)
    by_argument: dict[str, list[int]] = {}
    for r in rec.reasons:
        if r.effect == "favors" and r.argument and r.strength:
            by_argument.setdefault(r.argument, []).append(WEIGHTS[r.strength])
    for argument in rec.arguments:
        assert WEIGHTS[argument.strength] == max(by_argument[argument.id])
        assert argument.weight == (
            0 if argument.status == "set_aside" else max(by_argument[argument.id])
        )
        assert (argument.status == "set_aside") == bool(argument.set_aside_by)
    for option in rec.options:
        counted = [a.weight for a in rec.arguments if a.favors == option.therapy]
        assert option.score == sum(counted)
        assert option.score == sum(
            r.weight for r in rec.reasons if r.therapy == option.therapy and r.effect == "favors"
        )
        assert (option.status == "deferred") == bool(option.deferred_until)
    keys = [(_RANK[o.status], -o.score, THERAPIES.index(o.therapy)) for o in rec.options]
    assert keys == sorted(keys)
    available = [o for o in rec.options if o.status in ("preferred", "alternative")]
    failed = {
        t
        for t in THERAPIES
        for a in rec.arguments
        if a.favors == t and any(s.rule in _FAILURE_RULES[t] for s in a.set_aside_by)
    } | {t for t in THERAPIES if _FAILURE_RULES[t] & {r.rule for r in rec.reasons}}
    candidates = [o for o in available if o.therapy not in failed]
    tie = len(candidates) == 2 and candidates[0].score == candidates[1].score
    blocked = any(m.blocking for m in rec.missing) and bool(available)
    expected = None if tie or blocked or not candidates else candidates[0].therapy
    assert rec.preferred == expected
    assert [o.therapy for o in rec.options if o.status == "preferred"] == (
        [expected] if expected else []
    )
    assert rec.close_call == (
        not blocked
        and len(candidates) == 2
        and abs(candidates[0].score - candidates[1].score) <= CLOSE_CALL_MARGIN
    )
    if not available:
        assert rec.alternatives
    assert all(_eligible(rec, w.therapy) for w in rec.warnings)
    assert rec.provisional == (rec.preferred is not None and bool(rec.provisional_on))
    if rec.provisional:
        assert set(rec.provisional_on) == {m.field for m in rec.missing if m.could_change_preferred}
    else:
        assert rec.provisional_on == []
    assert all(m.could_flip for m in rec.missing if m.could_change_preferred)


_FAILURE_RULES = {
    t: {r.id for r in BOOK.active for e in r.then if getattr(e, "failed", None) == t}
    for t in THERAPIES
}


@given(profiles(), st.sampled_from(sorted(BOOK.contexts)))
def test_a_failed_therapy_is_never_preferred(profile: PatientProfile, context: str) -> None:
    """After blinatumomab failure blinatumomab is never preferred (with CAR T cells
    eligible or not), and after CAR T-cell non-response CAR T cells never are; the
    failed option's strengths are all set aside."""
    for therapy, key in (("blinatumomab", "blinatumomab"), ("car_t", "car_t")):
        failed = _with(profile, "prior_therapy", **{key: "refractory"})
        rec = recommend(failed, context=context)
        assert rec.preferred != therapy
        for argument in rec.arguments:
            if argument.pro_of == therapy:
                assert argument.status == "set_aside" and argument.weight == 0
        option = next(o for o in rec.options if o.therapy == therapy)
        assert option.failed and option.status != "preferred"
        other = "car_t" if therapy == "blinatumomab" else "blinatumomab"
        other_option = next(o for o in rec.options if o.therapy == other)
        if (
            other_option.status in ("preferred", "alternative")
            and not any(m.blocking for m in rec.missing)
            and getattr(failed.prior_therapy, other) != "refractory"
        ):
            assert rec.preferred == other


_ASIDE = {"prior_therapy.blinatumomab", "prior_therapy.car_t", "prior_therapy.ponatinib",
          "access.car_t", "disease.cd19"}  # fmt: skip


def _unknown_variant(profile: PatientProfile, field: str) -> PatientProfile | None:
    spec = FIELDS[field]
    value = flatten(profile)[field]
    if value is None or (spec.unknown_value is not None and value == spec.unknown_value):
        return None
    try:
        return vary(profile, field, None)
    except ProfileError:
        return None


def _statuses(rec: Recommendation) -> dict[str, str]:
    return {o.therapy: o.status for o in rec.options}


@given(profiles(), st.sampled_from(sorted(set(FIELDS) - _ASIDE)))
def test_forgetting_one_fact_moves_the_gap_by_at_most_one_strong_argument(
    profile: PatientProfile, field: str
) -> None:
    """Making one known fact unknown (treatment history, access and CD19 aside), with
    every option's eligibility unchanged, moves the score gap by at most 3 points."""
    forgotten = _unknown_variant(profile, field)
    if forgotten is None:
        return
    before, after = recommend(profile), recommend(forgotten)
    unchanged = {t: s for t, s in _statuses(before).items() if s in ("deferred", "not_eligible")}
    if unchanged != {
        t: s for t, s in _statuses(after).items() if s in ("deferred", "not_eligible")
    }:
        return
    assert abs(_balance(after) - _balance(before)) <= WEIGHTS["strong"]


@given(
    st.one_of(profiles(), post_transplant_relapses(), ph_positive()),
    st.sampled_from(sorted(BOOK.contexts)),
)
def test_every_unknown_that_could_change_the_choice_is_missing(
    profile: PatientProfile, context: str
) -> None:
    """Checked by substitution, in every context: every unknown field that, set to some
    value, changes the preferred option or an option's status is listed in missing as
    could_flip, and as could_change_preferred when the preferred option changes."""
    rec = recommend(profile, context=context)
    effective, ctx, _ = effective_profile(profile, context=context)
    flips = {m.field for m in rec.missing if m.could_flip}
    preferred_flips = {m.field for m in rec.missing if m.could_change_preferred}
    access_derived = profile.access.car_t is None  # access follows the age
    for field in FIELDS:
        value = flatten(effective)[field]
        spec = FIELDS[field]
        if not (value is None or (spec.unknown_value is not None and value == spec.unknown_value)):
            continue
        for candidate in candidate_values(BOOK, field, None, ctx, access_derived):
            try:
                changed = vary(profile, field, candidate)
            except ProfileError:
                continue
            other = recommend(changed, context=context)
            if other.preferred != rec.preferred:
                assert field in preferred_flips, f"{field}={candidate!r} changes the choice"
            if _statuses(other) != _statuses(rec) or other.preferred != rec.preferred:
                assert field in flips, f"{field}={candidate!r} changes a status, not listed"


@given(profiles())
def test_a_con_of_the_only_available_option_is_shown_on_it(profile: PatientProfile) -> None:
    """Every argument that is a weakness of an option is listed on that option (counted
    or set aside), even when the other option cannot be given."""
    rec = recommend(profile)
    for option in rec.options:
        for argument in rec.arguments:
            if argument.con_of != option.therapy:
                continue
            if argument.status == "counted":
                assert argument.id in option.arguments_against
            else:  # shown still as a weakness if only its other side failed
                assert argument.id in (*option.arguments_against, *option.set_aside)


@given(profiles())
def test_cd19_negative_leaves_nothing_cd19_directed(profile: PatientProfile) -> None:
    """CD19-negative disease: both options not eligible, CD22-directed alternatives
    offered (inotuzumab only if it has not failed)."""
    rec = recommend(_with(profile, "disease", cd19="negative"))
    assert rec.preferred is None
    assert {o.status for o in rec.options} == {"not_eligible"}
    offered = {a.id for a in rec.alternatives}
    assert "cd22-car-t-trial" in offered
    # inotuzumab is offered unless the leukemia has already resisted it
    assert ("inotuzumab-ozogamicin" in offered) is (
        profile.prior_therapy.inotuzumab != "refractory"
    )


@given(post_transplant_relapses())
def test_active_gvhd_on_immunosuppression_gives_neither_now(profile: PatientProfile) -> None:
    """Active GVHD on immunosuppression: neither option now (deferred, not never), with
    what lifts it, and an alternative offered."""
    rec = recommend(_with(profile, "transplant", gvhd="active", on_immunosuppression=True))
    assert rec.preferred is None
    assert {o.status for o in rec.options} <= {"deferred", "not_eligible"}
    for option in rec.options:
        if option.status == "deferred":
            assert (
                option.deferred_until and "active-gvhd-on-immunosuppression" in option.deferred_by
            )
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


@given(profiles(), st.floats(5, 100), st.floats(5, 100))
def test_higher_marrow_blasts_never_raise_blinatumomab(
    profile: PatientProfile, a: float, b: float
) -> None:
    """In a marrow relapse (5% blasts or more), more marrow blasts never raise
    blinatumomab's score or standing. (Under 5% the marrow is not the relapse's site,
    and the burden arguments are silent.)"""
    low, high = sorted((a, b))
    status = profile.disease.status if profile.disease.status != "mrd_positive" else "relapsed"
    before = recommend(_with(profile, "disease", status=status, marrow_blasts_pct=low))
    after = recommend(_with(profile, "disease", status=status, marrow_blasts_pct=high))
    assert _score(after, "blinatumomab") <= _score(before, "blinatumomab")
    _not_toward_blinatumomab(before, after)


@given(profiles())
def test_compiled_predicates_mean_what_evaluate_means(profile: PatientProfile) -> None:
    """The closures used to search unknown facts agree with the reference meaning, rule
    for rule, on the profile and on the profile with every field made unknown in turn."""
    facts = flatten(profile)
    variants = [facts, *({**facts, f: None} for f in FIELDS)]
    for rule in BOOK.active:
        compiled = compile_predicate(rule.condition.profile)
        for variant in variants:
            assert compiled(variant) == evaluate(rule.condition.profile, variant), rule.id


@given(st.sets(st.sampled_from(sorted(r.id for r in BOOK.active)), max_size=12))
def test_the_quick_decision_is_the_decision(fired: set[str]) -> None:
    """The memoised decision key used by the search for unknowns equals decide(tally)."""
    assert quick_key(BOOK, frozenset(fired)) == decide(BOOK, tally(BOOK, fired)).key()


def test_threshold_values_follow_the_rules(tmp_path: Path) -> None:
    """The edges the strategies draw come from the compiled rules: move a threshold and
    they move with it."""
    import shutil

    from conftest import RULES_DIR

    from sequencer.decide.candidates import threshold_values

    assert {60, 61} <= set(threshold_values(BOOK, "age"))
    assert {49, 50} <= set(threshold_values(BOOK, "disease.marrow_blasts_pct"))
    root = tmp_path / "rules"
    shutil.copytree(RULES_DIR, root)
    age = root / "considerations" / "age.yaml"
    age.write_text(age.read_text().replace("age: {gt: 60}", "age: {gt: 70}"))
    moved = set(threshold_values(load_rulebook(root), "age"))
    assert {70, 71} <= moved
