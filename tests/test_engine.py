"""The durable_rules adapter: same answers as the reference evaluator, and none of the
engine's traps leak out (session cap, swallowed errors, float formats, threads)."""

from __future__ import annotations

import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import patched

from sequencer import EngineError, default_rulebook, fired_rules, parse_profile
from sequencer.api import effective_profile
from sequencer.engine import durable as engine_module
from sequencer.engine.durable import DurableEngine, compile_ruleset, to_json
from sequencer.engine.reference import ReferenceEngine
from sequencer.knowledge.conditions import AllOf, AnyOf, Compare
from sequencer.model.fields import flatten

GRID: dict[str, list[Any]] = {
    "age": [18, 61, 70, None],
    "disease.marrow_blasts_pct": [4.9, 5, 49.9, 50, None],
    "disease.cns": ["CNS1", "CNS3", "unknown"],
    "disease.cd19": ["positive", "negative", "unknown"],
    "transplant.prior_allo_hct": [True, False, None],
    "access.car_t": ["trial", "unavailable", None],
}


def _grid_profiles() -> list[dict[str, Any]]:
    keys = list(GRID)
    return [
        patched(dict(zip(keys, values, strict=True)))
        for values in itertools.product(*GRID.values())
    ]


def test_engine_matches_reference_on_a_grid_of_profiles() -> None:
    """On every combination of a value grid, both evaluators fire the same rules."""
    book = default_rulebook()
    reference = ReferenceEngine(book)
    profiles = _grid_profiles()
    assert len(profiles) == 1620
    mismatches = []
    for data in profiles:
        effective, context, _ = effective_profile(data)
        if fired_rules(data) != reference.fired(flatten(effective), context.context):
            mismatches.append(data)
    assert mismatches == []


def test_sessions_are_released_beyond_the_engine_cap() -> None:
    """More than 1,024 evaluations in a row never hit the engine's session cap."""
    data = patched({})
    first = fired_rules(data)
    for _ in range(1200):
        assert fired_rules(data) == first


def test_failing_action_raises_engine_error_and_releases_its_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception inside a rule action is not swallowed, and the engine keeps working."""
    book = default_rulebook()
    engine = DurableEngine(book)
    real = engine_module._Run

    class ExplodingRun(real):  # type: ignore[misc, valid-type]
        def __init__(self, sid: str = "") -> None:
            super().__init__(sid)
            self.fired = _Exploding()

    class _Exploding(list[str]):
        def append(self, item: str) -> None:
            raise RuntimeError("boom")

    monkeypatch.setattr(engine_module, "_Run", ExplodingRun)
    facts = flatten(parse_profile(patched({})))
    for _ in range(1100):  # past the cap: failed sessions must be released too
        with pytest.raises(EngineError, match="boom"):
            engine.fired(facts)
    monkeypatch.setattr(engine_module, "_Run", real)
    assert engine.fired(facts) == ReferenceEngine(book).fired(facts)


def test_numbers_are_written_without_exponents() -> None:
    """durable_rules rejects 1e-05; the adapter writes plain decimals."""
    assert to_json({"a": 1e-05, "b": 1e16, "c": 0.15, "d": 3, "e": [1e-7]}) == (
        '{"a":0.00001,"b":10000000000000000,"c":0.15,"d":3,"e":[0.0000001]}'
    )
    with pytest.raises(EngineError):
        to_json({"x": float("nan")})


def test_compiled_rules_are_anchored_on_the_profile_fact() -> None:
    """Every rule pattern tests kind == profile, so absence tests cannot loop."""
    definition = compile_ruleset(default_rulebook())
    for name, rule in definition.items():
        first = rule["all"][0]
        pattern = next(iter(first.values()))
        text = json.dumps(pattern)
        assert '"kind": "profile"' in text or '"kind": "concept"' in text, name


def test_unknown_enum_value_never_satisfies_a_negative_comparison() -> None:
    """'ne'/'not_in' on an enum spelled 'unknown' are false, in both evaluators."""
    from sequencer.engine.durable import _compile
    from sequencer.knowledge.conditions import evaluate

    node = Compare("disease.cns", "ne", "CNS3")
    assert evaluate(node, {"disease.cns": "unknown"}) is False
    assert evaluate(node, {"disease.cns": "CNS1"}) is True
    assert "$neq" in json.dumps(_compile(node))
    both = AnyOf((AllOf((node,)), Compare("age", "unknown")))
    assert evaluate(both, {"disease.cns": "unknown", "age": None}) is True


def test_results_are_the_same_from_eight_threads() -> None:
    """Concurrent callers get exactly the serial answers."""
    profiles = _grid_profiles()[:300]
    serial = [fired_rules(p) for p in profiles]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(fired_rules, profiles * 4))
    assert threaded == serial * 4


def test_a_second_engine_for_the_same_rule_base_reuses_the_registration() -> None:
    """Registration happens once per process; creating engines again is harmless."""
    book = default_rulebook()
    a, b = DurableEngine(book), DurableEngine(book)
    facts = flatten(parse_profile(patched({"age": 70})))
    assert a.name == b.name
    assert a.fired(facts) == b.fired(facts)
