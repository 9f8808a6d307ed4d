"""durable_rules' verdicts remembered by what each rule reads.

Whether a rule fires depends on three things only: the truth of the comparisons its own
condition makes (``age >= 60`` is the same for 61 and 75), whether the concepts it joins
on were derived, and the regulatory context. So a verdict the engine gave once, for one
profile, holds for every profile that agrees with it on those things.

This module keeps those verdicts. Rules are grouped by the fields and concepts their
condition reads, in an order where every concept's deriving rules come before the rules
that join on it. A profile's value of each field is reduced to its *class*: the tuple of
truth values of every comparison the rule base makes on that field (how the comparisons
are read is ``sequencer.knowledge.conditions.compile_predicate``, the engine's meaning,
tested against durable_rules rule for rule). When every group has seen the profile's
classes before, the fired rules are read from the groups; otherwise (``None``) the
caller asks durable_rules and records its answer with ``record``. Every verdict
therefore comes from durable_rules; none is worked out here.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sequencer.knowledge.conditions import Compare, compares_of, compile_predicate
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import Rule

__all__ = ["Verdicts", "classes_at", "verdicts_for"]

_LIMIT = 50_000
"""Verdicts one group keeps before it starts again (bounded memory)."""


@dataclass(frozen=True)
class _Group:
    """Rules whose conditions read the same fields and join on the same concepts."""

    rules: tuple[str, ...]
    key: Callable[[Sequence[Hashable]], Hashable]
    """The group's part of a profile's class vector."""
    concepts: tuple[str, ...]
    derives: Mapping[str, tuple[str, ...]]
    seen: dict[Hashable, tuple[str, ...]]


class _Classes:
    """Field value -> its class: the truth of every comparison the rules make on it."""

    def __init__(self, fields: Sequence[str], compares: Mapping[str, list[Compare]]) -> None:
        self.fields = tuple(fields)
        self._tests: dict[str, tuple[Callable[[Mapping[str, Any]], bool], ...]] = {}
        for f in fields:
            distinct = {(c.op, _h(c.value)): c for c in compares[f]}
            self._tests[f] = tuple(compile_predicate(c) for c in distinct.values())
        self._known: dict[str, dict[Any, int]] = {f: {} for f in fields}
        self._last: tuple[Mapping[str, Any], dict[str, Any], list[Hashable] | None] | None = None

    def vector(self, facts: Mapping[str, Any]) -> list[Hashable] | None:
        """Return the class of each field's value in ``facts`` (None: a value is unhashable).

        A class is a number whose bits are the truth values of the field's comparisons:
        cheap to hash in the keys built from it, and the same in every thread.

        The last answer is kept with a copy of its facts: asked again for the same,
        unchanged facts (the engine, then the search, on one patient), it is returned
        again.
        """
        last = self._last
        if last is not None and last[0] is facts and last[1] == facts:
            return last[2]
        out = self._vector(facts)
        self._last = (facts, dict(facts), out)
        return out

    def _vector(self, facts: Mapping[str, Any]) -> list[Hashable] | None:
        out: list[Hashable] = []
        for field in self.fields:
            value = facts.get(field)
            known = self._known[field]
            try:
                found = known.get(value)
            except TypeError:
                return None
            if found is None:
                one = {field: value}
                found = sum(1 << i for i, test in enumerate(self._tests[field]) if test(one))
                if len(known) < _LIMIT:
                    known[value] = found
            out.append(found)
        return out


def _h(value: Any) -> Hashable:
    return tuple(value) if isinstance(value, list) else value


class Verdicts:
    """The remembered verdicts of one rule base in one context."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        compares: dict[str, list[Compare]] = {}
        own: dict[str, set[str]] = {}
        for rule in rules:
            found = compares_of(rule.condition.profile)
            own[rule.id] = {c.field for c in found}
            for c in found:
                compares.setdefault(c.field, []).append(c)
        self.classes = _Classes(sorted(compares), compares)
        position = {f: i for i, f in enumerate(self.classes.fields)}
        by_shape: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Rule]] = {}
        for rule in rules:
            shape = (tuple(sorted(own[rule.id])), tuple(sorted(set(rule.condition.concepts))))
            by_shape.setdefault(shape, []).append(rule)
        groups: list[_Group] = []
        for (fields, concepts), members in _in_concept_order(_absorbed(by_shape)):
            idx = [position[f] for f in fields]
            getter = classes_at(idx)
            groups.append(
                _Group(
                    tuple(r.id for r in members),
                    getter,
                    concepts,
                    {r.id: r.derives for r in members if r.derives},
                    {},
                )
            )
        self.groups = tuple(groups)

    def lookup(self, facts: Mapping[str, Any]) -> frozenset[str] | None:
        """Return the rules that fire for ``facts`` as remembered (None: not all seen yet)."""
        vector = self.classes.vector(facts)
        if vector is None:
            return None
        fired: list[str] = []
        concepts: set[str] = set()
        for group in self.groups:
            key = group.key(vector)
            if group.concepts:
                key = (key, tuple(map(concepts.__contains__, group.concepts)))
            verdict = group.seen.get(key)
            if verdict is None:
                return None
            if verdict:
                fired.extend(verdict)
                for rule_id in verdict:
                    concepts.update(group.derives.get(rule_id, ()))
        return frozenset(fired)

    def record(self, facts: Mapping[str, Any], fired: frozenset[str]) -> None:
        """Remember durable_rules' answer ``fired`` for ``facts``, group by group."""
        vector = self.classes.vector(facts)
        if vector is None:
            return
        concepts: set[str] = set()
        for group in self.groups:
            for rule_id in group.rules:
                if rule_id in fired:
                    concepts.update(group.derives.get(rule_id, ()))
        for group in self.groups:
            key = group.key(vector)
            if group.concepts:
                key = (key, tuple(c in concepts for c in group.concepts))
            if len(group.seen) >= _LIMIT:
                group.seen.clear()
            group.seen[key] = tuple(r for r in group.rules if r in fired)


_Shape = tuple[tuple[str, ...], tuple[str, ...]]


def _absorbed(by_shape: Mapping[_Shape, list[Rule]]) -> dict[_Shape, list[Rule]]:
    """The groups with every group that derives nothing merged into one that reads all it
    reads (its verdicts are then a function of that group's key: fewer lookups, no more
    distinct keys). A merged group keeps its host's place in the concept order."""
    kept: dict[_Shape, list[Rule]] = {}
    for shape in sorted(by_shape, key=lambda x: (-len(x[0]) - len(x[1]), x)):
        members = by_shape[shape]
        if not any(r.derives for r in members):
            host = next(
                (k for k in kept if set(shape[0]) <= set(k[0]) and set(shape[1]) <= set(k[1])),
                None,
            )
            if host is not None:
                kept[host] = [*kept[host], *members]
                continue
        kept[shape] = list(members)
    return kept


def classes_at(positions: Sequence[int]) -> Callable[[Sequence[Hashable]], Hashable]:
    """Return a function giving the part of a class vector at ``positions`` (one hashable
    value: a key for what depends on those fields' classes only)."""
    return itemgetter(*positions) if positions else _nothing


def _nothing(vector: Sequence[Hashable]) -> Hashable:
    return ()


def _in_concept_order(
    by_shape: Mapping[tuple[tuple[str, ...], tuple[str, ...]], list[Rule]],
) -> list[tuple[tuple[tuple[str, ...], tuple[str, ...]], list[Rule]]]:
    """The groups ordered so that a concept's deriving groups come before its readers.

    The loader refuses concepts that depend on each other, so an order always exists.
    """
    pending = dict(by_shape)
    derived_by: dict[str, set[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
    for shape, members in by_shape.items():
        for rule in members:
            for concept in rule.derives:
                derived_by.setdefault(concept, set()).add(shape)
    ordered: list[tuple[tuple[tuple[str, ...], tuple[str, ...]], list[Rule]]] = []
    done: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
    while pending:
        ready = [
            shape
            for shape in pending
            if all(derived_by.get(c, set()) - {shape} <= done for c in shape[1])
        ]
        if not ready:
            raise ValueError("concepts depend on each other")  # the loader refuses this
        for shape in sorted(ready):
            ordered.append((shape, pending.pop(shape)))
            done.add(shape)
    return ordered


def verdicts_for(book: Rulebook, context: str | None) -> Verdicts:
    """Return the verdict memo of ``book`` in ``context`` (built once per rule base)."""
    return book.compiled(f"verdicts:{context}", lambda b: Verdicts(b.active_in(context)))
