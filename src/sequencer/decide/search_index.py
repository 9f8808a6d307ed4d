"""The search index for unknown facts: what, per rule base and context, the search in
``sequencer.decide.unknowns`` reads instead of working it out for every patient.

Which rules read each field (through concepts too), which fields and rules are
decisive, each decisive reader's three-valued test with the field open and the most it
can move the score, and, per unknown field, how its readers are evaluated again
(``shape_of``): by the classes of their own other facts (``sequencer.engine.verdicts``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sequencer.decide.candidates import Value
from sequencer.engine.verdicts import classes_at
from sequencer.knowledge.checks import tests_unknown
from sequencer.knowledge.conditions import (
    Partial,
    Predicate,
    compile_partial,
    compile_predicate,
    fields_of,
)
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import Favors, Rule, SetsAside
from sequencer.model.fields import FIELDS

__all__ = [
    "Candidate",
    "Reader",
    "Refired",
    "SearchIndex",
    "Shape",
    "fields_read",
    "opens",
    "reach",
    "relevant",
    "search_index",
    "shape_of",
]


@dataclass(frozen=True)
class SearchIndex:
    rules: tuple[Rule, ...]
    readers: Mapping[str, tuple[Rule, ...]]
    """field -> every rule whose firing depends on it (directly or through concepts)."""
    decisive_fields: frozenset[str]
    decisive_rules: frozenset[str]
    derives: Mapping[str, tuple[str, ...]]
    predicates: Mapping[str, Predicate]
    openers: Mapping[str, tuple[tuple[str, Partial, int, bool], ...]]
    """field -> its decisive readers as (rule id, three-valued test with the field open,
    the most points its arguments and set-asides can move, whether it changes a standing)."""
    concept_joins: Mapping[str, bool]
    guessing: frozenset[str]
    """decisive rules that can hold because a value is unknown (a blocking missing fact):
    knowing the value can stop them."""
    candidates: dict[tuple[str, bool], tuple[Value, ...]]
    key_fields: dict[tuple[str, bool], Shape]
    """(field, whether it derives access) -> how its readers are evaluated (``shape_of``)."""
    deriving: frozenset[str]
    """rules that derive a concept"""
    unknown_literals: tuple[tuple[str, str | None], ...]
    """each decisive field with the value that spells unknown out (None: only a missing
    value is unknown), in a fixed order"""


Candidate = tuple[Value, str | None, frozenset[str], bool]
"""A value that changes the outcome: (value, access it derives, fired rules, preferred moved)."""

Refired = tuple[Value, str | None, frozenset[str], frozenset[str]]
"""A candidate value, the access it derives, which of the field's readers fire with it,
and which of those are decisive."""


Reader = tuple[Rule, Callable[[Sequence[Hashable]], Hashable], dict[Hashable, int]]
"""A reader of an unknown field, what its memo key reads, and its memo (``Shape``)."""


@dataclass(frozen=True)
class Shape:
    """How one unknown field's readers are evaluated again (built once per field and
    context): each reader with the classes of its own other facts (positions in
    ``Verdicts.classes``) and, by those classes, the candidate values it fires with (a
    bit per value); the combinations of those already chained into fired rules; the
    concepts the readers join on; the rules that can matter to the outcome."""

    readers: tuple[Reader, ...]
    combos: dict[Hashable, tuple[Refired, ...]]
    joins: frozenset[str]
    relevant: frozenset[str]
    ids: frozenset[str]
    """the readers' ids"""
    decisive: frozenset[str]
    """the decisive readers: when none has fired, a value can only start rules"""
    opened: tuple[str, ...]
    """the field, and the value derived from it (CAR T-cell access from the age)"""
    classes: Callable[[Sequence[Hashable]], Hashable]
    """the classes of every fact the readers and the decisive openers' tests read (the
    opened fields included): what the readers' verdicts with each value, and the
    openers' three-valued tests, depend on"""
    openers: frozenset[str]
    """the decisive readers of the opened fields (``reach`` reads whether they fired)"""
    join_sources: tuple[tuple[str, frozenset[str]], ...]
    """the rules deriving a concept the readers join on, with those concepts"""
    reach: dict[Hashable, tuple[bool, int]]
    """(classes, openers fired) -> ``reach``: memo"""
    bound: tuple[bool, int]
    """the most ``reach`` can ever say: whether some opener changes a standing, and the
    points of all of them (a field whose bound cannot open a choice is skipped unread)"""
    refired: dict[Hashable, tuple[Refired, ...]]
    """(classes, concepts joined on that were derived) -> the readers' firings: memo"""


def search_index(book: Rulebook, context: str) -> SearchIndex:
    """The search index of ``book`` in ``context``, built once with the rule base."""
    return book.compiled(f"search-index:{context}", lambda b: _build(b, context))


def _build(book: Rulebook, context: str) -> SearchIndex:
    rules = book.active_in(context)
    reads = fields_read(rules)
    readers: dict[str, list[Rule]] = {}
    decisive: set[str] = set()
    strongest: dict[str, int] = {}
    for rule in rules:
        for e in rule.then:
            if isinstance(e, Favors):
                strongest[e.argues] = max(strongest.get(e.argues, 0), book.weights[e.strength])
    for rule in rules:
        for field in reads[rule.id]:
            readers.setdefault(field, []).append(rule)
            if rule.decisive:
                decisive.add(field)
    built = SearchIndex(
        rules,
        {f: tuple(r) for f, r in readers.items()},
        frozenset(decisive),
        frozenset(r.id for r in rules if r.decisive),
        {r.id: r.derives for r in rules},
        {r.id: compile_predicate(r.condition.profile) for r in rules},
        {
            f: tuple(
                (
                    r.id,
                    compile_partial(r.condition.profile, f),
                    _points(r, strongest, book.weights),
                    r.changes_standing,
                )
                for r in readers_of
                if r.decisive
            )
            for f, readers_of in readers.items()
        },
        {r.id: bool(r.condition.concepts) for r in rules},
        frozenset(r.id for r in rules if r.decisive and tests_unknown(r.condition.profile)),
        {},
        {},
        frozenset(r.id for r in rules if r.derives),
        tuple((f, FIELDS[f].unknown_value) for f in sorted(decisive)),
    )
    return built


def fields_read(rules: Sequence[Rule]) -> dict[str, set[str]]:
    """Return rule id -> the profile fields its firing depends on: those its condition
    reads, and those read by the rules deriving the concepts it joins on (to a fixpoint)."""
    derived_by: dict[str, list[Rule]] = {}
    for rule in rules:
        for concept in rule.derives:
            derived_by.setdefault(concept, []).append(rule)
    reads: dict[str, set[str]] = {r.id: fields_of(r.condition.profile) for r in rules}
    changed = True
    while changed:
        changed = False
        for rule in rules:
            for concept in rule.condition.concepts:
                for source in derived_by.get(concept, []):
                    if not reads[source.id] <= reads[rule.id]:
                        reads[rule.id] |= reads[source.id]
                        changed = True
    return reads


def _points(rule: Rule, strongest: Mapping[str, int], weights: Mapping[str, int]) -> int:
    """The most a rule can move the score gap: its arguments, and those it sets aside."""
    total = 0
    for e in rule.then:
        if isinstance(e, Favors):
            total += weights[e.strength]
        elif isinstance(e, SetsAside):
            total += sum(strongest.get(a, 0) for a in e.sets_aside)
    return total


def opens(standing: bool, points: int, gap: int | None) -> bool:
    """Whether a field whose values could change a standing (``standing``) or move the
    score gap by ``points`` could change a choice whose gap is ``gap``."""
    return standing or (gap is not None and points >= gap and points > 0)


def reach(
    index: SearchIndex,
    fields: Sequence[str],
    facts: Mapping[str, Any],
    fired: frozenset[str],
) -> tuple[bool, int]:
    """How far some value of ``fields`` could move the choice: whether a decisive rule that
    changes a standing could start (or stop), and the most points the others could move
    (``opens`` compares them with the choice's gap).

    ``fields[0]`` is the unknown field; any further ones are values derived from it
    (CAR T-cell access from the age), whose firing rules could also stop.

    With the field unknown, a decisive rule reading it can only start firing when it
    becomes known (the loader refuses decisive rules that test unknown values). A rule
    whose condition is false whatever the field's value cannot; one that joins on
    concepts is kept (its concepts may follow). The rest matter if they change a
    standing, or if together they could move the gap as far as it is (None: the
    weights cannot change the choice).
    """
    points = 0
    for position, field in enumerate(fields):
        for rule_id, partial, weight, standing in index.openers.get(field, ()):
            if rule_id in fired:
                if position == 0 and rule_id not in index.guessing:
                    continue  # knowing an unknown cannot stop a rule that did not need it
                # a derived value that would change (access from the age) can stop one
                if standing:
                    return True, points
                points += weight
                continue
            if partial(facts) is False and not index.concept_joins[rule_id]:
                continue
            if standing:
                return True, points
            points += weight
    return False, points


def shape_of(
    index: SearchIndex,
    classed: Sequence[str],
    field: str,
    derives_access: bool,
    affected: tuple[Rule, ...],
    opened: tuple[str, ...] | None = None,
) -> Shape:
    """Return how ``field``'s readers are evaluated again (built once per field and context).

    ``classed`` are the fields of the class vector (``Verdicts.classes.fields``);
    ``opened`` the field and the values derived from it (default: the field alone).
    """
    shape = index.key_fields.get((field, derives_access))
    if shape is None:
        opened = opened or (field,)
        readers: list[Reader] = []
        joins: set[str] = set()
        read: set[str] = set()
        for rule in affected:
            joins.update(rule.condition.concepts)
            own = sorted(fields_of(rule.condition.profile) - {field})
            read.update(own)
            readers.append((rule, classes_at([classed.index(f) for f in own]), {}))
        openers = {rule_id for f in opened for rule_id, _, _, _ in index.openers.get(f, ())}
        for rule in index.rules:  # what a decisive opener's three-valued test reads
            if rule.id in openers:
                read.update(fields_of(rule.condition.profile))
        read.update(f for f in opened if f in classed)
        ids = frozenset(r.id for r in affected)
        every = [o for f in opened for o in index.openers.get(f, ())]
        bound = (any(standing for _, _, _, standing in every), sum(w for _, _, w, _ in every))
        shape = index.key_fields[(field, derives_access)] = Shape(
            tuple(readers),
            {},
            frozenset(joins),
            relevant(index, affected),
            ids,
            ids & index.decisive_rules,
            opened,
            classes_at([classed.index(f) for f in sorted(read)]),
            frozenset(openers),
            tuple(
                (rule_id, frozenset(derived) & joins)
                for rule_id, derived in index.derives.items()
                if frozenset(derived) & joins
            ),
            {},
            bound,
            {},
        )
    return shape


def relevant(index: SearchIndex, affected: tuple[Rule, ...]) -> frozenset[str]:
    """The rules whose firing can matter to a field's search: the decisive ones (the
    outcome), those reading the field (re-evaluated) and those deriving a concept (kept
    concepts chain on). A caution's or a word's firing cannot."""
    return index.decisive_rules | {r.id for r in affected} | index.deriving
