"""Every rule has a profile where it fires and one where it stays silent, checked on
both the durable_rules adapter and the plain-Python reference evaluator.

The cases sit beside their rules: ``rules/considerations/age.cases.yaml`` for
``age.yaml``, ``rules/contexts/us-2026.cases.yaml`` for a context's own rules. Each maps
a rule id to profiles on which it must fire and on which it must stay silent, each a
patch over ``rules/cases-base.json`` with dotted keys (``disease.cns: CNS2``; ``null`` is
unknown). Put a silent case right next to the rule's boundary (49 vs 50% blasts), so
the case pins the threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import RULES_DIR, patched

from sequencer import default_rulebook, fired_rules, recommend
from sequencer.api import effective_profile
from sequencer.engine.reference import ReferenceEngine
from sequencer.knowledge.rulebook import CASES_SUFFIX
from sequencer.knowledge.schema import Failed, SetsAside
from sequencer.model.fields import flatten


def _case_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*/*" + CASES_SUFFIX))


def _load_cases() -> dict[str, dict[str, list[dict[str, Any]]]]:
    cases: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for path in _case_files():
        for rule_id, entry in (yaml.safe_load(path.read_text()) or {}).items():
            assert rule_id not in cases, f"{path.name}: cases for {rule_id} given twice"
            cases[rule_id] = entry
    return cases


CASES = _load_cases()
PARAMS = [
    pytest.param(rule_id, kind, patch, id=f"{rule_id}-{kind}-{i}")
    for rule_id, entry in CASES.items()
    for kind in ("fires", "silent")
    for i, patch in enumerate(entry.get(kind) or [])
]
REFERENCE = ReferenceEngine(default_rulebook())


def test_every_active_rule_has_a_firing_and_a_silent_case() -> None:
    """Meta-test: no active rule goes without both kinds of case."""
    lacking = [
        f"{rule.id}: needs {kind}"
        for rule in default_rulebook().active
        for kind in ("fires", "silent")
        if not CASES.get(rule.id, {}).get(kind)
    ]
    assert lacking == []


def test_cases_name_only_existing_rules() -> None:
    """A case for a rule that does not exist (a typo, a renamed rule) is an error."""
    known = {rule.id for rule in default_rulebook().active}
    assert sorted(set(CASES) - known) == []


def test_case_files_mirror_consideration_files() -> None:
    """Cases are kept beside their rules: one case file per consideration file, and
    one per regulatory context that has rules of its own."""
    book = default_rulebook()
    rule_files = {
        f"considerations/{p.name.removesuffix('.yaml')}"
        for p in (RULES_DIR / "considerations").glob("*.yaml")
        if not p.name.endswith(CASES_SUFFIX)
    }
    rule_files |= {f"contexts/{r.context}" for r in book.active if r.context is not None}
    cases = {p.relative_to(RULES_DIR).as_posix().removesuffix(CASES_SUFFIX) for p in _case_files()}
    assert cases == rule_files


DEFEATS = [
    pytest.param(rule.id, kind, patch, id=f"{rule.id}-{kind}-{i}")
    for rule in default_rulebook().active
    if any(isinstance(e, Failed | SetsAside) for e in rule.then)
    for kind in ("fires", "silent")
    for i, patch in enumerate(CASES.get(rule.id, {}).get(kind) or [])
]


def test_every_defeat_has_cases() -> None:
    """Meta-test: rules that set arguments aside exist, and each has cases (above)."""
    assert DEFEATS
    assert {p.values[0] for p in DEFEATS} == {
        rule.id
        for rule in default_rulebook().active
        if any(isinstance(e, Failed | SetsAside) for e in rule.then)
    }


@pytest.mark.parametrize(("rule_id", "kind", "patch"), DEFEATS)
def test_defeat_sets_aside_exactly_when_it_fires(
    rule_id: str, kind: str, patch: dict[str, Any]
) -> None:
    """A defeating rule's firing cases show the arguments it defeats as set aside, by it,
    with no weight; its silent cases set nothing aside by it."""
    book = default_rulebook()
    rule = book.rule(rule_id)
    rec = recommend(patched(patch))
    by_rule = [a for a in rec.arguments if rule_id in {s.rule for s in a.set_aside_by}]
    if kind == "silent":
        assert by_rule == []
        return
    targets: set[str] = set()
    for effect in rule.then:
        if isinstance(effect, Failed):
            targets |= {a for a, spec in book.arguments.items() if spec.pro_of == effect.failed}
        elif isinstance(effect, SetsAside):
            targets |= set(effect.sets_aside)
    made = {a.id for a in rec.arguments}
    assert {a.id for a in by_rule} == targets & made
    assert all(a.status == "set_aside" and a.weight == 0 for a in by_rule)


@pytest.mark.parametrize(("rule_id", "kind", "patch"), PARAMS)
def test_rule_fires_or_stays_silent(rule_id: str, kind: str, patch: dict[str, Any]) -> None:
    """The rule fires on its 'fires' cases and not on its 'silent' cases, in both engines."""
    profile, context, _ = effective_profile(patched(patch))
    engine_fired = fired_rules(profile)
    reference_fired = REFERENCE.fired(flatten(profile), context.context)
    assert engine_fired == reference_fired
    assert (rule_id in engine_fired) is (kind == "fires")


def test_every_defeat_is_seen_setting_something_aside() -> None:
    """Meta-test: each defeating rule has at least one firing case in which an argument
    it defeats is really made and set aside by it, so the test above checks something
    for every defeat (a firing case with nothing to defeat proves nothing)."""
    seen: set[str] = set()
    for param in DEFEATS:
        rule_id, kind, patch = param.values
        if kind != "fires":
            continue
        rec = recommend(patched(patch))
        if any(rule_id in {s.rule for s in a.set_aside_by} for a in rec.arguments):
            seen.add(rule_id)
    assert sorted({p.values[0] for p in DEFEATS} - seen) == []
