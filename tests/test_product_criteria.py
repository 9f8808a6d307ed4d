"""Each CAR T-cell product's own criteria hold the patient back from that product only;
CAR T cells wait as a whole only when no available product admits the patient."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import RULES_DIR, patched

from sequencer import RuleBaseError, load_rulebook, recommend
from sequencer.model.recommendation import Option, Recommendation

CONTEXT = "contexts/us-2026.yaml"
OBE_CEL = """      citations: [roddie2024]
      safety: >"""
# A criterion for obecabtagene autoleucel, so that both adult products can hold a
# patient back (a rule base for testing the mechanism, not a clinical claim).
OBE_CEL_CRITERION = """      citations: [roddie2024]
      criteria:
        - id: test-obe-cel-cns-3
          title: CNS-3 disease, outside the test criterion
          evidence: prospective
          when:
            disease.cns: CNS3
          until: >
            the CSF is below CNS-3 (a criterion written for this test only)
          rationale: >
            A criterion written for this test so that every adult product can hold a
            patient back; it is not a clinical claim about the product.
          citations: [roddie2024]
      safety: >"""
NO_PRODUCT_ADMITS = """  otherwise: trial
  no_product_admits:
    id: test-no-product-admits
    title: No available CAR T-cell product admits the patient now
    evidence: prospective
    until: >
      an available product's criteria admit the patient (each product lists what holds
      the patient back)
    rationale: >
      Every product available at this age is held back by one of its own criteria, so
      CAR T cells wait until one of them admits the patient.
    citations: [shah2021, roddie2024]"""


def _car_t(rec: Recommendation) -> Option:
    return next(o for o in rec.options if o.therapy == "car_t")


def _rules_copy(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(RULES_DIR, root)
    return root


def _mutate(root: Path, old: str, new: str) -> None:
    path = root / CONTEXT
    text = path.read_text()
    assert old in text, f"anchor not found: {old!r}"
    path.write_text(text.replace(old, new, 1))


def _both_products_can_hold_back(tmp_path: Path) -> Path:
    root = _rules_copy(tmp_path)
    _mutate(root, OBE_CEL, OBE_CEL_CRITERION)
    _mutate(root, "  otherwise: trial", NO_PRODUCT_ADMITS)
    return root


def test_one_product_holding_back_leaves_car_t_open_and_names_the_criterion() -> None:
    patch: dict[str, Any] = {
        "transplant.prior_allo_hct": True,
        "transplant.months_since_hct": 3.1,
        "transplant.candidate": False,
    }
    car_t = _car_t(recommend(patched(patch)))
    assert car_t.status != "deferred"
    by_name = {p.name: p for p in car_t.products}
    assert set(by_name) == {"brexucabtagene autoleucel", "obecabtagene autoleucel"}
    brexu = by_name["brexucabtagene autoleucel"]
    assert not brexu.admits
    assert [h.rule for h in brexu.held_back_by] == ["zuma-3-within-100-days-of-hct"]
    assert "100 days" in brexu.held_back_by[0].until
    assert by_name["obecabtagene autoleucel"].admits


def test_products_listed_are_those_whose_label_covers_the_age() -> None:
    young = _car_t(recommend(patched({"age": 22})))
    older = _car_t(recommend(patched({"age": 40})))
    assert "tisagenlecleucel" in {p.name for p in young.products}
    assert "tisagenlecleucel" not in {p.name for p in older.products}
    assert all(p.admits and not p.held_back_by for p in older.products)


def test_products_are_listed_only_under_approved_access() -> None:
    assert _car_t(recommend(patched({"access.car_t": "trial"}))).products == []
    assert _car_t(recommend(patched({"disease.cns": "CNS3"}), context="us-2020")).products == []


def test_each_product_carries_its_own_safety_figures() -> None:
    products = {p.name: p for p in _car_t(recommend(patched({}))).products}
    obe = products["obecabtagene autoleucel"]
    assert obe.trial == "FELIX" and obe.safety is not None and "2.4%" in obe.safety
    assert {c.key for c in obe.citations} >= {"roddie2024", "aucatzyl-label"}
    brexu = products["brexucabtagene autoleucel"]
    assert brexu.trial == "ZUMA-3" and brexu.safety is not None and "26%" in brexu.safety


def test_car_t_waits_only_when_no_available_product_admits(tmp_path: Path) -> None:
    book = load_rulebook(_both_products_can_hold_back(tmp_path))
    # CNS-3 holds back both adult products: CAR T cells wait, with the context's reason.
    both = _car_t(recommend(patched({"disease.cns": "CNS3"}), rulebook=book))
    assert both.status == "deferred"
    assert both.deferred_by == ["test-no-product-admits"]
    assert both.deferred_until is not None and "admit" in both.deferred_until
    assert not any(p.admits for p in both.products)
    # Only brexucabtagene autoleucel's 100-day criterion: obecabtagene autoleucel admits.
    one = _car_t(
        recommend(
            patched({"transplant.prior_allo_hct": True, "transplant.months_since_hct": 3.1}),
            rulebook=book,
        )
    )
    assert one.status != "deferred"
    assert [p.name for p in one.products if p.admits] == ["obecabtagene autoleucel"]


def test_at_22_a_product_with_no_criteria_keeps_car_t_open(tmp_path: Path) -> None:
    """Tisagenlecleucel covers 22-year-olds and has no criteria of its own here."""
    book = load_rulebook(_both_products_can_hold_back(tmp_path))
    car_t = _car_t(recommend(patched({"age": 22, "disease.cns": "CNS3"}), rulebook=book))
    assert car_t.status != "deferred"
    assert [p.name for p in car_t.products if p.admits] == ["tisagenlecleucel"]


def test_no_product_admits_that_can_never_fire_is_refused(tmp_path: Path) -> None:
    root = _rules_copy(tmp_path)
    _mutate(root, "  otherwise: trial", NO_PRODUCT_ADMITS)
    with pytest.raises(RuleBaseError, match="obecabtagene autoleucel has no criteria") as caught:
        load_rulebook(root)
    assert caught.value.path is not None and caught.value.path.endswith(CONTEXT)
    assert caught.value.line is not None


def test_every_product_holding_back_without_a_reason_is_refused(tmp_path: Path) -> None:
    root = _rules_copy(tmp_path)
    _mutate(root, OBE_CEL, OBE_CEL_CRITERION)
    with pytest.raises(RuleBaseError, match="no_product_admits"):
        load_rulebook(root)


def test_a_product_criterion_with_then_is_refused_at_its_line(tmp_path: Path) -> None:
    root = _rules_copy(tmp_path)
    _mutate(
        root,
        "          until: >\n            intrathecal therapy",
        "          then: [{defer: car_t, until: a criterion that defers everything}]\n"
        "          until: >\n            intrathecal therapy",
    )
    with pytest.raises(RuleBaseError, match="has no 'then'") as caught:
        load_rulebook(root)
    assert caught.value.rule_id == "zuma-3-cns-3"
    lines = (root / CONTEXT).read_text().splitlines()
    assert "zuma-3-cns-3" in lines[(caught.value.line or 0) - 1]


def test_holds_back_outside_a_product_is_refused(tmp_path: Path) -> None:
    root = _rules_copy(tmp_path)
    path = root / "considerations/age.yaml"
    text = path.read_text()
    anchor = "      - argues: older-adult-tolerance\n        strength: moderate\n"
    assert anchor in text
    path.write_text(
        text.replace(
            anchor,
            anchor + "      - holds_back: obecabtagene autoleucel\n"
            "        until: a product criterion written in the wrong place\n",
            1,
        )
    )
    with pytest.raises(RuleBaseError, match="holds_back"):
        load_rulebook(root)
