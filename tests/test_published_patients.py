"""The review's five patients come out as published, through general rules, with
every reason cited to the review."""

from __future__ import annotations

import pytest
from conftest import patient

from sequencer import recommend
from sequencer.published import library_choice, load_cases

PUBLISHED = {1: "blinatumomab", 2: "car_t", 3: "car_t", 4: "car_t", 5: "neither"}


def test_published_file_lists_the_five_patients_with_their_choices() -> None:
    """published.yaml carries the five cases and the choices the review reports."""
    cases = load_cases()
    assert {c.number: c.published_choice for c in cases} == PUBLISHED


@pytest.mark.parametrize("number", sorted(PUBLISHED))
def test_patient_comes_out_as_published(number: int) -> None:
    """The library's preferred option is the published one."""
    rec = recommend(patient(number))
    assert library_choice(rec) == PUBLISHED[number]


@pytest.mark.parametrize("number", sorted(PUBLISHED))
def test_every_reason_and_warning_is_cited_and_the_review_is_among_them(number: int) -> None:
    """Nothing in a published patient's rationale is uncited; the review is cited."""
    rec = recommend(patient(number))
    items = [*rec.reasons, *rec.warnings]
    assert items
    for item in items:
        assert item.text.strip() and item.citations
        assert all(c.label for c in item.citations)
    cited = {c.key for item in items for c in item.citations}
    assert "aldoss2020" in cited


def test_patient_1_blinatumomab_for_speed_to_sibling_transplant_low_burden_and_age() -> None:
    """Patient 1: blinatumomab, for the review's reasons, by a clear margin."""
    rec = recommend(patient(1))
    reasons = {r.rule for r in rec.reasons if r.therapy == "blinatumomab"}
    assert {
        "bridge-to-transplant-with-donor",
        "marrow-blasts-below-50",
        "older-adult-blinatumomab-active",
    } <= reasons
    assert not rec.close_call
    assert "older-adult-car-t-toxicity" in {w.rule for w in rec.warnings}


def test_patient_2_car_t_for_cns_relapse_history() -> None:
    """Patient 2: CAR T cells, decided by the past CNS relapse."""
    rec = recommend(patient(2))
    assert "cns-relapse-history" in {r.rule for r in rec.reasons if r.therapy == "car_t"}


def test_patient_3_car_t_for_late_relapse_off_immunosuppression() -> None:
    """Patient 3: CAR T cells, as T-cell collection is feasible after a late relapse."""
    rec = recommend(patient(3))
    car_t = {r.rule for r in rec.reasons if r.therapy == "car_t"}
    assert {"late-relapse-after-hct", "second-transplant-uncertain-after-hct"} <= car_t
    assert not rec.close_call


def test_patient_4_car_t_with_the_three_published_warnings() -> None:
    """Patient 4: CAR T cells, warned about early relapse, GVHD flare and the wait."""
    rec = recommend(patient(4))
    car_t_warnings = {w.rule for w in rec.warnings if w.therapy == "car_t"}
    assert "early-relapse-after-hct" in car_t_warnings
    assert "immunosuppression-after-hct" in car_t_warnings  # GVHD flare off immunosuppression
    assert "car-t-manufacturing-wait" in car_t_warnings
    assert "blinatumomab-retreatment-after-response" in {r.rule for r in rec.reasons}


def test_patient_5_neither_with_cd22_directed_alternatives() -> None:
    """Patient 5: CD19-negative, so neither option; CD22-directed therapy suggested."""
    rec = recommend(patient(5))
    assert rec.preferred is None
    assert {o.status for o in rec.options} == {"not_eligible"}
    alternatives = {a.id for a in rec.alternatives}
    assert {"inotuzumab-ozogamicin", "cd22-car-t-trial"} <= alternatives
    assert {a.target for a in rec.alternatives} >= {"CD22"}
    assert all(r.rule == "cd19-negative" for r in rec.reasons if r.effect == "not_eligible")
