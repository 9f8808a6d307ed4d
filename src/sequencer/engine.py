"""The durable_rules adapter: the only module that imports ``durable``.

It compiles a ``Rulebook``'s engine-neutral conditions into durable_rules' JSON form
and evaluates one profile per session, returning the ids of the rules that fired.
Every trap recorded in ``shared/notes/durable-rules.md`` is handled here:

* **Default host's timer threads** (wrong or partial results, segfaults): a ``Host``
  subclass whose ``_run`` starts no timers, created once per process.
* **Registration once per process**: rulesets are named after the rule base digest
  and registered the first time that rule base is evaluated; later engines reuse it.
* **Facts, not events**: profiles are asserted with ``assert_fact`` so that every
  matching rule fires; derived concepts are further facts that carry the deriving
  rule's id, so no identical fact is asserted twice in one session.
* **Unmatched facts**: sentinel rules match every profile and every derived concept,
  so the engine never raises ``MessageNotHandledException`` (a derived concept that
  no rule joins on would otherwise raise it inside the deriving rule's action).
* **Absence tests matching the engine's state record**: every profile pattern is
  anchored with ``kind == "profile"``.
* **Session cap (1,024 live sessions) and 32-bit session hashing**: one session per
  evaluation, deleted after a successful assert, one live at a time (a lock).
  After an engine fault the session is *not* deleted (that can crash the process).
* **Swallowed exceptions in actions**: actions catch and record their own errors; the
  engine's ``exception`` field is checked too; either raises ``EngineError``.
* **Float formats** (``1e-05`` rejected with error 204): facts and rule definitions
  are serialized here with numbers in plain decimal notation.
* **Lists** (ABL1 mutations) never reach the engine as arrays: each becomes a length
  property and one boolean flag per item, so ``contains`` is a plain equality test.
* **Unknown values**: a ``None`` becomes a missing key, so comparisons are false and
  ``$nex`` finds it; enumerations that spell ``"unknown"`` out are guarded so the
  meaning matches ``sequencer.conditions.evaluate`` exactly.
* **Thread safety**: one process-wide lock around registration and evaluation
  (durable_rules never releases the GIL, so threads gain nothing by overlapping).
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import durable_rules_engine
from durable.engine import Host, Promise, Ruleset

from sequencer.conditions import AllOf, AnyOf, Compare, Node, normalize_token
from sequencer.errors import EngineError
from sequencer.profile import FIELDS
from sequencer.rulebook import Rulebook

__all__ = ["DurableEngine", "compile_ruleset", "fact_key"]

_SENTINEL = "sequencer:sentinel"
_CONCEPT_SENTINEL = "sequencer:concept-sentinel"
_LOCK = threading.RLock()
_SESSIONS = itertools.count(1)


def fact_key(path: str) -> str:
    """Return the fact property for a dotted profile path (``disease.cns`` -> ``disease__cns``)."""
    return path.replace(".", "__")


# --- serialization without exponent notation -------------------------------------


def _number(value: int | float) -> str:
    if isinstance(value, bool):  # pragma: no cover - bools are handled before numbers
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise EngineError(f"cannot pass a non-finite number to the engine: {value!r}")
    return format(Decimal(repr(value)), "f")


def to_json(value: Any) -> str:
    """Serialize dicts, lists, strings, booleans and numbers, numbers in plain notation."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    raise EngineError(f"cannot pass {type(value).__name__} to the engine")


# --- compiling conditions ----------------------------------------------------------


def _compile(node: Node) -> dict[str, Any]:
    if isinstance(node, AllOf):
        return {"$and": [_compile(item) for item in node.items]} if node.items else {}
    if isinstance(node, AnyOf):
        return {"$or": [_compile(item) for item in node.items]}
    return _compile_compare(node)


def _compile_compare(node: Compare) -> dict[str, Any]:
    key = fact_key(node.field)
    if FIELDS[node.field].kind == "list":
        return _compile_list(node, key)
    literal = FIELDS[node.field].unknown_value
    if node.op == "unknown":
        test: dict[str, Any] = {"$nex": {key: 1}}
        return {"$or": [test, {key: literal}]} if literal else test
    if node.op == "known":
        test = {"$ex": {key: 1}}
        return {"$and": [test, {"$neq": {key: literal}}]} if literal else test
    if node.op == "eq":
        return {key: node.value}
    if node.op == "in":
        return {"$or": [{key: v} for v in node.value]}
    names_unknown = literal is not None and (
        node.value == literal or (isinstance(node.value, tuple) and literal in node.value)
    )
    guard = [{"$neq": {key: literal}}] if literal and not names_unknown else []
    if node.op == "ne":
        return _and([{"$neq": {key: node.value}}, *guard])
    if node.op == "not_in":
        return _and([*({"$neq": {key: v}} for v in node.value), *guard])
    op = {"lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}[node.op]
    return {op: {key: node.value}}


def _compile_list(node: Compare, key: str) -> dict[str, Any]:
    """Lists reach the engine as flags: ``<key>__n`` (length) and ``<key>__has__<ITEM>``."""
    known = {"$ex": {f"{key}__n": 1}}
    if node.op == "known":
        return known
    if node.op == "unknown":
        return {"$nex": {f"{key}__n": 1}}
    flag = f"{key}__has__{node.value}"
    if node.op == "contains":
        return {flag: True}
    if node.op == "not_contains":
        return {"$and": [known, {"$nex": {flag: 1}}]}
    raise EngineError(f"operator {node.op} does not apply to a list")  # pragma: no cover


def _list_flags(key: str, items: tuple[str, ...]) -> dict[str, Any]:
    flags: dict[str, Any] = {f"{key}__n": len(items)}
    for item in items:
        flags[f"{key}__has__{normalize_token(item)}"] = True
    return flags


def _and(items: list[dict[str, Any]]) -> dict[str, Any]:
    return items[0] if len(items) == 1 else {"$and": items}


def _anchored(node: Node) -> dict[str, Any]:
    compiled = _compile(node)
    return {"$and": [{"kind": "profile"}, compiled]} if compiled else {"kind": "profile"}


def compile_ruleset(rulebook: Rulebook) -> dict[str, dict[str, Any]]:
    """Return the durable_rules JSON definition of the rule base's active rules.

    Actions are not included; the adapter attaches them when registering.
    """
    definition: dict[str, dict[str, Any]] = {
        _SENTINEL: {"all": [{"m": {"kind": "profile"}}]},
        _CONCEPT_SENTINEL: {"all": [{"m": {"kind": "concept"}}]},
    }
    for rule in rulebook.active:
        patterns: list[dict[str, Any]] = [{"p": _anchored(rule.condition.profile)}]
        for index, name in enumerate(rule.condition.concepts):
            patterns.append({f"c{index}": {"$and": [{"kind": "concept"}, {"name": name}]}})
        definition[rule.id] = {"all": patterns}
    return definition


# --- the host, the ruleset and the run ---------------------------------------------


class _QuietHost(Host):  # type: ignore[misc]
    """A durable_rules host with no background timer threads."""

    def _run(self) -> None:
        return None

    def add(self, name: str, ruleset: _Ruleset) -> None:
        self._ruleset_directory[name] = ruleset
        self._ruleset_list.append(ruleset)


class _Ruleset(Ruleset):  # type: ignore[misc]
    """A ruleset that serializes definitions and facts with ``to_json``."""

    def __init__(
        self,
        name: str,
        host: _QuietHost,
        definition: dict[str, dict[str, Any]],
        actions: Mapping[str, Callable[[Any], None]],
    ) -> None:
        self._actions = {rule: Promise(actions[rule]) for rule in definition}
        self._name = name
        self._host = host
        self._handle = durable_rules_engine.create_ruleset(name, to_json(definition))
        self._definition = definition

    def assert_fact(self, fact: Any) -> Any:
        text = fact if isinstance(fact, str) else to_json(fact)
        return self._handle_result(durable_rules_engine.assert_fact(self._handle, text), fact)


class _Run:
    """What one evaluation collects from the actions."""

    def __init__(self) -> None:
        self.fired: list[str] = []
        self.errors: list[str] = []


_host: _QuietHost | None = None
_registered: dict[str, str] = {}
_current: _Run | None = None


def _action(rule_id: str, derives: tuple[str, ...]) -> Callable[[Any], None]:
    def run(c: Any) -> None:
        current = _current
        if current is None:  # pragma: no cover - only reachable if the lock is bypassed
            return
        try:
            if rule_id in current.fired:
                return
            current.fired.append(rule_id)
            for name in derives:
                c.assert_fact({"kind": "concept", "name": name, "by": rule_id})
        except BaseException as error:  # the engine would swallow it: record it instead
            current.errors.append(f"rule '{rule_id}': {type(error).__name__}: {error}")

    return run


def _noop(c: Any) -> None:
    return None


class DurableEngine:
    """Evaluates profiles against one rule base with durable_rules.

    Creating engines is cheap after the first for a given rule base: the ruleset is
    registered once per process, named after the rule base's digest.
    """

    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook
        self.name = f"sequencer_{rulebook.digest.removeprefix('sha256:')[:24]}"
        self._active = frozenset(rule.id for rule in rulebook.active)
        with _LOCK:
            self._register()

    def _register(self) -> None:
        global _host
        if self.name in _registered:
            return
        if _host is None:
            _host = _QuietHost()
        definition = compile_ruleset(self.rulebook)
        actions: dict[str, Callable[[Any], None]] = {_SENTINEL: _noop, _CONCEPT_SENTINEL: _noop}
        for rule in self.rulebook.active:
            actions[rule.id] = _action(rule.id, rule.derives)
        try:
            ruleset = _Ruleset(self.name, _host, definition, actions)
        except Exception as error:
            raise EngineError(f"durable_rules rejected the compiled rule base: {error}") from None
        _host.add(self.name, ruleset)
        _registered[self.name] = self.rulebook.digest

    def fired(self, facts: Mapping[str, Any]) -> frozenset[str]:
        """Return the ids of the active rules that fire for flattened profile ``facts``.

        ``facts`` maps dotted field paths to values (``None`` = unknown). Raises
        ``EngineError`` when the engine or a rule action fails.
        """
        global _current
        fact: dict[str, Any] = {"kind": "profile"}
        for path, value in facts.items():
            if value is None:
                continue
            if isinstance(value, tuple):
                fact.update(_list_flags(fact_key(path), value))
            else:
                fact[fact_key(path)] = value
        with _LOCK:
            assert _host is not None
            sid = str(next(_SESSIONS))
            fact["sid"] = sid
            run = _Run()
            _current = run
            try:
                state = _host.assert_fact(self.name, to_json(fact))
            except Exception as error:
                message = getattr(error, "message", None) or str(error)
                raise EngineError(f"durable_rules failed: {message}") from None
            finally:
                _current = None
            engine_error = state.get("exception") if isinstance(state, dict) else None
            _host.delete_state(self.name, sid)
        if run.errors or engine_error:
            raise EngineError(
                "; ".join([*run.errors, *([str(engine_error)] if engine_error else [])])
            )
        unknown = set(run.fired) - self._active
        if unknown:  # pragma: no cover - defensive
            raise EngineError(f"engine reported unknown rules: {sorted(unknown)}")
        return frozenset(run.fired)
