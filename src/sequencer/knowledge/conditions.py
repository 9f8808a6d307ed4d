"""Rule conditions: the YAML grammar, its engine-neutral tree, and its meaning.

A condition in a rule file is a mapping whose entries must all hold::

    when:
      disease.marrow_blasts_pct: {ge: 50}          # a comparison
      transplant.prior_allo_hct: true              # shorthand for {eq: true}
      disease.cns: {in: [CNS2, CNS3]}
      transplant.candidate: {is: unknown}          # known / unknown
      disease.abl1_mutations: {contains: T315I}    # lists: contains / not_contains
      any:                                         # at least one of these mappings
        - transplant.candidate: false
        - transplant.candidate: {is: unknown}
      all: [...]                                   # every one of these mappings
      concept: high-marrow-burden                  # a fact derived by another rule

Operators: ``eq ne lt le gt ge in not_in is``, and for lists ``contains`` and
``not_contains`` (one item name, compared case-insensitively). One rule of meaning, shared by the
durable_rules adapter and the plain-Python reference evaluator: **an unknown value
never satisfies a comparison** (``ne`` and ``not_in`` included); only ``is: unknown``
matches it. Enumerations that spell ``"unknown"`` out follow the same rule unless the
comparison names ``unknown`` itself.

Concept references are allowed only at the top level of ``when``; they are joins on
facts that other rules derive, evaluated by the engine's forward chaining.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, get_args

from sequencer.model.fields import FIELDS, FieldSpec, number_ranges

__all__ = [
    "AllOf",
    "AnyOf",
    "Compare",
    "ConditionError",
    "Node",
    "ParsedCondition",
    "Predicate",
    "compares_of",
    "compile_partial",
    "compile_predicate",
    "evaluate",
    "fields_of",
    "normalize_token",
    "parse_condition",
]

Op = Literal[
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "in",
    "not_in",
    "known",
    "unknown",
    "contains",
    "not_contains",
]

_WRITTEN_OPS = frozenset(get_args(Op)) - {"known", "unknown"} | {"is"}
"""The operators a rule file may write: ``is: known`` / ``is: unknown`` stand for the
``known`` and ``unknown`` tests."""

CONCEPT_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
TOKEN = re.compile(r"^[A-Za-z0-9_:/.+-]{1,40}$")


def normalize_token(item: str) -> str:
    """Return the form list items are compared in: upper case, other signs as ``_``.

    ``T315I``, ``t315i`` and ``T315I `` all compare equal; used by both evaluators.
    """
    return re.sub(r"[^A-Z0-9]", "_", item.strip().upper())


_OPS_BY_KIND: dict[str, frozenset[str]] = {
    "number": frozenset({"eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "is"}),
    "boolean": frozenset({"eq", "ne", "is"}),
    "enum": frozenset({"eq", "ne", "in", "not_in", "is"}),
    "list": frozenset({"is", "contains", "not_contains"}),
}


@dataclass(frozen=True)
class Compare:
    """``field op value``; ``value`` is a tuple for ``in``/``not_in``, None for known/unknown."""

    field: str
    op: Op
    value: Any = None


@dataclass(frozen=True)
class AllOf:
    """Every item holds (an empty ``AllOf`` always holds)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one item holds."""

    items: tuple[Node, ...]


Node = Compare | AllOf | AnyOf


@dataclass(frozen=True)
class ParsedCondition:
    """A rule's condition: a tree over profile fields plus the concepts it joins on."""

    profile: Node
    concepts: tuple[str, ...]


class ConditionError(ValueError):
    """A condition is malformed; ``loc`` is its location below ``when``."""

    def __init__(self, message: str, loc: tuple[int | str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc


def parse_condition(raw: object) -> ParsedCondition:
    """Return the engine-neutral form of a ``when`` mapping.

    Raises ``ConditionError`` (with the location of the fault) for unknown fields,
    operators that do not fit the field, values outside the field's domain, or a
    concept reference anywhere but the top level.
    """
    if not isinstance(raw, Mapping) or not raw:
        raise ConditionError("a condition must be a non-empty mapping of tests")
    concepts: list[str] = []
    items: list[Node] = []
    for key, value in raw.items():
        if key == "concept":
            names = value if isinstance(value, list) else [value]
            for index, name in enumerate(names):
                where: tuple[int | str, ...] = (
                    ("concept", index) if isinstance(value, list) else ("concept",)
                )
                if not isinstance(name, str) or not CONCEPT_NAME.match(name):
                    raise ConditionError(f"concept names are kebab-case; got {name!r}", where)
                if name in concepts:
                    raise ConditionError(f"concept '{name}' is named twice", where)
                concepts.append(name)
        else:
            items.append(_parse_entry(key, value, ()))
    profile: Node = items[0] if len(items) == 1 else AllOf(tuple(items))
    _check_can_hold(profile, ())
    return ParsedCondition(profile, tuple(concepts))


def _check_can_hold(
    node: Node,
    loc: tuple[int | str, ...],
    outer: dict[str, tuple[float, float]] | None = None,
) -> None:
    """Raise ``ConditionError`` for numeric tests no value of the field can pass.

    The comparisons a conjunction makes on each numeric field, nested ``all`` lists and
    several tests on one field (``age: {gt: 60, lt: 30}``) included, must leave a value
    inside the field's range (``age: {gt: 500}``; ``age > 60`` and ``age < 30``). Each
    branch of an ``any`` list is checked together with the tests around it, so a branch
    that can never hold there is refused too.
    """
    tests: list[Compare] = []
    alternatives: list[AnyOf] = []
    pending: list[Node] = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, AllOf):
            pending.extend(item.items)
        elif isinstance(item, AnyOf):
            alternatives.append(item)
        else:
            tests.append(item)
    bounds = dict(outer or {})
    ranges = number_ranges()
    for test in tests:
        if test.op not in ("lt", "le", "gt", "ge", "eq") or test.field not in ranges:
            continue
        low, high, integer = ranges[test.field]
        low, high = bounds.get(test.field, (low, high))
        value = float(test.value)
        if test.op == "gt":
            low = max(low, math.floor(value) + 1 if integer else math.nextafter(value, math.inf))
        elif test.op == "ge":
            low = max(low, math.ceil(value) if integer else value)
        elif test.op == "lt":
            high = min(high, math.ceil(value) - 1 if integer else math.nextafter(value, -math.inf))
        elif test.op == "le":
            high = min(high, math.floor(value) if integer else value)
        else:
            low, high = max(low, value), min(high, value)
        if low > high:
            full_low, full_high, _ = ranges[test.field]
            raise ConditionError(
                f"can never hold: no value of '{test.field}' (which runs from "
                f"{full_low:g} to {full_high:g}) passes every test on it here",
                loc,
            )
        bounds[test.field] = (low, high)
    for alternative in alternatives:
        for branch in alternative.items:
            _check_can_hold(branch, loc, bounds)


def _parse_mapping(raw: object, loc: tuple[int | str, ...]) -> Node:
    if not isinstance(raw, Mapping) or not raw:
        raise ConditionError("expected a non-empty mapping of tests", loc)
    items = [_parse_entry(key, value, loc) for key, value in raw.items()]
    return items[0] if len(items) == 1 else AllOf(tuple(items))


def _parse_entry(key: object, value: object, loc: tuple[int | str, ...]) -> Node:
    here = (*loc, str(key))
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise ConditionError(f"'{key}' takes a non-empty list of mappings", here)
        parts = tuple(_parse_mapping(item, (*here, i)) for i, item in enumerate(value))
        return AllOf(parts) if key == "all" else AnyOf(parts)
    if key == "concept":
        raise ConditionError("concept references are allowed only at the top level of 'when'", here)
    if not isinstance(key, str):
        raise ConditionError(f"expected a field path; got {key!r}", here)
    spec = FIELDS.get(key)
    if spec is None:
        hint = difflib.get_close_matches(key, list(FIELDS), n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ConditionError(f"unknown profile field '{key}'{suggestion}", here)
    if isinstance(value, Mapping):
        if not value:
            raise ConditionError("empty operator mapping", here)
        tests = [_parse_op(spec, str(op), arg, (*here, str(op))) for op, arg in value.items()]
        return tests[0] if len(tests) == 1 else AllOf(tuple(tests))
    return _parse_op(spec, "eq", value, here)


def _parse_op(spec: FieldSpec, op: str, arg: object, loc: tuple[int | str, ...]) -> Compare:
    allowed = _OPS_BY_KIND[spec.kind]
    if op not in _WRITTEN_OPS:
        raise ConditionError(
            f"unknown operator '{op}' (use one of: {', '.join(sorted(allowed))})", loc
        )
    if op not in allowed:
        raise ConditionError(
            f"operator '{op}' does not apply to {spec.kind} field '{spec.path}' "
            f"(use one of: {', '.join(sorted(allowed))})",
            loc,
        )
    if op == "is":
        if arg not in ("known", "unknown"):
            raise ConditionError(f"'is' takes 'known' or 'unknown'; got {arg!r}", loc)
        return Compare(spec.path, "known" if arg == "known" else "unknown")
    if op in ("contains", "not_contains"):
        if not isinstance(arg, str) or not TOKEN.match(arg):
            raise ConditionError(f"'{op}' takes one item name such as T315I; got {arg!r}", loc)
        return Compare(
            spec.path, "contains" if op == "contains" else "not_contains", normalize_token(arg)
        )
    if op in ("in", "not_in"):
        if not isinstance(arg, list) or not arg:
            raise ConditionError(f"'{op}' takes a non-empty list; got {arg!r}", loc)
        values = tuple(_check_value(spec, item, (*loc, i)) for i, item in enumerate(arg))
        return Compare(spec.path, "in" if op == "in" else "not_in", values)
    checked = _check_value(spec, arg, loc)
    return Compare(spec.path, op, checked)  # type: ignore[arg-type]


def _check_value(spec: FieldSpec, value: object, loc: tuple[int | str, ...]) -> Any:
    if value is None:
        raise ConditionError(
            f"compare '{spec.path}' with a value; test unknown with {{is: unknown}}", loc
        )
    if spec.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConditionError(f"'{spec.path}' is a number; got {value!r}", loc)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConditionError(f"'{spec.path}' needs a finite number; got {value!r}", loc)
        return value
    if spec.kind == "boolean":
        if not isinstance(value, bool):
            raise ConditionError(f"'{spec.path}' is true or false; got {value!r}", loc)
        return value
    if value not in spec.values:
        raise ConditionError(
            f"'{spec.path}' takes one of {', '.join(spec.values)}; got {value!r}", loc
        )
    return value


def compares_of(node: Node) -> list[Compare]:
    """Return every comparison of a condition tree, in the order written."""
    if isinstance(node, Compare):
        return [node]
    out: list[Compare] = []
    for item in node.items:
        out.extend(compares_of(item))
    return out


def fields_of(node: Node) -> set[str]:
    """Return the profile fields a condition tree reads."""
    return {c.field for c in compares_of(node)}


def evaluate(node: Node, facts: Mapping[str, Any]) -> bool:
    """Return whether ``node`` holds for flattened profile ``facts`` (reference semantics).

    ``facts`` maps dotted field paths to values, ``None`` meaning unknown.
    """
    if isinstance(node, AllOf):
        return all(evaluate(item, facts) for item in node.items)
    if isinstance(node, AnyOf):
        return any(evaluate(item, facts) for item in node.items)
    value = facts.get(node.field)
    spec = FIELDS[node.field]
    is_unknown = value is None or (spec.unknown_value is not None and value == spec.unknown_value)
    if node.op == "unknown":
        return is_unknown
    if node.op == "known":
        return not is_unknown
    if value is None:
        return False
    if node.op in ("contains", "not_contains"):
        present = node.value in {normalize_token(item) for item in value}
        return present if node.op == "contains" else not present
    names_unknown = node.value == spec.unknown_value or (
        isinstance(node.value, tuple) and spec.unknown_value in node.value
    )
    if is_unknown and not names_unknown:
        return False
    return _compare(node.op, value, node.value)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if op == "lt":
        return bool(left < right)
    if op == "le":
        return bool(left <= right)
    if op == "gt":
        return bool(left > right)
    if op == "ge":
        return bool(left >= right)
    if op == "in":
        return left in right
    if op == "not_in":
        return left not in right
    raise AssertionError(f"unhandled operator {op}")  # pragma: no cover


Predicate = Callable[[Mapping[str, Any]], bool]


def compile_predicate(node: Node) -> Predicate:
    """Return a function of flattened ``facts`` with exactly ``evaluate(node, facts)``'s
    meaning, built once (a closure per test) for the hot paths that evaluate one
    condition many times (the search for unknown facts that could change a decision)."""
    if isinstance(node, AllOf | AnyOf):
        parts = tuple(compile_predicate(item) for item in node.items)
        if isinstance(node, AllOf):
            if not parts:
                return lambda facts: True
            if len(parts) == 1:
                return parts[0]
            if len(parts) == 2:
                a, b = parts
                return lambda facts: a(facts) and b(facts)
            return lambda facts: all(part(facts) for part in parts)
        if len(parts) == 2:
            a, b = parts
            return lambda facts: a(facts) or b(facts)
        return lambda facts: any(part(facts) for part in parts)
    field = node.field
    literal = FIELDS[field].unknown_value
    op = node.op
    target = node.value

    def unknown(value: Any) -> bool:
        return value is None or (literal is not None and value == literal)

    if op == "unknown":
        return lambda facts: unknown(facts.get(field))
    if op == "known":
        return lambda facts: not unknown(facts.get(field))
    if op in ("contains", "not_contains"):
        want = op == "contains"

        def listed(facts: Mapping[str, Any]) -> bool:
            value = facts.get(field)
            if value is None:
                return False
            return (target in _normalized(tuple(value))) is want

        return listed
    names_unknown = target == literal or (isinstance(target, tuple) and literal in target)
    guard = literal is not None and not names_unknown

    def compare(facts: Mapping[str, Any]) -> bool:
        value = facts.get(field)
        if value is None or (guard and value == literal):
            return False
        return _compare(op, value, target)

    return compare


@lru_cache(maxsize=1024)
def _normalized(items: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalize_token(item) for item in items)


Partial = Callable[[Mapping[str, Any]], bool | None]


def compile_partial(node: Node, open_field: str) -> Partial:
    """Return a three-valued test of ``node``: True or False when the outcome is the same
    whatever value ``open_field`` takes, None ("maybe") when it depends on that value.

    Every other field is read from the facts as ``evaluate`` reads it. Used to skip an
    unknown field no rule could turn on, before trying its values one by one.
    """
    if isinstance(node, Compare):
        if node.field == open_field:
            return lambda facts: None
        exact = compile_predicate(node)
        return lambda facts: exact(facts)
    parts = tuple(compile_partial(item, open_field) for item in node.items)
    if isinstance(node, AllOf):

        def every(facts: Mapping[str, Any]) -> bool | None:
            result: bool | None = True
            for part in parts:
                value = part(facts)
                if value is False:
                    return False
                if value is None:
                    result = None
            return result

        return every

    def some(facts: Mapping[str, Any]) -> bool | None:
        result: bool | None = False
        for part in parts:
            value = part(facts)
            if value is True:
                return True
            if value is None:
                result = None
        return result

    return some
