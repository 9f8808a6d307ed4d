"""Rule coverage over a seeded generated cohort: how often each rule fires and decides."""

from __future__ import annotations

import json

import pytest

from sequencer import default_rulebook, parse_profile
from sequencer.cli import main
from sequencer.explain.cohort import cohort, coverage
from sequencer.knowledge.schema import Caution, Missing
from sequencer.model.fields import FIELDS, flatten

BOOK = default_rulebook()
COHORT = list(cohort(BOOK, 1500, seed=7))
FOUND = coverage(BOOK, COHORT)
BY_RULE = {r.rule: r for r in FOUND.rules}


def test_the_cohort_is_valid_seeded_and_reaches_every_value() -> None:
    assert [p.id for p in cohort(BOOK, 5, seed=7)] == [p.id for p in COHORT[:5]]
    assert list(cohort(BOOK, 5, seed=7)) == COHORT[:5]
    assert list(cohort(BOOK, 5, seed=8)) != COHORT[:5]
    assert all(parse_profile(p.model_dump()) == p for p in COHORT[:200])
    seen: dict[str, set[object]] = {}
    for p in COHORT:
        for field, value in flatten(p).items():
            seen.setdefault(field, set()).add(value if not isinstance(value, list) else None)
    for field, spec in FIELDS.items():
        if spec.kind == "enum":
            assert set(spec.values) <= seen[field], field


def test_a_rule_that_cannot_decide_decides_for_nobody() -> None:
    """Rules that only caution or ask for a fact fire, but never decide."""
    quiet = [
        r
        for r in BOOK.active_in(FOUND.context)
        if all(
            isinstance(e, Caution) or (isinstance(e, Missing) and not e.blocking) for e in r.then
        )
    ]
    assert quiet
    assert all(BY_RULE[r.id].decides == 0 for r in quiet)
    assert any(BY_RULE[r.id].fires > 0 for r in quiet)
    assert {r.id for r in quiet if BY_RULE[r.id].fires} <= set(FOUND.never_decide)


def test_a_rule_that_takes_every_option_away_decides_whenever_it_fires() -> None:
    """CD19-negative disease rules both options out: it decides every time it fires."""
    cd19 = BY_RULE["cd19-negative"]
    assert cd19.fires > 0 and cd19.decides == cd19.fires


def test_rules_coverage_command_prints_a_table_markdown_and_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`rules --coverage` prints JSON, Markdown when asked, and a table (not Markdown)
    under the default text format."""
    assert main(["rules", "--coverage", "--cohort", "200", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cohort"] == 200 and data["context"] == "us-2026"
    assert {r["id"] for r in data["rules"]} == {r.id for r in BOOK.active_in("us-2026")}
    args = ["rules", "--coverage", "--cohort", "200", "--context", "us-2020"]
    assert main([*args, "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert "context `us-2020`" in text and "| `cd19-negative` |" in text
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "context us-2020" in text and "cd19-negative" in text
    title = next(r.rule.title for r in BOOK.rules if r.rule.id == "cd19-negative")
    assert " ".join(title.split()[:3]) in text  # the rule's title beside its id
    assert "`" not in text and "|---" not in text and "**" not in text
