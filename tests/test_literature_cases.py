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
    add-on, exclusion or deferral, every reason cited."""
    rec = recommend(case["profile"])
    assert rec.preferred == case["clinicians_chose"]
    chosen = next(o for o in rec.options if o.therapy == rec.preferred)
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
    assert all(r.citations for r in [*rec.reasons, *rec.warnings])
