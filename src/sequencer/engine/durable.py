"""The durable_rules adapter: the only module that imports ``durable``.

It compiles a ``Rulebook``'s engine-neutral conditions into durable_rules' JSON form
and evaluates one profile per session, returning the ids of the rules that fired.
Every trap of durable_rules measured for this project is handled here:

* **Default host's timer threads** (wrong or partial results, segfaults): no ``Host``
  is ever created. The adapter drives the C engine (``durable_rules_engine``) directly
  with the calls the host would make (assert, start action, complete and start next),
  skipping its per-action JSON parsing and state write-back.
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
* **Swallowed exceptions in actions**: the adapter runs the actions itself, records any
  error, finishes the session, then raises ``EngineError``.
* **Float formats** (``1e-05`` rejected with error 204): facts and rule definitions
  are serialized with numbers in plain decimal notation (``json.dumps`` when no float
  would come out in exponent form, ``to_json`` otherwise).
* **Lists** (ABL1 mutations) never reach the engine as arrays: each becomes a length
  property and one boolean flag per item, so ``contains`` is a plain equality test.
* **Unknown values**: a ``None`` becomes a missing key, so comparisons are false and
  ``$nex`` finds it; enumerations that spell ``"unknown"`` out are guarded so the
  meaning matches ``sequencer.knowledge.conditions.evaluate`` exactly.
* **Thread safety**: one process-wide lock around registration and evaluation
  (durable_rules never releases the GIL, so threads gain nothing by overlapping).
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import durable_rules_engine

from sequencer.engine.verdicts import verdicts_for
from sequencer.errors import EngineError
from sequencer.knowledge.conditions import AllOf, AnyOf, Compare, Node, normalize_token
from sequencer.knowledge.rulebook import Rulebook
from sequencer.locks import ForkSafeLock
from sequencer.model.fields import FIELDS

__all__ = ["DurableEngine", "compile_ruleset", "fact_key"]

_SENTINEL = "sequencer:sentinel"
_CONCEPT_SENTINEL = "sequencer:concept-sentinel"
_LOCK = ForkSafeLock(threading.RLock)
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


CONTEXT_KEY = "sequencer__context"
"""The fact property naming the regulatory context (rules of one context test it)."""


def _anchored(node: Node, context: str | None = None) -> dict[str, Any]:
    compiled = _compile(node)
    tests: list[dict[str, Any]] = [{"kind": "profile"}]
    if context is not None:
        tests.append({CONTEXT_KEY: context})
    if compiled:
        tests.append(compiled)
    return {"$and": tests} if len(tests) > 1 else tests[0]


def compile_ruleset(rulebook: Rulebook) -> dict[str, dict[str, Any]]:
    """Return the durable_rules JSON definition of the rule base's active rules.

    Actions are not included; the adapter attaches them when registering.
    """
    definition: dict[str, dict[str, Any]] = {
        _SENTINEL: {"all": [{"m": {"kind": "profile"}}]},
        _CONCEPT_SENTINEL: {"all": [{"m": {"kind": "concept"}}]},
    }
    for rule in rulebook.active:
        patterns: list[dict[str, Any]] = [{"p": _anchored(rule.condition.profile, rule.context)}]
        for index, name in enumerate(rule.condition.concepts):
            patterns.append({f"c{index}": {"$and": [{"kind": "concept"}, {"name": name}]}})
        definition[rule.id] = {"all": patterns}
    return definition


# --- the compiled ruleset and one evaluation ----------------------------------------


class _Run:
    """What one evaluation (session ``sid``) collects from the actions."""

    def __init__(self, sid: str = "") -> None:
        self.sid = sid
        self.fired: list[str] = []
        self.errors: list[str] = []


def _action_name(message: str) -> str:
    """Return the rule name of an action message ``{"<rule>": {...}}`` without parsing it all.

    Rule names are kebab-case ids or the sentinels, which never contain a quote.
    """
    if message.startswith('{"'):
        end = message.find('"', 2)
        if end > 2:
            return message[2:end]
    return str(next(iter(json.loads(message))))  # pragma: no cover - defensive


class _Compiled:
    """One rule base registered in durable_rules, evaluated without the Python host.

    durable_rules' own host machinery (``Host``, ``Ruleset._flush_actions``, ``Closure``,
    ``Promise``) parses every matched message and state as JSON and writes the state
    back after each action; none of that is needed to learn which rules fired. This
    drives the C engine directly with the same calls in the same order (assert, start
    action, complete and start the next) and never starts a timer thread.
    """

    def __init__(
        self,
        name: str,
        definition: dict[str, dict[str, Any]],
        derives: Mapping[str, tuple[str, ...]],
    ) -> None:
        self.name = name
        self.derives = dict(derives)
        self.handle = durable_rules_engine.create_ruleset(name, to_json(definition))

    def _assert(self, text: str) -> int:
        code, handle = durable_rules_engine.assert_fact(self.handle, text)[:2]
        if code == 1:
            raise EngineError("no rule matched the fact (the sentinel rule is missing)")
        if code == 2:
            raise EngineError("the same fact was asserted twice in one session")
        return int(handle)

    def evaluate(self, text: str, run: _Run) -> None:
        """Assert one profile fact (JSON ``text``) and run every action it triggers."""
        state_handle = self._assert(text)
        started = durable_rules_engine.start_action_for_state(self.handle, state_handle)
        message = started[1] if started else None
        while message:
            self._act(_action_name(message), run)
            message = durable_rules_engine.complete_and_start_action(self.handle, state_handle)

    def _act(self, rule_id: str, run: _Run) -> None:
        if rule_id.startswith("sequencer:"):
            return
        try:
            if rule_id in run.fired:
                return
            run.fired.append(rule_id)
            for concept in self.derives.get(rule_id, ()):
                fact = {"kind": "concept", "name": concept, "by": rule_id, "sid": run.sid}
                self._assert(json.dumps(fact))  # strings only: json.dumps is exact here
        except BaseException as error:  # recorded, then raised once the session is closed
            run.errors.append(f"rule '{rule_id}': {type(error).__name__}: {error}")

    def delete(self, sid: str) -> None:
        durable_rules_engine.delete_state(self.handle, sid)


_registered: dict[str, _Compiled] = {}


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
            compiled = _registered.get(self.name)
            if compiled is None:
                try:
                    compiled = _Compiled(
                        self.name,
                        compile_ruleset(rulebook),
                        {rule.id: rule.derives for rule in rulebook.active},
                    )
                except Exception as error:
                    raise EngineError(
                        f"durable_rules rejected the compiled rule base: {error}"
                    ) from None
                _registered[self.name] = compiled
            self._compiled = compiled

    def _fact_text(self, facts: Mapping[str, Any], sid: str, context: str | None) -> str:
        fact: dict[str, Any] = {"kind": "profile", "sid": sid}
        if context is not None:
            fact[CONTEXT_KEY] = context
        plain = True
        keys = _KEYS
        for path, value in facts.items():
            if value is None:
                continue
            if isinstance(value, tuple):
                fact.update(_list_flags(fact_key(path), value))
            else:
                fact[keys.get(path) or fact_key(path)] = value
                if isinstance(value, float) and not _plain_float(value):
                    plain = False
        # json.dumps is several times faster; it is only wrong for floats it would
        # write in exponent form (or non-finite), which durable_rules rejects.
        return json.dumps(fact) if plain else to_json(fact)

    def fired(
        self, facts: Mapping[str, Any], context: str | None = None, *, remembered: bool = True
    ) -> frozenset[str]:
        """Return the ids of the active rules that fire for flattened profile ``facts``.

        ``facts`` maps dotted field paths to values (``None`` = unknown); ``context``
        names the regulatory context, whose own rules then take part too. With
        ``remembered`` (the default) an answer durable_rules already gave for a profile
        that every rule reads the same way is reused (``sequencer.engine.verdicts``);
        without it durable_rules is asked every time. Raises ``EngineError`` when the
        engine or a rule action fails.
        """
        if not remembered:
            return self._evaluate(facts, context)
        verdicts = verdicts_for(self.rulebook, context)
        found = verdicts.lookup(facts)
        if found is None:
            found = self._evaluate(facts, context)
            verdicts.record(facts, found)
        return found

    def _evaluate(self, facts: Mapping[str, Any], context: str | None) -> frozenset[str]:
        """Return the rules durable_rules fires for ``facts`` in ``context`` (one session)."""
        with _LOCK:
            sid = str(next(_SESSIONS))
            run = _Run(sid)
            try:
                self._compiled.evaluate(self._fact_text(facts, sid, context), run)
            except EngineError:
                raise
            except Exception as error:
                # An engine fault: do NOT delete the session (that can crash the process).
                message = getattr(error, "message", None) or str(error)
                raise EngineError(f"durable_rules failed: {message}") from None
            self._compiled.delete(sid)
        if run.errors:
            raise EngineError("; ".join(run.errors))
        unknown = set(run.fired) - self._active
        if unknown:  # pragma: no cover - defensive
            raise EngineError(f"engine reported unknown rules: {sorted(unknown)}")
        return frozenset(run.fired)


_KEYS: dict[str, str] = {path: fact_key(path) for path in FIELDS}


def _plain_float(value: float) -> bool:
    text = repr(value)
    return "e" not in text and "n" not in text  # no exponent, not inf/nan
