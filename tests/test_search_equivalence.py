"""The fast search for unknown facts (pruned, memoised) answers exactly as the exhaustive one.

The exhaustive search substitutes every candidate value of every unknown decisive field,
evaluates the whole rule base again with the reference engine and validates every variant.
Compared on every shipped case (published patients, literature cases, the rules' own
cases, in every context) and on 400 seeded generated profiles; ``make bench`` compares
10,000 more.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
import yaml
from conftest import PATIENTS_DIR, REPO, RULES_DIR, patched

from sequencer import default_rulebook, recommend
from sequencer.decide.unknowns import search_mode

sys.path.insert(0, str(REPO / "bench"))
from profiles import profiles

BOOK = default_rulebook()
CONTEXTS = sorted(BOOK.contexts)


def _shipped() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(PATIENTS_DIR.glob("*.json")):
        cases.append((path.stem, json.loads(path.read_text())))
    literature = yaml.safe_load((REPO / "examples/literature/cases.yaml").read_text())["cases"]
    for i, case in enumerate(literature):
        cases.append((f"literature-{i}", case["profile"]))
    for path in sorted(RULES_DIR.glob("*/*.cases.yaml")):
        for rule_id, entry in (yaml.safe_load(path.read_text()) or {}).items():
            for kind in ("fires", "silent"):
                for i, patch in enumerate(entry.get(kind) or []):
                    cases.append((f"{rule_id}-{kind}-{i}", patched(patch)))
    return cases


def _both(profile: dict[str, Any], context: str) -> tuple[dict[str, Any], dict[str, Any]]:
    fast = recommend(profile, context=context).model_dump()
    with search_mode("exhaustive"):
        slow = recommend(profile, context=context).model_dump()
    return fast, slow


def test_shipped_cases_are_many_and_some_have_a_fact_that_could_flip() -> None:
    """Meta-test: the comparison below covers cases where the search finds something."""
    found = 0
    for _, profile in _shipped():
        with search_mode("exhaustive"):
            rec = recommend(profile)
        found += any(m.could_flip for m in rec.missing)
    assert len(_shipped()) > 50
    assert found > 0


@pytest.mark.parametrize("context", CONTEXTS)
def test_fast_search_equals_exhaustive_on_every_shipped_case(context: str) -> None:
    """Every shipped case, in every context: the whole output (missing included) is equal."""
    differing = []
    for name, profile in _shipped():
        fast, slow = _both(profile, context)
        if fast != slow:
            differing.append(name)
    assert differing == []


def test_fast_search_equals_exhaustive_on_a_seeded_generated_sample() -> None:
    """400 generated profiles (seed 26), searched twice (cold then memoised), equal the
    exhaustive search's answers."""
    sample = list(profiles(400, seed=26))
    for attempt in range(2):
        differing = [
            i for i, item in enumerate(sample) if len(set(map(_key, _both(item, CONTEXTS[0])))) != 1
        ]
        assert differing == [], f"pass {attempt}"


def _key(out: dict[str, Any]) -> str:
    return json.dumps(out, sort_keys=True, default=str)


def test_search_off_lists_no_fact_that_could_flip() -> None:
    """The floor mode does no search: no missing fact is marked as one that could flip."""
    sample = list(profiles(200, seed=26))
    with search_mode("off"):
        recs = [recommend(item) for item in sample]
    assert not any(m.could_flip and not m.blocking for r in recs for m in r.missing)
    assert any(m.could_flip for item in sample for m in recommend(item).missing)


def test_an_unknown_search_mode_is_refused() -> None:
    """A mistyped mode raises instead of silently searching."""
    with (
        pytest.raises(ValueError, match="unknown search mode"),
        search_mode("quick"),  # type: ignore[arg-type]
    ):
        pass
