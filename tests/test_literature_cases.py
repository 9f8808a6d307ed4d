"""Published cases outside the review come out as their clinicians chose."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from conftest import REPO

from sequencer import default_rulebook, recommend

CASES: list[dict[str, Any]] = yaml.safe_load(
    (REPO / "examples" / "literature" / "cases.yaml").read_text()
)["cases"]


def test_every_case_cites_a_known_source() -> None:
    """Each literature case names a bibliography entry."""
    sources = default_rulebook().sources
    assert all(case["source"] in sources for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_literature_case_comes_out_as_clinicians_chose(case: dict[str, Any]) -> None:
    """Same choice as the clinicians (or as the cited criterion implies), with their
    add-on, exclusion, deferral or caution, every reason cited."""
    rec = recommend(case["profile"])
    differs = case.get("library_differs")
    if differs is not None:
        # A documented disagreement: the library's own answer, pinned, with why.
        assert len(differs["why"].split()) >= 10
        assert differs["preferred"] != case["clinicians_chose"]
        assert rec.preferred == differs["preferred"]
    else:
        assert rec.preferred == case["clinicians_chose"]
    chosen = next(
        o for o in rec.options if o.therapy == (rec.preferred or case["clinicians_chose"])
    )
    if "expected_add_on" in case:
        assert case["expected_add_on"] in {a.id for a in chosen.add_ons}
    if "expected_add_on_to" in case:
        assert chosen.add_ons, "a TKI partner should be suggested"
    if "expected_deferred" in case:
        other = next(o for o in rec.options if o.therapy == case["expected_deferred"])
        assert other.status == "deferred" and other.deferred_until and other.deferred_by
    if "expected_not_eligible" in case:
        other = next(o for o in rec.options if o.therapy == case["expected_not_eligible"])
        assert other.status == "not_eligible" and other.reasons
    if "expected_alternative" in case:
        assert case["expected_alternative"] in {a.id for a in rec.alternatives}
    if "expected_products" in case:
        car_t = next(o for o in rec.options if o.therapy == "car_t")
        products = {p.name: p for p in car_t.products}
        for name, rule in case["expected_products"].get("held_back", {}).items():
            assert not products[name].admits
            assert rule in {h.rule for h in products[name].held_back_by}
        for name in case["expected_products"].get("admits", []):
            assert products[name].admits and not products[name].held_back_by
    if "expected_cautions" in case:
        assert set(case["expected_cautions"]) <= {w.rule for w in rec.warnings}
    assert all(r.citations for r in [*rec.reasons, *rec.warnings])
