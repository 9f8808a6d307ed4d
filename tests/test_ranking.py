"""The documented ranking: weights, eligibility, order, close calls, alternatives."""

from __future__ import annotations

from conftest import patched

from sequencer import default_rulebook, fired_rules, parse_profile, recommend
from sequencer.ranking import CLOSE_CALL_MARGIN, WEIGHTS, rank


def test_score_is_the_sum_of_favoring_weights() -> None:
    """Each option's score equals the weights of the reasons that favor it."""
    rec = recommend(patched({"age": 70, "disease.cns": "CNS2", "transplant.candidate": False}))
    for option in rec.options:
        expected = sum(
            WEIGHTS[r.strength]
            for r in rec.reasons
            if r.therapy == option.therapy and r.effect == "favors" and r.strength
        )
        assert option.score == expected


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
    assert CLOSE_CALL_MARGIN == 1
    # car_t 3 (strong) vs blinatumomab 2 (moderate): one point apart
    near = rank(book, profile, {"cns-involvement", "mrd-level-disease"})
    assert (near.preferred, near.close_call) == ("car_t", True)
    # car_t 3 vs blinatumomab 1 (weak): two points apart
    clear = rank(book, profile, {"cns-involvement", "car-t-trial-slot-needed"})
    assert (clear.preferred, clear.close_call) == ("car_t", False)
    # only one option eligible: never a close call
    alone = rank(book, profile, {"mrd-level-disease", "car-t-unavailable"})
    assert (alone.preferred, alone.close_call) == ("blinatumomab", False)


def test_a_tie_is_no_preference_whatever_the_cautions() -> None:
    """Equal scores: no preferred option, both alternatives; cautions never break a tie."""
    book = default_rulebook()
    profile = parse_profile(patched({}))
    tied = {"marrow-blasts-50-or-more", "marrow-blasts-below-50"}
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
    assert rec.summary.startswith("No choice yet: first establish disease.cd19")
    scores = {o.therapy: o.score for o in rec.options}
    assert scores["car_t"] > scores["blinatumomab"]  # still shows what would weigh


def test_neither_eligible_gives_no_preference_and_lists_alternatives() -> None:
    """Active GVHD on immunosuppression: nothing now, and somewhere else to look."""
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
    assert {o.status for o in rec.options} == {"not_eligible"}
    assert rec.alternatives
    assert rec.warnings == []  # cautions about options that cannot be given are dropped
    assert "Neither" in rec.summary


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
