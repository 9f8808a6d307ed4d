"""The missing facts of a recommendation: those its rules report, and the unknowns the
search found could change the choice (``sequencer.decide.unknowns``), could-flip ones
first, each built once per rule base and shared (they are frozen)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sequencer.decide.plans import remembered
from sequencer.decide.unknowns import Flip
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.recommendation import MissingFact

__all__ = ["missing_facts"]


def missing_facts(
    rulebook: Rulebook,
    missing: Mapping[str, tuple[str, list[str], bool]],
    flips: Mapping[str, list[Flip]],
) -> list[MissingFact]:
    """Reported missing facts plus those found by substitution, could-flip ones first."""
    facts: list[tuple[tuple[bool, bool, int], MissingFact]] = []
    for index, (name, (text, rules, blocking)) in enumerate(missing.items()):
        fact = _missing(
            rulebook,
            name,
            text,
            tuple(rules),
            blocking,
            name in flips,
            any(f.changes_preferred for f in flips.get(name, ())),
        )
        facts.append(((name not in flips, not blocking, index), fact))
    offset = len(facts)
    for index, (name, found) in enumerate(sorted(flips.items())):
        if name in missing:
            continue
        facts.append(((False, True, offset + index), _found(rulebook, name, found)))
    facts.sort(key=lambda item: item[0])
    return [fact for _, fact in facts]


def _found(rulebook: Rulebook, name: str, found: Sequence[Flip]) -> MissingFact:
    """The missing fact for an unknown only the search found, built once per set of
    values (and the rules each moves) and shared."""
    key = (
        name,
        tuple((_hashable(f.value), f.starts, f.stops, f.changes_preferred) for f in found),
    )
    return remembered(
        rulebook,
        "found-facts",
        key,
        lambda: _missing(
            rulebook,
            name,
            _flip_text(rulebook, name, found),
            tuple(dict.fromkeys(r for f in found for r in (*f.starts, *f.stops))),
            False,
            True,
            any(f.changes_preferred for f in found),
        ),
        8192,
    )


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _missing(
    rulebook: Rulebook,
    name: str,
    text: str,
    rules: tuple[str, ...],
    blocking: bool,
    could_flip: bool,
    could_change_preferred: bool,
) -> MissingFact:
    """The missing fact with these contents, built once and shared (it is frozen)."""
    return remembered(
        rulebook,
        "missing-facts",
        (name, text, rules, blocking, could_flip, could_change_preferred),
        lambda: MissingFact.model_construct(
            field=name,
            text=text,
            rules=list(rules),
            blocking=blocking,
            could_flip=could_flip,
            could_change_preferred=could_change_preferred,
        ),
        8192,
    )


def _flip_text(rulebook: Rulebook, name: str, found: Sequence[Flip]) -> str:
    """Words for an unknown found by substitution, from the titles of the rules it moves."""
    parts = []
    for flip in found[:3]:
        titles = [rulebook.rule(r).title for r in flip.starts] or [
            f"no longer: {rulebook.rule(r).title}" for r in flip.stops
        ]
        value = rulebook.vocabulary.value_text(name, flip.value)
        parts.append(f"{value} would bring in: {'; '.join(titles)}")
    label = rulebook.vocabulary.label(name)
    return f"{label} is not known, and it could change the choice. " + ". ".join(parts) + "."
