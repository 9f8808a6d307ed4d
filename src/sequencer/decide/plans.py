"""What each rule contributes to a recommendation, worked out once per rule base: its
arguments and strengths, defeats, deferrals, exclusions, cautions, missing facts,
add-ons, alternatives, product holds, and its resolved citations."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from sequencer.knowledge.review import review_of, rule_base_review, today
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import (
    AddOn,
    Defer,
    Derive,
    Failed,
    Favors,
    HoldsBack,
    Missing,
    NotEligible,
    Rule,
    SetsAside,
    SuggestOutsideTherapy,
)
from sequencer.knowledge.schema import (
    Caution as CautionEffect,
)
from sequencer.model.recommendation import (
    AddOnSuggestion,
    Caution,
    Citation,
    DerivedConcept,
    ProductHold,
    Reason,
    RulebookStamp,
    SetAsideBy,
)

T = TypeVar("T")

__all__ = ["Plan", "cached_citations", "memo_of", "plans_of", "stamp"]


def _citations(rulebook: Rulebook, keys: Iterable[str]) -> list[Citation]:
    out = []
    for key in keys:
        source = rulebook.sources[key]
        out.append(
            Citation(
                key=key,
                label=source.label(rulebook.review.ref_label),
                doi=source.doi,
                pmid=source.pmid,
            )
        )
    return out


def stamp(rulebook: Rulebook, fired: Sequence[str] = ()) -> RulebookStamp:
    """The rule base's name, version and digest, as every output carries them, and the
    review state of the rule base and of the ``fired`` rules (in rule-base order) today."""
    on = today()
    memo: dict[tuple[object, ...], RulebookStamp] = memo_of(rulebook, "stamps")
    days: dict[datetime.date, tuple[dict[str, bool], str]] = memo_of(rulebook, "review-flags")
    day = days.get(on)
    if day is None:  # the rules past due (True) or never signed off (False) on that day
        stale_all, unsigned_all = review_of(rulebook, (r.id for r in rulebook.active), on)
        flags = {**dict.fromkeys(unsigned_all, False), **dict.fromkeys(stale_all, True)}
        day = days[on] = (flags, rule_base_review(rulebook, on))
    flags, state = day
    # a stamp names only flagged rules: the others cannot change it
    named = [r for r in fired if r in flags]
    key = (on, *named)
    known = memo.get(key)
    if known is not None:
        return known
    built = RulebookStamp.model_construct(
        name=rulebook.name,
        version=rulebook.version,
        digest=rulebook.digest,
        rule_base_review=state,
        stale_rules=[r for r in named if flags[r]],
        unsigned_rules=[r for r in named if not flags[r]],
    )
    if len(memo) >= 4096:
        memo.clear()
    return memo.setdefault(key, built)


def cached_citations(rulebook: Rulebook, keys: Sequence[str]) -> list[Citation]:
    """The resolved citations for ``keys``, built once per rule base and list of keys."""
    lists: dict[tuple[str, ...], list[Citation]] = rulebook.compiled("citation-lists", _new_dict)
    key = tuple(keys)
    found = lists.get(key)
    if found is None:
        found = lists.setdefault(key, _citations(rulebook, keys))
    return found


# --- what one rule contributes, built once per rule base ----------------------------


@dataclass(frozen=True)
class Plan:
    """Everything one rule contributes when it fires (frozen parts, shared by every call)."""

    index: int
    argues: tuple[tuple[str, str, int], ...]  # argument, favors, weight
    argue_reasons: Mapping[tuple[str, str], Reason]  # (argument, status) -> reason
    failed: tuple[str, ...]
    sets_aside: tuple[str, ...]
    defers: tuple[tuple[str, str], ...]  # therapy, until
    not_eligible: tuple[str, ...]
    blocking: tuple[str, ...]
    standing_reasons: tuple[Reason, ...]  # not_eligible and deferred
    set_aside_by: SetAsideBy | None
    cautions: tuple[Caution, ...]
    missing: tuple[tuple[str, str, bool], ...]
    add_ons: tuple[tuple[str, AddOnSuggestion], ...]
    alternatives: tuple[str, ...]
    derived: tuple[DerivedConcept, ...]
    holds: tuple[tuple[str, ProductHold], ...]  # product name, the hold
    rationale: str
    evidence: str
    citations: tuple[Citation, ...]
    changes_standing: bool  # fails, sets aside, excludes, defers or blocks anything


def plans_of(rulebook: Rulebook) -> dict[str, Plan]:
    """Return rule id -> plan for every active rule, in every context (built once)."""
    return rulebook.compiled(
        "plans", lambda b: {rule.id: _plan(b, rule, i) for i, rule in enumerate(b.active)}
    )


def _new_dict(_: Rulebook) -> dict[Any, Any]:
    """An empty memo for one rule base."""
    return {}


def memo_of(rulebook: Rulebook, name: str) -> dict[Any, Any]:
    """A named memo (a dict) that lives with ``rulebook``: bounded by its user."""
    return rulebook.compiled(f"memo:{name}", _new_dict)


def remembered(
    rulebook: Rulebook, name: str, key: Hashable, build: Callable[[], T], limit: int
) -> T:
    """Return ``build()`` for ``key``, remembered in the memo ``name`` of ``rulebook``
    (built on the first call for the key; a memo that holds ``limit`` entries starts
    again, so memory stays bounded)."""
    memo = memo_of(rulebook, name)
    found = memo.get(key)
    if found is None:
        if len(memo) >= limit:
            memo.clear()
        found = memo[key] = build()
    return cast(T, found)


def _plan(rulebook: Rulebook, rule: Rule, index: int) -> Plan:
    cited = _citations(rulebook, rule.citations)
    common: dict[str, Any] = {
        "rule": rule.id,
        "title": rule.title,
        "evidence": rule.evidence,
        "consideration": rulebook.located(rule.id).consideration,
        "citations": cited,
    }
    text = rule.rationale.strip()
    argues: list[tuple[str, str, int]] = []
    argue_reasons: dict[tuple[str, str], Reason] = {}
    failed: list[str] = []
    sets_aside: list[str] = []
    defers: list[tuple[str, str]] = []
    not_eligible: list[str] = []
    blocking: list[str] = []
    standing: list[Reason] = []
    defeat_text: list[str] = []
    cautions: list[Caution] = []
    missing: list[tuple[str, str, bool]] = []
    add_ons: list[tuple[str, AddOnSuggestion]] = []
    alternatives: list[str] = []
    derived: list[DerivedConcept] = []
    holds: list[tuple[str, ProductHold]] = []
    for effect in rule.then:
        own = (getattr(effect, "text", None) or text).strip()
        if isinstance(effect, Favors):
            weight = rulebook.weights[effect.strength]
            favors = effect.favors or rulebook.arguments[effect.argues].favors
            argues.append((effect.argues, favors, weight))
            statuses: tuple[Literal["counted", "subsumed", "set_aside"], ...] = (
                "counted",
                "subsumed",
                "set_aside",
            )
            for status in statuses:
                argue_reasons[(effect.argues, status)] = Reason(
                    therapy=favors,
                    effect="favors",
                    strength=effect.strength,
                    weight=weight if status == "counted" else 0,
                    text=text,
                    argument=effect.argues,
                    status=status,
                    **common,
                )
        elif isinstance(effect, Failed):
            failed.append(effect.failed)
            defeat_text.append(own)
        elif isinstance(effect, SetsAside):
            sets_aside.extend(effect.sets_aside)
            defeat_text.append(own)
        elif isinstance(effect, Defer):
            for therapy in effect.defer:
                defers.append((therapy, effect.until.strip()))
                standing.append(
                    Reason(therapy=therapy, effect="deferred", weight=0, text=own, **common)
                )
        elif isinstance(effect, NotEligible):
            for therapy in effect.not_eligible:
                not_eligible.append(therapy)
                standing.append(
                    Reason(therapy=therapy, effect="not_eligible", weight=0, text=own, **common)
                )
        elif isinstance(effect, CautionEffect):
            cautions.extend(
                Caution(therapy=t, text=own, severity=effect.severity, **common)
                for t in effect.caution
            )
        elif isinstance(effect, Missing):
            missing.append((effect.missing, own, effect.blocking))
            if effect.blocking:
                blocking.append(effect.missing)
        elif isinstance(effect, AddOn):
            add_ons.append(
                (
                    effect.to,
                    AddOnSuggestion(
                        id=effect.add_on, name=effect.name, rule=rule.id, text=own, citations=cited
                    ),
                )
            )
        elif isinstance(effect, SuggestOutsideTherapy):
            alternatives.append(effect.alternative)
        elif isinstance(effect, Derive):
            derived.append(DerivedConcept(concept=effect.derive, rule=rule.id))
        elif isinstance(effect, HoldsBack):
            hold = ProductHold(
                rule=rule.id, title=rule.title, until=effect.until.strip(), text=own,
                citations=cited,
            )  # fmt: skip
            holds.append((effect.holds_back, hold))
    set_aside_by = (
        SetAsideBy(rule=rule.id, title=rule.title, text=" ".join(defeat_text), citations=cited)
        if defeat_text
        else None
    )
    return Plan(
        index=index,
        argues=tuple(argues),
        argue_reasons=argue_reasons,
        failed=tuple(failed),
        sets_aside=tuple(sets_aside),
        defers=tuple(defers),
        not_eligible=tuple(not_eligible),
        blocking=tuple(blocking),
        standing_reasons=tuple(standing),
        set_aside_by=set_aside_by,
        cautions=tuple(cautions),
        missing=tuple(missing),
        add_ons=tuple(add_ons),
        alternatives=tuple(alternatives),
        derived=tuple(derived),
        holds=tuple(holds),
        rationale=text,
        evidence=rule.evidence,
        citations=tuple(cited),
        changes_standing=bool(failed or sets_aside or not_eligible or defers or blocking),
    )
