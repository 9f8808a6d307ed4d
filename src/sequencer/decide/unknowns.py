"""Which unknown facts could change a decision: substitution over the compiled rules.

For every field that is unknown in the profile (as the rules see it, after the
regulatory context filled in what it derives) and that some *decisive* rule reads (a
rule that argues, sets aside, defers, excludes or blocks), each candidate value
(``sequencer.decide.candidates``: either side of every threshold, every enumeration value)
is substituted and the rules that read the field are evaluated again, concepts
included; the decision is recomputed by the caller's ``decide`` and compared with
the current one. A value that changes the preferred option or an option's status
makes the field one that *could flip* the choice. Variants that would make the
profile invalid or contradictory (months since transplant without a transplant)
are not counted.

Only the rules that read the field are re-evaluated (the others cannot change), with
the same meaning as the engine (``sequencer.knowledge.conditions.evaluate``, which the
durable_rules adapter is tested against rule for rule).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from pydantic import ValidationError

from sequencer.decide.candidates import Value, candidate_values
from sequencer.decide.plans import remembered
from sequencer.decide.search_index import (
    Candidate,
    Refired,
    SearchIndex,
    Shape,
    fields_read,
    opens,
    reach,
    search_index,
    shape_of,
)
from sequencer.engine.reference import chain_concepts
from sequencer.engine.verdicts import verdicts_for
from sequencer.knowledge.contexts import ACCESS_FIELD, Context
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.fields import CROSS_CHECKED
from sequencer.model.profile import PatientProfile

__all__ = [
    "Decider",
    "Flip",
    "SearchMode",
    "active_search_mode",
    "could_flip",
    "fields_read",
    "search_mode",
]

SearchMode = Literal["fast", "exhaustive", "off"]
"""How unknown facts are searched: ``fast`` (pruned and memoised, the default),
``exhaustive`` (every candidate value of every unknown decisive field, every rule evaluated
again: the yardstick the fast path is tested against) or ``off`` (no search: the floor)."""

_MODE: ContextVar[SearchMode] = ContextVar("sequencer_search_mode", default="fast")

_MEMO_LIMIT = 200_000
"""Entries a memo of the search keeps before it starts again (bounded memory); their keys
are classes of facts, so few of them ever come near it."""

_VALID_LIMIT = 20_000
"""Entries the memo of valid variants keeps before it starts again: its keys hold raw
values, so it is the one memo that fills with the patients served."""


@contextmanager
def search_mode(mode: SearchMode) -> Iterator[None]:
    """Run the enclosed calls with the search for unknown facts in ``mode``.

    Yields nothing; raises ``ValueError`` for an unknown mode.
    """
    if mode not in ("fast", "exhaustive", "off"):
        raise ValueError(f"unknown search mode {mode!r}")
    token = _MODE.set(mode)
    try:
        yield
    finally:
        _MODE.reset(token)


class Decider(Protocol):
    """Maps a set of fired rules to a comparable outcome (the preferred option and every
    option's status), from the rule base and the fired rules alone."""

    def __call__(self, fired: frozenset[str]) -> Hashable:
        """Return the outcome of the decisive rules ``fired``."""
        ...

    def adding(self, started: frozenset[str]) -> Hashable:
        """Return the outcome of the patient's fired rules with ``started`` firing too
        (with nothing started: the patient's own)."""
        ...


def active_search_mode() -> SearchMode:
    """Return the search mode the current call runs in (``search_mode`` sets it)."""
    return _MODE.get()


@dataclass(frozen=True)
class Flip:
    """A value of an unknown field that would change the decision, and the decisive rules
    that would start (``starts``) or stop (``stops``) firing with it."""

    field: str
    value: Value
    starts: tuple[str, ...]
    stops: tuple[str, ...]
    changes_preferred: bool


def _preferred(outcome: Hashable) -> object:
    """The preferred option in a decision outcome ``(preferred, statuses)``."""
    return outcome[0] if isinstance(outcome, tuple) else outcome


def _derived(index: SearchIndex, keep: frozenset[str]) -> frozenset[str]:
    """The concepts the fired rules ``keep`` derive (those a change of the field cannot
    touch)."""
    concepts: set[str] = set()
    for rule_id in keep & index.deriving:
        concepts.update(index.derives[rule_id])
    return frozenset(concepts)


def _valid(profile: PatientProfile, field: str, value: Value, access: str | None) -> bool:
    """Whether ``profile`` with ``field`` set to ``value`` is still a valid profile."""
    data = profile.model_dump()
    section, _, leaf = field.rpartition(".")
    node = data[section] if section else data
    node[leaf] = list(value) if isinstance(value, list | tuple) else value
    if access is not None:
        access_section, access_leaf = ACCESS_FIELD.split(".")
        data[access_section][access_leaf] = access
    try:
        PatientProfile.model_validate(data)
    except ValidationError:
        return False
    return True


_OPENED_WITH_ACCESS = ("age", ACCESS_FIELD)
"""An unknown age opens the CAR T-cell access it derives too."""


def could_flip(
    book: Rulebook,
    context: Context,
    profile: PatientProfile,
    facts: Mapping[str, Any],
    fired: frozenset[str],
    decide: Decider,
    access_derived: bool,
    gap: int | None,
) -> dict[str, list[Flip]]:
    """Return, for each unknown field that could change the decision, the values that would.

    ``facts`` are the flattened profile as the rules saw it, ``fired`` the rules that
    fired, and ``decide`` maps a set of fired rules to a comparable outcome (the
    preferred option and every option's status); it must depend on ``book`` and the
    fired rules only (results are memoised per rule base). ``access_derived`` says the
    context derived CAR T-cell access from the age, so a substituted age re-derives it.
    ``gap`` is the score gap when two options compete for the choice (None otherwise): a
    field whose rules cannot change a standing and cannot move the gap that far is
    skipped without substitution (it cannot change the choice).

    In the ``fast`` mode (``search_mode``) a field whose decisive readers cannot change
    the outcome is skipped (``reach``, ``opens``); for the others, which of the field's
    readers fire with each candidate value is memoised by what that depends on: the
    context, the field, the *class* of every fact those readers read (the truth of each
    comparison the rules make on it, ``sequencer.engine.verdicts``) and the concepts they
    join on that the other fired rules derive. The outcome of each value is then decided
    afresh from the fired rules (``decide`` is memoised by the decisive rules), and the
    profile's validity is checked afresh on every call.
    """
    mode = _MODE.get()
    if mode == "off":
        return {}
    index = search_index(book, context.context)
    if mode == "exhaustive":
        from sequencer.decide.exhaustive import exhaustive  # the yardstick, loaded when used

        return exhaustive(book, index, context, profile, facts, fired, decide, access_derived)
    base = decide.adding(frozenset())
    classes = verdicts_for(book, context.context).classes
    vector = classes.vector(facts)
    out: dict[str, list[Flip]] = {}
    unknown = [f for f, literal in index.unknown_literals if facts.get(f) in (None, literal)]
    for field in unknown:
        derives_access = field == "age" and access_derived
        shape = index.key_fields.get((field, derives_access))
        if shape is None:
            shape = _shape(index, classes.fields, field, derives_access)
        if not opens(*shape.bound, gap):
            continue  # not even all its decisive readers together could change the choice
        seen = shape.classes(vector) if vector is not None else None
        # how far the field's values could move the choice, remembered by the classes
        # its decisive readers read and which of them fired
        reach_key = (seen, fired & shape.openers)
        reached = shape.reach.get(reach_key) if seen is not None else None
        if reached is None:
            reached = reach(index, shape.opened, facts, fired)
            if seen is not None:
                _remember(shape.reach, reach_key, reached)
        if not opens(*reached, gap):
            continue
        keep = fired - shape.ids
        # the readers' firings with each value, remembered by the classes they read and
        # the concepts they join on that the other fired rules derive
        joined = frozenset(c for r, cs in shape.join_sources if r in keep for c in cs)
        refire_key = (seen, joined)
        refired = shape.refired.get(refire_key) if seen is not None else None
        if refired is None:
            concepts = _derived(index, keep)
            refired = _refire(
                book, index, context, shape, field, access_derived, facts, vector, concepts
            )
            if seen is not None:
                _remember(shape.refired, refire_key, refired)
        found = _outcomes(index, shape, refired, keep, fired, decide, base)
        _record(out, book, profile, field, found, fired, False, index.decisive_rules, facts)
    return out


_T = TypeVar("_T")


def _remember(memo: dict[Hashable, _T], key: Hashable, value: _T) -> _T:
    """Store ``value`` under ``key`` in a bounded memo (emptied when full); return it."""
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


def _shape(index: SearchIndex, classed: Sequence[str], field: str, derives_access: bool) -> Shape:
    """The shape of ``field``'s search (``shape_of``), with the access it derives."""
    opened = _OPENED_WITH_ACCESS if derives_access else (field,)
    affected = index.readers.get(field, ())
    if derives_access:
        extra = index.readers.get(ACCESS_FIELD, ())
        ids = {r.id for r in affected}
        affected = (*affected, *(r for r in extra if r.id not in ids))
    return shape_of(index, classed, field, derives_access, affected, opened)


def _refire(
    book: Rulebook,
    index: SearchIndex,
    context: Context,
    shape: Shape,
    field: str,
    access_derived: bool,
    facts: Mapping[str, Any],
    vector: Sequence[Hashable] | None,
    concepts: frozenset[str],
) -> tuple[Refired, ...]:
    """Return, for each candidate value of ``field``, the field's readers that fire with it
    (their conditions evaluated again, concepts chained from ``concepts``, those the
    other fired rules derive).

    A reader's firing with each value is remembered by the classes of its other facts
    (``vector``, None when a fact is unhashable: nothing is remembered), and the chaining
    by the readers' firings and the concepts they join on.
    """
    values = _values(book, index, context, field, access_derived)
    variants: list[Mapping[str, Any]] | None = None
    masks: list[int] = []
    for rule, getter, seen in shape.readers:
        key = getter(vector) if vector is not None else None
        mask = seen.get(key) if key is not None else None
        if mask is None:
            if variants is None:
                variants = _variants(
                    facts, field, values, field == "age" and access_derived, context
                )
            test = index.predicates[rule.id]
            mask = sum(1 << i for i, variant in enumerate(variants) if test(variant))
            if key is not None:
                if len(seen) >= _MEMO_LIMIT:
                    seen.clear()
                seen[key] = mask
        masks.append(mask)
    combo = (tuple(masks), concepts & shape.joins)
    found = shape.combos.get(combo)
    if found is None:
        derives_access = field == "age" and access_derived
        out: list[Refired] = []
        for i, value in enumerate(values):
            access = (
                context.access_for_age(value) if derives_access and isinstance(value, int) else None
            )
            matching = [r for (r, _, _), m in zip(shape.readers, masks, strict=True) if m >> i & 1]
            chained = frozenset(chain_concepts(matching, set(concepts)) if matching else ())
            out.append((value, access, chained, chained & index.decisive_rules))
        found = tuple(out)
        if len(shape.combos) >= _MEMO_LIMIT:
            shape.combos.clear()
        shape.combos[combo] = found
    return found


def _variants(
    facts: Mapping[str, Any],
    field: str,
    values: Sequence[Value],
    derives_access: bool,
    context: Context,
) -> list[Mapping[str, Any]]:
    """Return ``facts`` with ``field`` set to each of ``values`` (and the access the age
    derives, when it does)."""
    out: list[Mapping[str, Any]] = []
    for value in values:
        variant = dict(facts)
        variant[field] = tuple(value) if isinstance(value, list) else value
        if derives_access and isinstance(value, int):
            variant[ACCESS_FIELD] = context.access_for_age(value)
        out.append(variant)
    return out


def _values(
    book: Rulebook, index: SearchIndex, context: Context, field: str, access_derived: bool
) -> tuple[Value, ...]:
    """The candidate values of ``field`` (computed once per rule base and context)."""
    key = (field, access_derived)
    values = index.candidates.get(key)
    if values is None:
        values = index.candidates[key] = tuple(
            candidate_values(book, field, None, context, access_derived)
        )
    return values


def _outcomes(
    index: SearchIndex,
    shape: Shape,
    refired: tuple[Refired, ...],
    keep: frozenset[str],
    fired: frozenset[str],
    decide: Decider,
    base: Hashable,
) -> tuple[Candidate, ...]:
    """Return the values among ``refired`` that change the outcome, before validity is
    checked: with the field's readers as ``refired`` says and the ``keep`` rules as they
    were, the decision differs from ``base``."""
    decisive = index.decisive_rules
    only_starts = not (shape.decisive & fired)
    found: list[Candidate] = []
    outcomes: dict[frozenset[str], Hashable] = {}
    for value, access, chained, started in refired:
        if only_starts:
            # no decisive reader had fired: the decisive rules that move all start
            if not started:
                continue  # only cautions, words or concepts moved: the choice cannot
            outcome = outcomes.get(started)
            if outcome is None:
                outcome = outcomes[started] = decide.adding(started)
            if outcome == base:
                continue
            after = keep | chained
        else:
            after = keep | chained
            if not (after ^ fired) & decisive:
                continue
            outcome = outcomes.get(after)
            if outcome is None:
                outcome = outcomes[after] = decide(after & decisive)
            if outcome == base:
                continue
        moves_preferred = _preferred(outcome) != _preferred(base)
        found.append((value, access, after & shape.relevant, moves_preferred))
    return tuple(found)


def _record(
    out: dict[str, list[Flip]],
    book: Rulebook,
    profile: PatientProfile,
    field: str,
    found: Sequence[Candidate],
    fired: frozenset[str],
    validate_all: bool,
    decisive: frozenset[str],
    facts: Mapping[str, Any] | None = None,
) -> None:
    """Add to ``out`` the valid values of ``found``, one per resulting set of fired rules.

    A candidate is in its field's range; only a cross-checked field (or the age, through
    the access it derives) can still contradict the rest, unless ``validate_all``.
    ``decisive`` are the decisive rules of the context (those a flip names). With
    ``facts`` (the flattened profile), whether a value contradicts is remembered by what
    it can contradict: the field, the value, the access, and every cross-checked fact
    (a test pins that no other field takes part in a contradiction check).
    """
    seen: set[frozenset[str]] = set()
    for value, access, after, moves_preferred in found:
        if after in seen:
            continue  # another valid value of this field already gave these rules
        cross = validate_all or field in CROSS_CHECKED or access is not None
        if cross and not _valid_remembered(book, profile, field, value, access, facts):
            continue
        seen.add(after)
        out.setdefault(field, []).append(
            Flip(
                field,
                value,
                tuple(sorted((after - fired) & decisive)),
                tuple(sorted((fired - after) & decisive)),
                moves_preferred,
            )
        )


def _section(field: str) -> str:
    return field.rpartition(".")[0]


def _by_section(fields: frozenset[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name in sorted(fields):
        out[_section(name)] = (*out.get(_section(name), ()), name)
    return out


_CHECKED_WITH = _by_section(CROSS_CHECKED)
"""section -> its cross-checked fields: a contradiction check is a section's validator, so
a value can contradict only the facts of its own section (a test pins it)."""


def _valid_remembered(
    book: Rulebook,
    profile: PatientProfile,
    field: str,
    value: Value,
    access: str | None,
    facts: Mapping[str, Any] | None,
) -> bool:
    """``_valid``, remembered by what it depends on when ``facts`` are given: the field,
    the value, the access it derives, and the cross-checked facts of their sections."""
    if facts is None:
        return _valid(profile, field, value, access)
    key: tuple[Any, ...] = (field, tuple(value) if isinstance(value, list) else value, access)
    key += tuple(facts.get(f) for f in _CHECKED_WITH.get(_section(field), ()))
    if access is not None:
        key += tuple(facts.get(f) for f in _CHECKED_WITH.get(_section(ACCESS_FIELD), ()))
    return remembered(
        book, "valid-variants", key, lambda: _valid(profile, field, value, access), _VALID_LIMIT
    )


# The exhaustive search (sequencer.decide.exhaustive) shares these.
candidates_of = _values
preferred_of = _preferred
record = _record
