"""The values worth trying for a profile field: either side of every rule threshold.

Thresholds come from the compiled rule conditions (and, for the age when a regulatory
context derives CAR T-cell access from it, from the context's label ages), never from
constants: change a rule's threshold and the candidates follow. Used by the what-if
analysis and by the search for unknown facts that could change a decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sequencer.knowledge.conditions import compares_of, normalize_token
from sequencer.knowledge.contexts import Context
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import Rule
from sequencer.model.fields import FIELDS, number_ranges

__all__ = ["Value", "candidate_values", "lower_bounds", "tested_items", "threshold_values"]

Value = bool | int | float | str | list[str] | None


def _step(threshold: float, integer: bool) -> float:
    if integer:
        return 1
    if threshold == 0:
        return 0.1
    return float(10 ** (math.floor(math.log10(abs(threshold))) - 1))


def _tidy(value: float, integer: bool) -> int | float:
    if integer:
        return round(value)
    rounded = round(value, 10)
    return int(rounded) if rounded == int(rounded) and abs(rounded) < 1e15 else rounded


def _numeric_candidates(
    book: Rulebook, field: str, context: Context, access_derived: bool
) -> list[int | float]:
    return _either_side(
        book, field, book.active_in(context.context), [context] if access_derived else []
    )


def threshold_values(book: Rulebook, field: str) -> list[int | float]:
    """Values either side of every threshold that any active rule, in any context, sets
    on a numeric profile field (for the age, the contexts' label ages too), and the
    field's own bounds: the values a property test should hit."""
    low, high, integer = number_ranges()[field]
    found = _either_side(book, field, book.active, list(book.contexts.values()))
    return sorted({_tidy(low, integer), *found, _tidy(high, integer)})


def lower_bounds(book: Rulebook, field: str) -> list[int | float]:
    """The values from which the general active rules' lower bounds on a numeric field
    hold (``gt: 60`` on an integer field gives 61, ``ge: 65`` gives 65), lowest first;
    ``[]`` when no general rule sets one. Context rules (label ages) are left out."""
    _, _, integer = number_ranges()[field]
    found: set[int | float] = set()
    for rule in book.active_in(None):
        for node in compares_of(rule.condition.profile):
            if node.field != field:
                continue
            if node.op == "ge":
                found.add(_tidy(float(node.value), integer))
            elif node.op == "gt":
                threshold = float(node.value)
                found.add(_tidy(threshold + _step(threshold, integer), integer))
    return sorted(found)


def _either_side(
    book: Rulebook, field: str, rules: Sequence[Rule], contexts: Sequence[Context]
) -> list[int | float]:
    low, high, integer = number_ranges()[field]
    edges: list[tuple[float, str]] = []
    for rule in rules:
        for node in compares_of(rule.condition.profile):
            if node.field != field:
                continue
            if node.op in ("lt", "ge", "le", "gt", "eq", "ne"):
                edges.append((float(node.value), node.op))
            elif node.op in ("in", "not_in"):
                edges.extend((float(v), "eq") for v in node.value)
    if field == "age":
        for context in contexts:
            for product in context.product_access.products:
                if product.min_age > low:
                    edges.append((float(product.min_age), "ge"))
                if product.max_age is not None:
                    edges.append((float(product.max_age), "le"))
    values: set[int | float] = set()
    for threshold, op in edges:
        step = _step(threshold, integer)
        if op in ("lt", "ge"):
            near = [threshold - step, threshold]
        elif op in ("le", "gt"):
            near = [threshold, threshold + step]
        else:
            near = [threshold - step, threshold, threshold + step]
        values.update(_tidy(v, integer) for v in near if low <= v <= high)
    return sorted(values)


def tested_items(book: Rulebook, field: str) -> list[str]:
    """The items any active rule (in any context) tests a list field for, once each.

    Rules name items in the compared form (T315I, ACTIVE_INFECTION); a list of allowed
    items (contraindications) gives them in its own spelling.
    """
    spelled = {normalize_token(v): v for v in FIELDS[field].values}
    tokens: list[str] = []
    for rule in book.active:
        for node in compares_of(rule.condition.profile):
            if node.field != field:
                continue
            token = spelled.get(node.value, node.value)
            if node.op in ("contains", "not_contains") and token not in tokens:
                tokens.append(token)
    return tokens


def _list_candidates(book: Rulebook, field: str, current: Sequence[str] | None) -> list[Value]:
    tokens = tested_items(book, field)
    if current is None:
        return [[], *([t] for t in tokens)]
    out: list[Value] = [[]] if current else []
    have = list(current)
    for token in tokens:
        if normalize_token(token) in {normalize_token(t) for t in have}:
            out.append([t for t in have if normalize_token(t) != normalize_token(token)])
        else:
            out.append([*have, token])
    return out


def candidate_values(
    book: Rulebook, field: str, current: Any, context: Context, access_derived: bool = False
) -> list[Value]:
    """Return the values ``what_if`` tries for ``field`` (the current one excluded).

    Thresholds come from the compiled rule conditions (and, for the age, from the
    context's label ages when access is derived), never from constants here.
    """
    spec = FIELDS[field]
    if spec.kind == "boolean":
        values: list[Value] = [True, False]
    elif spec.kind == "enum":
        values = [v for v in spec.values if v != spec.unknown_value]
    elif spec.kind == "number":
        values = list(_numeric_candidates(book, field, context, access_derived))
        if current is not None:
            values.sort(key=lambda v: (abs(float(v) - float(current)), v))  # type: ignore[arg-type]
    else:
        listed = list(current) if isinstance(current, list | tuple) else None
        values = _list_candidates(book, field, listed)
    if isinstance(current, tuple):
        current = list(current)
    return [v for v in values if v != current]
