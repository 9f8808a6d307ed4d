"""The documented ranking: weights, eligibility, order, close calls, alternatives."""

from __future__ import annotations

from conftest import patched

from sequencer import default_rulebook, fired_rules, parse_profile, recommend
from sequencer.decide.ranking import rank


def test_score_is_the_sum_of_counted_arguments() -> None:
    """Each option's score equals the weights of the counted arguments that favor it."""
    rec = recommend(patched({"age": 70, "disease.cns": "CNS2", "transplant.candidate": False}))
    for option in rec.options:
        expected = sum(a.weight for a in rec.arguments if a.favors == option.therapy)
        assert option.score == expected > 0


def test_an_argument_counts_once_at_its_strongest_rule() -> None:
    """CSF blasts and non-bulky extramedullary disease are one argument: it counts once,
    at the strongest rule (CSF blasts, strong); the moderate one is subsumed."""
    rec = recommend(
        patched(
            {
                "disease.cns": "CNS2",
                "disease.cns_relapse_history": False,
                "disease.extramedullary": "present",
            }
        )
    )
    [outside] = [a for a in rec.arguments if a.id == "disease-outside-the-marrow"]
    assert (outside.rule, outside.strength, outside.weight) == (
        "cns-involvement",
        "strong",
        default_rulebook().weights["strong"],
    )
    assert set(outside.rules) == {"cns-involvement", "extramedullary-disease-present"}
    statuses = {r.rule: (r.status, r.weight) for r in rec.reasons if r.argument == outside.id}
    assert statuses["cns-involvement"] == ("counted", 3)
    assert statuses["extramedullary-disease-present"] == ("subsumed", 0)
    car_t = next(o for o in rec.options if o.therapy == "car_t")
    blin = next(o for o in rec.options if o.therapy == "blinatumomab")
    assert outside.id in car_t.arguments_for and outside.id in blin.arguments_against
    # the weak under-50% blasts argument is not made: disease outside the marrow is burden
    assert "low-burden-suits-blinatumomab" not in {a.id for a in rec.arguments}
    assert car_t.score - blin.score == 3 - 0


def test_failure_sets_aside_the_failed_therapys_arguments_and_they_stay_visible() -> None:
    """Blinatumomab-refractory: age, burden and bridge arguments for blinatumomab are set
    aside by the failure rule and shown with it; CAR T cells are preferred."""
    rec = recommend(
        patched(
            {
                "age": 64,
                "disease.marrow_blasts_pct": 20,
                "disease.status": "refractory",
                "transplant.donor": "matched_sibling",
                "prior_therapy.blinatumomab": "refractory",
            }
        )
    )
    assert rec.preferred == "car_t"
    aside = {a.id: a for a in rec.arguments if a.status == "set_aside"}
    assert {
        "older-adult-tolerance",
        "low-burden-suits-blinatumomab",
        "fast-bridge-to-transplant",
    } <= set(aside)
    for argument in aside.values():
        assert argument.weight == 0
        assert [s.rule for s in argument.set_aside_by] == ["blinatumomab-refractory"]
    blin = next(o for o in rec.options if o.therapy == "blinatumomab")
    assert blin.score == 0 and "blinatumomab-failure" in blin.arguments_against
    assert set(aside) <= set(blin.set_aside) | {a for a in aside if aside[a].con_of == "car_t"}


def test_a_failed_only_option_is_not_preferred_and_alternatives_are_offered() -> None:
    """Blinatumomab-refractory with no CAR T access: nothing preferred, the failure shown
    on blinatumomab, and inotuzumab and trials offered."""
    rec = recommend(
        patched({"prior_therapy.blinatumomab": "refractory", "access.car_t": "unavailable"})
    )
    assert rec.preferred is None
    blin = next(o for o in rec.options if o.therapy == "blinatumomab")
    assert blin.status == "alternative"
    assert "blinatumomab-failure" in blin.arguments_against
    assert {"inotuzumab-ozogamicin", "clinical-trial"} <= {a.id for a in rec.alternatives}
    assert "failed" in rec.summary


def test_a_weakness_shows_on_its_option_when_the_other_cannot_be_given() -> None:
    """85% blasts without CAR T access: blinatumomab is preferred, carries the high-burden
    argument against it, and inotuzumab is offered beside it."""
    rec = recommend(patched({"disease.marrow_blasts_pct": 85, "access.car_t": "unavailable"}))
    blin = next(o for o in rec.options if o.therapy == "blinatumomab")
    assert rec.preferred == "blinatumomab"
    assert "high-burden-limits-blinatumomab" in blin.arguments_against
    assert "inotuzumab-ozogamicin" in {a.id for a in rec.alternatives}


def test_an_unknown_that_could_flip_makes_the_choice_provisional_and_is_named() -> None:
    """An unknown that some value would turn into a different choice is listed first as
    could_flip, and the summary calls the choice provisional, naming it in words."""
    rec = recommend(patched({"disease.rapidly_progressing": None, "disease.cns": "CNS2"}))
    assert rec.preferred == "car_t" and rec.provisional
    assert rec.provisional_on == ["disease.rapidly_progressing"]
    assert rec.missing[0].field == "disease.rapidly_progressing" and rec.missing[0].could_flip
    assert "Provisional" in rec.summary and "rapidly progressing" in rec.summary


def test_options_are_ordered_eligible_first_then_by_score() -> None:
    """The preferred option is first, has the top score, and alternatives follow."""
    rec = recommend(patched({"disease.marrow_blasts_pct": 80}))
    assert rec.options[0].status == "preferred"
    assert rec.options[0].score >= rec.options[1].score
    assert rec.preferred == rec.options[0].therapy


def test_not_eligible_beats_any_score() -> None:
    """A not-eligible option is never preferred, however high its score."""
    rec = recommend(
        patched(
            {
                "disease.cns": "CNS3",
                "disease.extramedullary": "bulky",
                "access.car_t": "unavailable",
            }
        )
    )
    car_t = next(o for o in rec.options if o.therapy == "car_t")
    assert car_t.status == "not_eligible"
    assert car_t.score > next(o for o in rec.options if o.therapy == "blinatumomab").score
    assert rec.preferred == "blinatumomab"
    assert "car-t-unavailable" in car_t.reasons


def test_close_call_when_scores_are_within_the_margin() -> None:
    """One point apart is a close call; two points apart is not; one option never is."""
    book = default_rulebook()
    profile = parse_profile(patched({}))
    assert default_rulebook().close_call_margin == 1
    # car_t 3 (strong) vs blinatumomab 2 (moderate): one point apart
    near = rank(book, profile, {"extramedullary-disease-bulky", "mrd-level-disease"})
    assert (near.preferred, near.close_call) == ("car_t", True)
    # car_t 3 vs blinatumomab 1 (weak): two points apart
    clear = rank(book, profile, {"extramedullary-disease-bulky", "car-t-trial-slot-needed"})
    assert (clear.preferred, clear.close_call) == ("car_t", False)
    # only one option eligible: never a close call
    alone = rank(book, profile, {"mrd-level-disease", "car-t-unavailable"})
    assert (alone.preferred, alone.close_call) == ("blinatumomab", False)


def test_a_tie_is_no_preference_whatever_the_cautions() -> None:
    """Equal scores: no preferred option, both alternatives; cautions never break a tie."""
    book = default_rulebook()
    profile = parse_profile(patched({}))
    tied = {"marrow-blasts-50-or-more", "bridge-to-transplant-with-donor"}
    for extra in (set(), {"car-t-manufacturing-wait"}, {"older-adult-blinatumomab-neurotoxicity"}):
        rec = rank(book, profile, tied | extra)
        assert rec.preferred is None
        assert [o.status for o in rec.options] == ["alternative", "alternative"]
        assert rec.close_call is True
        assert rec.summary.startswith("No preference")


def test_nothing_known_makes_no_choice() -> None:
    """A profile with nothing but an id gets no preference, and says what is missing."""
    rec = recommend({"id": "empty"})
    assert rec.preferred is None
    assert {o.status for o in rec.options} == {"alternative"}
    assert len(rec.missing) >= 5


def test_unknown_cd19_blocks_the_choice() -> None:
    """CD19 unknown is a blocking missing fact: no preference until it is tested."""
    rec = recommend(patched({"disease.cd19": None, "disease.cns": "CNS3"}))
    assert rec.preferred is None and rec.close_call is False
    assert {o.status for o in rec.options} == {"alternative"}
    cd19 = next(m for m in rec.missing if m.field == "disease.cd19")
    assert cd19.blocking
    assert rec.summary.startswith("No choice yet: first establish CD19 on the current blasts")
    scores = {o.therapy: o.score for o in rec.options}
    assert scores["car_t"] > scores["blinatumomab"]  # still shows what would weigh


def test_neither_eligible_gives_no_preference_and_lists_alternatives() -> None:
    """CD19-negative disease: nothing CD19-directed, and somewhere else to look."""
    rec = recommend(patched({"disease.cd19": "negative"}))
    assert rec.preferred is None and rec.close_call is False
    assert {o.status for o in rec.options} == {"not_eligible"}
    assert rec.alternatives
    assert rec.warnings == []  # cautions about options that cannot be given are dropped
    assert "Neither" in rec.summary


def test_active_gvhd_on_immunosuppression_defers_both_and_says_what_lifts_it() -> None:
    """Active GVHD on immunosuppression: not now (deferred), not never."""
    rec = recommend(
        patched(
            {
                "transplant.prior_allo_hct": True,
                "transplant.gvhd": "active",
                "transplant.on_immunosuppression": True,
            }
        )
    )
    assert rec.preferred is None and rec.close_call is False
    assert {o.status for o in rec.options} == {"deferred"}
    for option in rec.options:
        assert option.deferred_until and "immunosuppression" in option.deferred_until
        assert "active-gvhd-on-immunosuppression" in option.deferred_by
    assert "inotuzumab-ozogamicin" in {a.id for a in rec.alternatives}
    assert rec.summary.startswith("No CD19-directed option can be given now")


def test_result_does_not_depend_on_the_order_rules_fired_in() -> None:
    """rank() is a function of the set of fired rules."""
    book = default_rulebook()
    profile = parse_profile(patched({"age": 66, "disease.cns": "CNS2"}))
    fired = sorted(fired_rules(profile))
    assert rank(book, profile, fired) == rank(book, profile, list(reversed(fired)))


def test_missing_facts_are_listed_once_per_field() -> None:
    """A sparse profile lists each missing field once, the decisive ones included."""
    rec = recommend({"id": "sparse"})
    fields = [m.field for m in rec.missing]
    assert len(fields) == len(set(fields))
    assert {"disease.cd19", "disease.cns", "disease.status", "age"} <= set(fields)
    cd19 = next(m for m in rec.missing if m.field == "disease.cd19")
    assert cd19.rules == ["cd19-unknown"]


def test_recommendation_carries_the_rule_base_version_and_digest() -> None:
    """Every output can be traced to the exact rule base that produced it."""
    book = default_rulebook()
    rec = recommend(patched({}))
    assert rec.rulebook.version == book.version
    assert rec.rulebook.digest == book.digest and rec.rulebook.digest.startswith("sha256:")
    assert rec.notice


def test_the_choice_works_for_any_number_of_options() -> None:
    """Three options: the best score is preferred; the best two tied is no preference;
    a failed option is never preferred; statuses come in the options' order."""
    from sequencer.decide.decision import _choose

    options = ("a", "b", "c")
    preferred, status, gap, tie, _ = _choose(
        options, {"a": 3, "b": 1, "c": 2}, set(), set(), set(), False
    )
    assert (preferred, gap, tie) == ("a", 1, False)
    assert list(status) == ["a", "b", "c"] and status["a"] == "preferred"
    preferred, status, gap, tie, _ = _choose(
        options, {"a": 3, "b": 3, "c": 1}, set(), set(), set(), False
    )
    assert preferred is None and tie and gap == 0
    preferred, status, _, _, _ = _choose(
        options, {"a": 3, "b": 1, "c": 2}, set(), set(), {"a"}, False
    )
    assert preferred == "c" and status["a"] == "alternative"
    preferred, status, _, _, _ = _choose(
        options, {"a": 3, "b": 1, "c": 2}, {"c"}, {"a"}, set(), False
    )
    assert preferred == "b" and status == {"a": "deferred", "b": "preferred", "c": "not_eligible"}
