"""Serious cautions (a risk to life, or of never receiving the option) are data in the
rule files, carried by the recommendation, listed first and marked on every view."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import PATIENTS_DIR, RULES_DIR

from sequencer import RuleBaseError, default_rulebook, load_rulebook, recommend
from sequencer.knowledge.schema import Caution as CautionEffect
from sequencer.present.markdown import markdown_recommendation
from sequencer.present.phrases import grouped_warnings
from sequencer.present.report import case_report, html_report


def test_a_serious_caution_is_carried_with_its_severity() -> None:
    rec = recommend((PATIENTS_DIR / "patient-4.json").read_bytes(), context="us-2020")
    severity = {w.rule: w.severity for w in rec.warnings}
    assert severity["early-relapse-after-hct"] == "serious"
    assert "standard" in severity.values()


def test_serious_cautions_come_first_and_are_marked_on_every_view() -> None:
    profile = (PATIENTS_DIR / "patient-4.json").read_bytes()
    rec = recommend(profile, context="us-2020")
    order = [w.severity for _, w in grouped_warnings(rec)]
    assert order == sorted(order, key=lambda s: s != "serious") and "serious" in order
    page = html_report(case_report(profile, context="us-2020"))
    assert page.count('class="serious"') == sum(s == "serious" for s in order)
    assert "Serious:" in markdown_recommendation(rec)


def test_every_severity_in_the_shipped_rules_is_stated_by_a_cited_rule() -> None:
    serious = [
        r
        for r in default_rulebook().rules
        for e in r.rule.then
        if isinstance(e, CautionEffect) and e.severity == "serious"
    ]
    assert len(serious) >= 10
    assert all(r.rule.citations for r in serious)


def test_an_unknown_severity_fails_at_load_with_file_and_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(RULES_DIR, tmp_path / "rules")
    file = tmp_path / "rules" / "considerations" / "transplant-history.yaml"
    file.write_text(file.read_text().replace("severity: serious", "severity: grave", 1))
    with pytest.raises(RuleBaseError) as caught:
        load_rulebook(tmp_path / "rules")
    assert "transplant-history.yaml:" in str(caught.value)
    assert caught.value.rule_id is not None and caught.value.line is not None
