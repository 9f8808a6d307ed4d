"""The statements of an exercise, every one true of the patient, each under a letter
with its role in the choice:

- the arguments and standings that **decided** the choice, computed from the rule base
  by taking them away and deciding again (``sequencer.explain.deciding``);
- arguments that counted but did not decide (they pull toward the other option, or the
  choice stands without them), standings that changed nothing, cautions (which never
  move a choice) and plain facts of the profile that no rule weighs;
- arguments that were **set aside** (by a treatment failure, or a fact that contradicts
  their premise).

The choice of cautions and plain facts and the order of the letters are seeded by the
case's key, so a case's sheet is the same every time. ``sequencer.explain.teach`` makes
the exercise around them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from sequencer.decide.plans import plans_of
from sequencer.decide.unknowns import fields_read
from sequencer.explain.casebook import TeachingCase
from sequencer.explain.deciding import Weighing
from sequencer.explain.published import Hindsight
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.fields import flatten, is_unknown
from sequencer.model.recommendation import Citation, Recommendation, SetAsideBy

__all__ = ["Factor", "Kind", "Role", "statements"]

CAUTIONS = 2
"""At most this many cautions join a list."""
OTHER_TRUE = 3
"""Plain facts are added until this many statements are true, not deciding, not set aside."""
PLAIN_FACTS = (1, 3)
"""At least one plain fact, at most three."""
_ABSENT: tuple[object, ...] = ("none", False, [], ())
"""Values that say a finding is absent: not offered as plain facts (``There is no GVHD``
reads oddly where there was no transplant)."""
Role = Literal["deciding", "not_deciding", "set_aside"]
Kind = Literal["argument", "standing", "caution", "fact"]


@dataclass(frozen=True)
class Factor:
    """One statement true of the patient, under a letter, with its role in the choice."""

    key: str
    text: str
    role: Role
    kind: Kind
    """An argument, a standing (eligibility, deferral, failure, defeat), a caution or a
    plain fact of the profile."""
    ref: str
    """The argument's or rule's id, or the profile field of a plain fact."""
    rules: tuple[str, ...]
    """The rules behind it (for the curious); none for a plain fact."""
    favors: str | None
    """For an argument: the option it pushes toward."""
    without: str | None
    """When the choice changes if this alone is taken away: what it would be."""
    why: str
    """The rule base's words for it (its figures), or the fact in words."""
    citations: tuple[Citation, ...]
    set_aside_by: tuple[SetAsideBy, ...]
    hindsight: Hindsight | None
    together: tuple[str, ...] = ()
    """For a deciding statement no single removal of which changes the choice: the
    letters of the fewest others that, taken away with it, change it."""
    then: str | None = None
    """The choice once this statement (and ``together``) are taken away."""
    arguments: tuple[str, ...] = ()
    """The ids of the arguments it states (a standing that also argues states one)."""

    @property
    def deciding(self) -> bool:
        """Whether it decided the choice."""
        return self.role == "deciding"

    @property
    def neutral(self) -> bool:
        """Ticking it as deciding costs nothing: it carries the authors' hindsight."""
        return self.hindsight is not None and self.role == "not_deciding"


def _seeded(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


@dataclass
class _Draft:
    text: str
    role: Role
    kind: Kind
    ref: str
    rules: tuple[str, ...]
    favors: str | None
    without: str | None
    why: str
    citations: tuple[Citation, ...]
    set_aside_by: tuple[SetAsideBy, ...] = ()
    together: tuple[str, ...] = ()  # item ids
    then: str | None = None
    also: tuple[str, ...] = ()  # ids of the argument merged into a standing statement


def _weighing_drafts(book: Rulebook, rec: Recommendation, weighing: Weighing) -> list[_Draft]:
    """Arguments (counted or set aside) and standings, merged when one rule makes both."""
    plans = plans_of(book)
    drafts: dict[str, _Draft] = {}
    standing_of: dict[str, str] = {}
    for item in weighing.items:
        if item.kind != "standing":
            continue
        rule = book.rule(item.id)
        plan = plans[item.id]
        own = [r.text for r in rec.reasons if r.rule == item.id and r.effect != "favors"]
        why = " ".join(
            dict.fromkeys([*own, *([plan.set_aside_by.text] if plan.set_aside_by else [])])
        )
        drafts[item.id] = _Draft(
            text=rule.title,
            role="deciding" if item.deciding else "not_deciding",
            kind="standing",
            ref=item.id,
            rules=(item.id,),
            favors=None,
            without=item.without,
            why=why or plan.rationale,
            citations=plan.citations,
            together=item.together,
            then=item.then,
        )
        standing_of[item.id] = item.id
    for argument in rec.arguments:
        spec = book.arguments[argument.id]
        if argument.status == "set_aside":
            role: Role = "set_aside"
            without = None
            together: tuple[str, ...] = ()
            then: str | None = None
        else:
            found = weighing.item("argument", argument.id)
            role = "deciding" if found is not None and found.deciding else "not_deciding"
            without = found.without if found is not None else None
            together = found.together if found is not None else ()
            then = found.then if found is not None else None
        merged = next((standing_of[r] for r in argument.rules if r in standing_of), None)
        if merged is not None and role != "set_aside":
            # one finding (a failure, say) both argues and changes a standing: one statement
            draft = drafts[merged]
            draft.text = spec.title
            draft.kind = "argument"
            draft.favors = argument.favors
            draft.rules = tuple(dict.fromkeys([*draft.rules, *argument.rules]))
            draft.why = " ".join(dict.fromkeys([argument.text, draft.why]))
            draft.also = (*draft.also, argument.id)
            if role == "deciding" and draft.role != "deciding":
                draft.role = "deciding"
                draft.without, draft.together, draft.then = without, together, then
            continue
        drafts[f"argument:{argument.id}"] = _Draft(
            text=spec.title,
            role=role,
            kind="argument",
            ref=argument.id,
            rules=tuple(argument.rules),
            favors=argument.favors,
            without=without,
            why=argument.text,
            citations=tuple(argument.citations),
            set_aside_by=tuple(argument.set_aside_by),
            together=together,
            then=then,
        )
    return list(drafts.values())


def _caution_drafts(
    book: Rulebook, rec: Recommendation, key: str, taken: set[str], weighed: set[str]
) -> list[_Draft]:
    """Cautions on other findings than those weighed (a caution on the same finding as
    an argument would read as that argument)."""
    reads = fields_read(book.active)
    busy = {f for r in weighed for f in reads.get(r, set())}
    seen: dict[str, _Draft] = {}
    for caution in rec.warnings:
        if caution.rule in taken or caution.rule in seen or reads.get(caution.rule, set()) & busy:
            continue
        seen[caution.rule] = _Draft(
            text=caution.title,
            role="not_deciding",
            kind="caution",
            ref=caution.rule,
            rules=(caution.rule,),
            favors=None,
            without=None,
            why=caution.text,
            citations=tuple(caution.citations),
        )
    chosen = sorted(seen.values(), key=lambda d: _seeded(f"caution:{key}:{d.ref}"))
    return chosen[:CAUTIONS]


def _fact_drafts(
    book: Rulebook, case: TeachingCase, rec: Recommendation, weighing_rules: set[str], wanted: int
) -> list[_Draft]:
    """Known facts of the profile that no rule weighing here reads, in words."""
    reads = fields_read(book.active)
    used = {f for r in weighing_rules for f in reads.get(r, set())}
    vocabulary = book.vocabulary
    facts = [
        (field, value)
        for field, value in flatten(case.profile).items()
        if field in vocabulary.labels
        and field not in used
        and not is_unknown(field, value)
        and value not in _ABSENT  # a finding, not the absence of one
    ]
    facts.sort(key=lambda fv: _seeded(f"fact:{case.key}:{fv[0]}"))
    return [
        _Draft(
            text=vocabulary.fact_text(field, value),
            role="not_deciding",
            kind="fact",
            ref=field,
            rules=(),
            favors=None,
            without=None,
            why="",
            citations=(),
        )
        for field, value in facts[:wanted]
    ]


def _hindsight_for(draft: _Draft, note: Hindsight | None) -> Hindsight | None:
    if note is None:
        return None
    concerned = {draft.ref, *draft.rules}
    return note if concerned & set(note.about) else None


def statements(
    book: Rulebook, case: TeachingCase, rec: Recommendation, weighing: Weighing
) -> tuple[Factor, ...]:
    """Return the lettered statements of ``case`` (recommended as ``rec``, its weighing
    ``weighing``): the weighed ones, a few cautions and plain facts, in a seeded order."""
    drafts = _weighing_drafts(book, rec, weighing)
    taken = {r for d in drafts for r in d.rules}
    weighed = {r for d in drafts if d.role != "not_deciding" for r in d.rules}
    drafts += _caution_drafts(book, rec, case.key, taken, weighed)
    others = sum(d.role == "not_deciding" for d in drafts)
    low, high = PLAIN_FACTS
    wanted = min(high, max(low, OTHER_TRUE - others))
    weighing_rules = {r for d in drafts if d.kind in ("argument", "standing") for r in d.rules}
    drafts += _fact_drafts(book, case, rec, weighing_rules, wanted)
    unique: dict[str, _Draft] = {}
    for draft in drafts:
        unique.setdefault(draft.text, draft)
    ordered = sorted(unique.values(), key=lambda d: _seeded(f"order:{case.key}:{d.text}"))
    letter_of: dict[str, str] = {}
    for index, d in enumerate(ordered):
        for name in (d.ref, *d.also, *d.rules):
            letter_of.setdefault(name, _letter(index))
    together: dict[str, tuple[str, ...]] = {}
    for index, d in enumerate(ordered):
        own = _letter(index)
        found = {letter_of[t] for t in d.together if t in letter_of} - {own}
        together[own] = tuple(sorted(found, key=lambda k: (len(k), k)))
        if not found and d.then is not None and d.without is None:
            d.without = d.then  # its witnesses are this statement's own parts
    return tuple(
        Factor(
            key=_letter(index),
            text=d.text,
            role=d.role,
            kind=d.kind,
            ref=d.ref,
            rules=d.rules,
            favors=d.favors,
            without=d.without,
            why=d.why,
            citations=d.citations,
            set_aside_by=d.set_aside_by,
            hindsight=_hindsight_for(d, case.hindsight),
            together=together[_letter(index)],
            arguments=(d.ref, *d.also) if d.kind == "argument" and not d.also else d.also,
            then=d.then,
        )
        for index, d in enumerate(ordered)
    )


def _letter(index: int) -> str:
    """a, b, ... z, then aa, ab, ..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters
