"""Clinical sign-off: each rule (and the rule base) says who reviewed it and when it is
due; stale and unsigned rules are listed, and every recommendation's stamp names them."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import pytest
from conftest import RULES_DIR, patched

from sequencer import RuleBaseError, fired_rules, load_rulebook, recommend
from sequencer.cli import main
from sequencer.knowledge.review import stale_rules

ON = datetime.date(2026, 11, 29)
AGE = "considerations/age.yaml"
FIRST = "  - id: older-adult-blinatumomab-active\n"


def _signed(tmp_path: Path, due: str, signed: str = "2024-01-15") -> Path:
    root = tmp_path / "rules"
    shutil.copytree(RULES_DIR, root)
    path = root / AGE
    text = path.read_text()
    assert FIRST in text
    sign_off = f"    sign_off: {{by: ALL tumor board chair, signed: {signed}, due: {due}}}\n"
    path.write_text(text.replace(FIRST, FIRST + sign_off, 1))
    manifest = root / "rulebook.yaml"
    own = "sign_off: {by: ALL tumor board, signed: 2026-06-01, due: 2027-06-01}\n"
    manifest.write_text(manifest.read_text() + own)
    return root


def test_a_rule_past_its_review_date_is_reported_stale(tmp_path: Path) -> None:
    book = load_rulebook(_signed(tmp_path, due="2025-01-15"))
    entries = {e.rule: e for e in stale_rules(book, ON)}
    stale = entries["older-adult-blinatumomab-active"]
    assert stale.reason == "due 2025-01-15 (signed off by ALL tumor board chair on 2024-01-15)"
    assert "*" not in entries  # the rule base's own sign-off is current
    assert entries["age-unknown"].reason == "never signed off"
    assert next(iter(entries)) == "older-adult-blinatumomab-active"  # dated entries first


def test_a_current_sign_off_is_not_listed(tmp_path: Path) -> None:
    book = load_rulebook(_signed(tmp_path, due="2027-01-15"))
    assert "older-adult-blinatumomab-active" not in {e.rule for e in stale_rules(book, ON)}


def test_every_recommendation_names_the_fired_rules_without_a_current_sign_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sequencer.decide.plans.today", lambda: ON)
    book = load_rulebook(_signed(tmp_path, due="2025-01-15"))
    rec = recommend(patched({"age": 70}), rulebook=book)
    fired = fired_rules(patched({"age": 70}), rulebook=book)
    assert rec.rulebook.stale_rules == ["older-adult-blinatumomab-active"]
    assert set(rec.rulebook.unsigned_rules) == fired - {"older-adult-blinatumomab-active"}
    assert rec.rulebook.rule_base_review == (
        "signed off by ALL tumor board on 2026-06-01, due 2027-06-01"
    )
    young = recommend(patched({"age": 40}), rulebook=book)
    assert young.rulebook.stale_rules == []


def test_a_review_due_before_it_was_done_fails_the_load(tmp_path: Path) -> None:
    root = _signed(tmp_path, due="2023-01-01")
    with pytest.raises(RuleBaseError, match="due must come after signed") as caught:
        load_rulebook(root)
    assert caught.value.path is not None and caught.value.path.endswith(AGE)
    assert caught.value.rule_id == "older-adult-blinatumomab-active"


def test_rules_stale_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _signed(tmp_path, due="2025-01-15")
    args = ["rules", "--rules", str(root), "--stale", "--today", "2026-11-29", "--format", "json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["on"] == "2026-11-29"
    assert data["needs_review"][0] == {
        "rule": "older-adult-blinatumomab-active",
        "reason": "due 2025-01-15 (signed off by ALL tumor board chair on 2024-01-15)",
        "due": "2025-01-15",
    }
    with pytest.raises(SystemExit) as bad_date:
        main(["rules", "--stale", "--today", "29/11/2026"])
    assert bad_date.value.code == 2
