"""The integration example runs end to end on its day list."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path
from types import ModuleType

import pytest
from conftest import REPO

from sequencer import default_rulebook


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "tumor_board", REPO / "examples" / "tumor_board.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tumor_board_scores_the_day_and_stores_auditable_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Valid profiles are stored with their rule base digest; invalid ones with problems."""
    board = _load_example()
    db_path = tmp_path / "board.sqlite3"
    day = REPO / "examples" / "tumor_board_day.jsonl"
    assert board.main([str(day), "--db", str(db_path), "--date", "2026-11-21"]) == 0
    assert "7 recommended, 3 rejected" in capsys.readouterr().out
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT patient_id, preferred, problems, rules_digest, result_json "
            "FROM recommendations ORDER BY line"
        ).fetchall()
    digest = default_rulebook().digest
    stored = [r for r in rows if r[2] is None]
    rejected = [r for r in rows if r[2] is not None]
    assert len(stored) == 7 and len(rejected) == 3
    assert all(r[3] == digest and json.loads(r[4])["rulebook"]["digest"] == digest for r in stored)
    assert {p["field"] for p in json.loads(rejected[0][2])} == {
        "age",
        "disease.marrow_blasts_pct",
        "disease.cnss",
    }
    # the review's patients in today's context: patient 4, three months after transplant
    # and on immunosuppression, gets blinatumomab now, CAR T cells being deferred
    assert [r[1] for r in stored[:5]] == ["blinatumomab", "car_t", "car_t", "blinatumomab", None]


def test_docs_rule_catalogue_is_current() -> None:
    """The rule list in docs/rule-base.md is exactly what the rule base generates
    (make catalogue; the site regenerates it at build time too)."""
    from sequencer.present.markdown import markdown_catalogue

    text = (REPO / "docs" / "rule-base.md").read_text()
    start, end = "<!-- catalogue:start -->", "<!-- catalogue:end -->"
    embedded = text[text.index(start) + len(start) : text.index(end)]
    assert embedded == "\n" + markdown_catalogue(default_rulebook())
