"""Turning fired rules into a ranked recommendation: arguments, defeat, deferral.

The method, in full (the README repeats it for clinicians):

1. **Arguments.** A rule that ``argues`` makes a named argument (a clinical
   consideration with a direction: a strength of one option, a weakness of the other,
   or both) at a strength: weak 1, moderate 2, strong 3. **An argument counts once**,
   at the strength of its strongest firing rule; weaker rules making the same
   argument are shown as ``subsumed``.
2. **Defeat.** A fact can set arguments aside: a documented failure of a therapy
   (``failed``) sets aside every argument that is a strength of it (each presumes the
   therapy can work; a weakness of the other option stays counted); ``sets_aside``
   names arguments whose premise a fact contradicts. Set-aside arguments stay in the
   output with the rule that defeated them, and weigh nothing.
3. **Score.** An option's score is the sum of the counted arguments that favor it.
   Every argument is shown on both sides it has: under ``arguments_for`` of the option
   it is a strength of and ``arguments_against`` of the option it is a weakness of,
   whether or not the other option is eligible.
4. **Standing.** An option is ``not_eligible`` when a fired rule says so, ``deferred``
   (not now, for a reason that can pass; ``deferred_until`` says what lifts it) when
   a fired rule defers it, and otherwise available. An option that has *failed*
   cannot be preferred.
5. **Choice.** Among available options that have not failed: two, the higher score
   is preferred; equal scores are no preference (``preferred`` null, both
   ``alternative``); within ``CLOSE_CALL_MARGIN`` (1 point) it is a close call. One,
   it is preferred. None, nothing is preferred now. Cautions never reorder options.
6. **Blocked.** A ``blocking`` missing fact (CD19 status) means no choice yet.
7. **Missing facts.** Every fact that a rule reports as missing, and every unknown
   field that, set to some value, would change the preferred option or an option's
   status (found by substitution over the compiled rules, ``sequencer.decide.unknowns``).
   Those that could change the choice are ``could_flip`` and listed first; when one
   exists, the recommendation is ``provisional`` and the summary names it. No
   argument ever scores on an unknown (the loader refuses such rules).

Cautions on an option that is not eligible are left out of ``warnings``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from sequencer.decide.unknowns import Flip, could_flip
from sequencer.knowledge.contexts import Context, Derivation
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import (
    THERAPIES,
    WEIGHTS,
    AddOn,
    Caution,
    Defer,
    Derive,
    Failed,
    Favors,
    HoldsBack,
    Missing,
    NotEligible,
    Rule,
    SetsAside,
    SuggestAlternative,
)
from sequencer.knowledge.vocabulary import label, lower_label, value_text
from sequencer.model.profile import PatientProfile, flatten
from sequencer.model.recommendation import (
    THERAPY_NAMES,
    AddOnSuggestion,
    AlternativeSuggestion,
    Argument,
    Citation,
    ContextDerivation,
    ContextStamp,
    DerivedConcept,
    MissingFact,
    Option,
    ProductHold,
    ProductStanding,
    Reason,
    Recommendation,
    RulebookStamp,
    SetAsideBy,
    Warning,
)

__all__ = [
    "CLOSE_CALL_MARGIN",
    "WEIGHTS",
    "Decision",
    "decide",
    "rank",
    "tally",
]

CLOSE_CALL_MARGIN = 1
_STRENGTH_OF = cast(
    dict[int, Literal["weak", "moderate", "strong"]], {w: s for s, w in WEIGHTS.items()}
)

Status = Literal["preferred", "alternative", "deferred", "not_eligible"]
Therapy = Literal["blinatumomab", "car_t"]


def _citations(rulebook: Rulebook, keys: Iterable[str]) -> list[Citation]:
    out = []
    for key in keys:
        source = rulebook.sources[key]
        out.append(Citation(key=key, label=source.label(), doi=source.doi, pmid=source.pmid))
    return out


_stamps: dict[str, RulebookStamp] = {}
_citation_lists: dict[tuple[str, tuple[str, ...]], list[Citation]] = {}


def _stamp(rulebook: Rulebook) -> RulebookStamp:
    stamp = _stamps.get(rulebook.digest)
    if stamp is None:
        stamp = _stamps[rulebook.digest] = RulebookStamp(
            name=rulebook.name, version=rulebook.version, digest=rulebook.digest
        )
    return stamp


def _cached_citations(rulebook: Rulebook, keys: Sequence[str]) -> list[Citation]:
    key = (rulebook.digest, tuple(keys))
    found = _citation_lists.get(key)
    if found is None:
        found = _citation_lists[key] = _citations(rulebook, keys)
    return found


# --- what one rule contributes, built once per rule base ----------------------------


@dataclass(frozen=True)
class _Plan:
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
    cautions: tuple[Warning, ...]
    missing: tuple[tuple[str, str, bool], ...]
    add_ons: tuple[tuple[str, AddOnSuggestion], ...]
    alternatives: tuple[str, ...]
    derived: tuple[DerivedConcept, ...]
    holds: tuple[tuple[str, ProductHold], ...]  # product name, the hold
    rationale: str
    evidence: str
    citations: tuple[Citation, ...]
    changes_standing: bool  # fails, sets aside, excludes, defers or blocks anything


_plans_lock = threading.Lock()
_plans_cache: dict[str, dict[str, _Plan]] = {}


def _plans(rulebook: Rulebook) -> dict[str, _Plan]:
    """Return rule id -> plan for every active rule, in every context (cached)."""
    cached = _plans_cache.get(rulebook.digest)
    if cached is not None:
        return cached
    with _plans_lock:
        built = {rule.id: _plan(rulebook, rule, i) for i, rule in enumerate(rulebook.active)}
        _plans_cache[rulebook.digest] = built
        return built


def _plan(rulebook: Rulebook, rule: Rule, index: int) -> _Plan:
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
    cautions: list[Warning] = []
    missing: list[tuple[str, str, bool]] = []
    add_ons: list[tuple[str, AddOnSuggestion]] = []
    alternatives: list[str] = []
    derived: list[DerivedConcept] = []
    holds: list[tuple[str, ProductHold]] = []
    for effect in rule.then:
        own = (getattr(effect, "text", None) or text).strip()
        if isinstance(effect, Favors):
            weight = WEIGHTS[effect.strength]
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
        elif isinstance(effect, Caution):
            cautions.extend(Warning(therapy=t, text=own, **common) for t in effect.caution)
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
        elif isinstance(effect, SuggestAlternative):
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
    return _Plan(
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


# --- the decision, from the fired rules alone -----------------------------------------


@dataclass
class Tally:
    """What the fired rules say, before any choice: arguments, defeats, standing."""

    rules: list[tuple[str, _Plan]] = field(default_factory=list)  # in rule-base order
    best: dict[str, tuple[int, str]] = field(default_factory=dict)  # argument -> weight, rule
    makers: dict[str, list[str]] = field(default_factory=dict)
    set_aside: dict[str, list[str]] = field(default_factory=dict)  # argument -> rules
    failed: dict[str, list[str]] = field(default_factory=dict)
    ineligible: set[str] = field(default_factory=set)
    deferred: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    blocking: list[str] = field(default_factory=list)


def tally(rulebook: Rulebook, fired: Iterable[str]) -> Tally:
    """Return the ``Tally`` of the rules in ``fired`` (ids; their order does not matter)."""
    plans = _plans(rulebook)
    result = Tally()
    result.rules = sorted(((r, plans[r]) for r in fired if r in plans), key=lambda x: x[1].index)
    for rule_id, plan in result.rules:
        for argument, _, weight in plan.argues:
            result.makers.setdefault(argument, []).append(rule_id)
            known = result.best.get(argument)
            if known is None or weight > known[0]:
                result.best[argument] = (weight, rule_id)
        for therapy in plan.failed:
            result.failed.setdefault(therapy, []).append(rule_id)
        for argument in plan.sets_aside:
            result.set_aside.setdefault(argument, []).append(rule_id)
        result.ineligible.update(plan.not_eligible)
        for therapy, until in plan.defers:
            result.deferred.setdefault(therapy, []).append((rule_id, until))
        for name in plan.blocking:
            if name not in result.blocking:
                result.blocking.append(name)
    return result


@dataclass(frozen=True)
class Decision:
    """The choice a tally leads to."""

    preferred: str | None
    status: Mapping[str, Status]
    score: Mapping[str, int]
    counted: frozenset[str]
    defeated: Mapping[str, tuple[str, ...]]  # argument -> rules that set it aside
    gap: int | None
    close_call: bool
    tie: bool
    blocked: bool

    def key(self) -> tuple[str | None, tuple[str, ...]]:
        """What a change of fact must move to change the choice."""
        return self.preferred, tuple(self.status[t] for t in THERAPIES)


def decide(rulebook: Rulebook, t: Tally) -> Decision:
    """Return the ``Decision`` for a tally (the module docstring gives the method)."""
    score: dict[str, int] = dict.fromkeys(THERAPIES, 0)
    counted: set[str] = set()
    defeated: dict[str, tuple[str, ...]] = {}
    for argument, (weight, _) in t.best.items():
        spec = rulebook.arguments[argument]
        favors = spec.favors
        failed_by = t.failed.get(spec.pro_of, ()) if spec.pro_of else ()
        by = [*t.set_aside.get(argument, ()), *failed_by]
        if by:
            defeated[argument] = tuple(dict.fromkeys(by))
        else:
            counted.add(argument)
            score[favors] += weight
    preferred, status, gap, tie, blocked = _choose(
        score, t.ineligible, set(t.deferred), set(t.failed), bool(t.blocking)
    )
    close_call = gap is not None and gap <= CLOSE_CALL_MARGIN and not blocked
    return Decision(
        preferred, status, score, frozenset(counted), defeated, gap, close_call, tie, blocked
    )


def _choose(
    score: Mapping[str, int],
    ineligible: set[str],
    deferred: set[str],
    failed: set[str],
    blocking: bool,
) -> tuple[str | None, dict[str, Status], int | None, bool, bool]:
    """Return preferred, every status, the gap between two candidates, tie, blocked."""
    available = [x for x in THERAPIES if x not in ineligible and x not in deferred]
    candidates = [x for x in available if x not in failed]
    blocked = blocking and bool(available)
    preferred: str | None = None
    gap: int | None = None
    tie = False
    if len(candidates) == 2:
        gap = abs(score[candidates[0]] - score[candidates[1]])
        tie = gap == 0
        if not tie:
            preferred = max(candidates, key=lambda x: score[x])
    elif len(candidates) == 1:
        preferred = candidates[0]
    if blocked:
        preferred = None
    status: dict[str, Status] = {}
    for therapy in THERAPIES:
        if therapy in ineligible:
            status[therapy] = "not_eligible"
        elif therapy in deferred:
            status[therapy] = "deferred"
        elif therapy == preferred:
            status[therapy] = "preferred"
        else:
            status[therapy] = "alternative"
    return preferred, status, gap, tie, blocked


_KEY_MEMO_SIZE = 8192
_key_memo: dict[str, dict[frozenset[str], tuple[str | None, tuple[str, ...]]]] = {}


def _decision_key(rulebook: Rulebook, fired: frozenset[str]) -> tuple[str | None, tuple[str, ...]]:
    """``decide(tally(fired)).key()``, remembered: it is a function of the fired set."""
    memo = _key_memo.get(rulebook.digest)
    if memo is None:
        memo = _key_memo.setdefault(rulebook.digest, {})
    found = memo.get(fired)
    if found is None:
        found = _quick_key(rulebook, fired)
        if len(memo) >= _KEY_MEMO_SIZE:
            memo.clear()
        memo[fired] = found
    return found


def _quick_key(rulebook: Rulebook, fired: frozenset[str]) -> tuple[str | None, tuple[str, ...]]:
    """``decide(tally(fired)).key()`` without building the tally (a test pins the two equal)."""
    plans = _plans(rulebook)
    best: dict[str, tuple[int, str]] = {}
    aside: set[str] = set()
    failed: set[str] = set()
    ineligible: set[str] = set()
    deferred: set[str] = set()
    blocking = False
    specs = rulebook.arguments
    for rule_id in fired:
        plan = plans[rule_id]
        for argument, favors, weight in plan.argues:
            if weight > best.get(argument, (0, ""))[0]:
                best[argument] = (weight, favors)
        if plan.changes_standing:
            failed.update(plan.failed)
            aside.update(plan.sets_aside)
            ineligible.update(plan.not_eligible)
            deferred.update(therapy for therapy, _ in plan.defers)
            blocking = blocking or bool(plan.blocking)
    score: dict[str, int] = dict.fromkeys(THERAPIES, 0)
    for argument, (weight, favors) in best.items():
        if argument not in aside and specs[argument].pro_of not in failed:
            score[favors] += weight
    preferred, status, _, _, _ = _choose(score, ineligible, deferred, failed, blocking)
    return preferred, tuple(status[x] for x in THERAPIES)


# --- the recommendation ---------------------------------------------------------------


_ORDER = {"preferred": 0, "alternative": 0, "deferred": 1, "not_eligible": 2}


def rank(
    rulebook: Rulebook,
    profile: PatientProfile,
    fired: Iterable[str],
    *,
    context: Context | None = None,
    derivations: Sequence[Derivation] = (),
    facts: Mapping[str, Any] | None = None,
) -> Recommendation:
    """Return the ranked ``Recommendation`` for ``profile`` given the rules that fired.

    ``fired`` holds rule ids; the result does not depend on their order. ``profile``
    is the profile as the rules saw it (after ``context`` filled in what it derives);
    ``context`` (default: the rule base's default) and ``derivations`` (what it filled
    in) are reported in the output. ``facts`` is ``flatten(profile)`` when the caller
    already has it.
    """
    context = context or rulebook.context()
    fired_set = frozenset(fired)
    t = tally(rulebook, fired_set)
    d = decide(rulebook, t)

    arguments = _arguments(rulebook, t, d)
    reasons = _reasons(t, d)
    cautions: list[Warning] = []
    missing: dict[str, tuple[str, list[str], bool]] = {}
    add_ons: dict[str, list[AddOnSuggestion]] = {x: [] for x in THERAPIES}
    alternatives: dict[str, AlternativeSuggestion] = {}
    derived: list[DerivedConcept] = []
    holds: dict[str, list[ProductHold]] = {}
    for rule_id, plan in t.rules:
        for product, hold in plan.holds:
            holds.setdefault(product, []).append(hold)
        cautions.extend(plan.cautions)
        for name, text, blocking in plan.missing:
            known = missing.get(name)
            if known is None:
                missing[name] = (text, [rule_id], blocking)
            else:
                missing[name] = (known[0], [*known[1], rule_id], known[2] or blocking)
        for therapy, add_on in plan.add_ons:
            add_ons[therapy].append(add_on)
        for alt_id in plan.alternatives:
            _add_alternative(rulebook, alternatives, alt_id, rule_id)
        derived.extend(plan.derived)

    facts = flatten(profile) if facts is None else facts
    flips = could_flip(
        rulebook,
        context,
        profile,
        facts,
        fired_set,
        lambda after: _decision_key(rulebook, after),
        # access follows the age when the profile did not state it: derived now, or
        # derivable once the age is known
        profile.access.car_t is None or any(x.field == "access.car_t" for x in derivations),
        None if d.blocked else d.gap,
    )
    missing_facts = _missing_facts(rulebook, missing, flips)
    provisional_on = [m.field for m in missing_facts if m.could_change_preferred]
    provisional = d.preferred is not None and bool(provisional_on)

    eligible = {x: d.status[x] != "not_eligible" for x in THERAPIES}
    warnings = [w for w in cautions if eligible[w.therapy]]
    order = sorted(THERAPIES, key=lambda x: (_ORDER[d.status[x]], -d.score[x], THERAPIES.index(x)))
    products = _products(rulebook, context, profile, holds)
    options = [
        _option(rulebook, therapy, t, d, arguments, reasons, warnings, add_ons, products)
        for therapy in order
    ]
    reasons.sort(key=lambda r: (order.index(r.therapy), r.effect == "favors", -r.weight))
    # Every part below was built from validated rule-base data or is one of the frozen
    # models validated when the rule base was loaded; model_construct skips re-checking
    # them on every call (a round-trip test validates the assembled output).
    return Recommendation.model_construct(
        patient_id=profile.id,
        preferred=cast(Therapy | None, d.preferred),
        close_call=d.close_call,
        summary=_summary(rulebook, d, t, order, provisional, provisional_on),
        provisional=provisional,
        provisional_on=provisional_on if provisional else [],
        options=options,
        arguments=arguments,
        reasons=reasons,
        warnings=warnings,
        missing=missing_facts,
        alternatives=list(alternatives.values()),
        derived=derived,
        context=ContextStamp.model_construct(
            name=context.context,
            title=context.title,
            as_of=context.as_of,
            derived=[
                ContextDerivation.model_construct(
                    field=x.field,
                    value=x.value,
                    text=x.text,
                    citations=_cached_citations(rulebook, x.citations),
                )
                for x in derivations
            ],
        ),
        rulebook=_stamp(rulebook),
        notice=rulebook.notice,
    )


_argument_memo: dict[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], Argument] = {}


def _arguments(rulebook: Rulebook, t: Tally, d: Decision) -> list[Argument]:
    plans = _plans(rulebook)
    out: list[Argument] = []
    for argument_id, (weight, rule_id) in t.best.items():
        by = d.defeated.get(argument_id, ())
        key = (rulebook.digest, argument_id, rule_id, tuple(t.makers[argument_id]), by)
        known = _argument_memo.get(key)
        if known is not None:
            out.append(known)
            continue
        spec = rulebook.arguments[argument_id]
        plan = plans[rule_id]
        if len(_argument_memo) >= 4096:
            _argument_memo.clear()
        out.append(
            _argument_memo.setdefault(
                key,
                Argument.model_construct(
                    id=argument_id,
                    title=spec.title,
                    favors=spec.favors,
                    pro_of=spec.pro_of,
                    con_of=spec.con_of,
                    status="set_aside" if by else "counted",
                    strength=_STRENGTH_OF[weight],
                    weight=0 if by else weight,
                    rule=rule_id,
                    rules=list(t.makers[argument_id]),
                    text=plan.rationale,
                    evidence=plan.evidence,
                    citations=list(plan.citations),
                    set_aside_by=[s for s in (plans[r].set_aside_by for r in by) if s is not None],
                ),
            )
        )
    out.sort(key=lambda a: (a.status != "counted", -a.weight, THERAPIES.index(a.favors)))
    return out


def _reasons(t: Tally, d: Decision) -> list[Reason]:
    out: list[Reason] = []
    for rule_id, plan in t.rules:
        out.extend(plan.standing_reasons)
        for argument, _, _ in plan.argues:
            if argument in d.defeated:
                status = "set_aside"
            elif t.best[argument][1] == rule_id:
                status = "counted"
            else:
                status = "subsumed"
            out.append(plan.argue_reasons[(argument, status)])
    return out


def _option(
    rulebook: Rulebook,
    therapy: str,
    t: Tally,
    d: Decision,
    arguments: Sequence[Argument],
    reasons: Sequence[Reason],
    warnings: Sequence[Warning],
    add_ons: Mapping[str, list[AddOnSuggestion]],
    products: list[ProductStanding],
) -> Option:
    status = d.status[therapy]
    deferrals = t.deferred.get(therapy, [])
    return Option.model_construct(
        therapy=cast(Therapy, therapy),
        name=THERAPY_NAMES[therapy],
        status=status,
        score=d.score[therapy],
        add_ons=add_ons[therapy] if status != "not_eligible" else [],
        reasons=list(dict.fromkeys(r.rule for r in reasons if r.therapy == therapy)),
        warnings=list(dict.fromkeys(w.rule for w in warnings if w.therapy == therapy)),
        arguments_for=[a.id for a in arguments if a.status == "counted" and a.pro_of == therapy],
        arguments_against=[
            a.id
            for a in arguments
            if a.con_of == therapy and (a.status == "counted" or _weakness_stands(a, t))
        ],
        set_aside=[
            a.id
            for a in arguments
            if a.status == "set_aside"
            and (a.pro_of == therapy or (a.con_of == therapy and not _weakness_stands(a, t)))
        ],
        failed=therapy in t.failed,
        failed_by=list(t.failed.get(therapy, ())),
        deferred_until="; ".join(dict.fromkeys(u for _, u in deferrals)) or None
        if status == "deferred"
        else None,
        deferred_by=[r for r, _ in deferrals] if status == "deferred" else [],
        products=products if therapy == "car_t" and status != "not_eligible" else [],
    )


def _products(
    rulebook: Rulebook,
    context: Context,
    profile: PatientProfile,
    holds: Mapping[str, list[ProductHold]],
) -> list[ProductStanding]:
    """The context's products open to this patient (approved access, label age), each
    with the criteria that fired against it (memoized: few distinct answers)."""
    if profile.access.car_t != "approved":
        return []
    age = profile.age
    covered = tuple(i for i, p in enumerate(context.car_t.products) if age is None or p.covers(age))
    key = (
        rulebook.digest,
        context.context,
        covered,
        tuple((name, tuple(h.rule for h in found)) for name, found in sorted(holds.items())),
    )
    known = _product_memo.get(key)
    if known is not None:
        return known
    built = [
        ProductStanding.model_construct(
            name=product.name,
            trial=product.trial,
            admits=not holds.get(product.name),
            held_back_by=holds.get(product.name, []),
            safety=product.safety.strip() if product.safety is not None else None,
            citations=_cached_citations(rulebook, (*product.citations, *product.safety_citations)),
        )
        for product in (context.car_t.products[i] for i in covered)
    ]
    if len(_product_memo) >= 1024:
        _product_memo.clear()
    return _product_memo.setdefault(key, built)


_product_memo: dict[tuple[object, ...], list[ProductStanding]] = {}


def _weakness_stands(argument: Argument, t: Tally) -> bool:
    """A two-sided argument set aside only because its pro_of therapy failed: the failure
    voids the strength, not the other option's weakness, which is still shown on it."""
    if argument.status != "set_aside" or argument.pro_of is None:
        return False
    failures = set(t.failed.get(argument.pro_of, ()))
    return bool(failures) and {s.rule for s in argument.set_aside_by} <= failures


def _add_alternative(
    rulebook: Rulebook, found: dict[str, AlternativeSuggestion], alt_id: str, rule_id: str
) -> None:
    if alt_id in found:
        known = found[alt_id]
        found[alt_id] = known.model_copy(update={"rules": [*known.rules, rule_id]})
        return
    alt = rulebook.alternatives[alt_id]
    found[alt_id] = AlternativeSuggestion.model_construct(
        id=alt_id,
        name=alt.name,
        target=alt.target,
        text=alt.description.strip(),
        rules=[rule_id],
        citations=_cached_citations(rulebook, alt.citations),
    )


def _missing_facts(
    rulebook: Rulebook,
    missing: Mapping[str, tuple[str, list[str], bool]],
    flips: Mapping[str, list[Flip]],
) -> list[MissingFact]:
    """Reported missing facts plus those found by substitution, could-flip ones first."""
    facts: list[tuple[tuple[bool, bool, int], MissingFact]] = []
    for index, (name, (text, rules, blocking)) in enumerate(missing.items()):
        fact = MissingFact.model_construct(
            field=name,
            text=text,
            rules=list(rules),
            blocking=blocking,
            could_flip=name in flips,
            could_change_preferred=any(f.changes_preferred for f in flips.get(name, ())),
        )
        facts.append(((name not in flips, not blocking, index), fact))
    offset = len(facts)
    for index, (name, found) in enumerate(sorted(flips.items())):
        if name in missing:
            continue
        rules = list(dict.fromkeys(r for f in found for r in (*f.starts, *f.stops)))
        fact = MissingFact.model_construct(
            field=name,
            text=_flip_text(rulebook, name, found),
            rules=rules,
            blocking=False,
            could_flip=True,
            could_change_preferred=any(f.changes_preferred for f in found),
        )
        facts.append(((False, True, offset + index), fact))
    facts.sort(key=lambda item: item[0])
    return [fact for _, fact in facts]


def _flip_text(rulebook: Rulebook, name: str, found: Sequence[Flip]) -> str:
    """Words for an unknown found by substitution, from the titles of the rules it moves."""
    parts = []
    for flip in found[:3]:
        titles = [rulebook.rule(r).title for r in flip.starts] or [
            f"no longer: {rulebook.rule(r).title}" for r in flip.stops
        ]
        parts.append(f"{value_text(name, flip.value)} would bring in: {'; '.join(titles)}")
    return f"{label(name)} is not known, and it could change the choice. " + ". ".join(parts) + "."


def _summary(
    rulebook: Rulebook,
    d: Decision,
    t: Tally,
    order: Sequence[str],
    provisional: bool,
    provisional_on: Sequence[str],
) -> str:
    text = _headline(d, t, order)
    notes = []
    for therapy in order:
        if d.status[therapy] == "deferred":
            until = "; ".join(dict.fromkeys(u for _, u in t.deferred[therapy]))
            notes.append(f"{THERAPY_NAMES[therapy]} deferred until {until.rstrip('.')}.")
    if provisional:
        names = ", ".join(lower_label(label(f)) for f in provisional_on)
        notes.append(f"Provisional: it could change with {names}, not yet known.")
    return " ".join([text, *notes])


def _headline(d: Decision, t: Tally, order: Sequence[str]) -> str:
    available = [x for x in order if d.status[x] in ("preferred", "alternative")]
    if d.blocked:
        return (
            "No choice yet: first establish "
            + ", ".join(label(b) for b in t.blocking)
            + " (the options are ranked below only to show what would weigh)."
        )
    if d.tie:
        return (
            f"No preference: both options score {d.score[order[0]]} and the rules do not "
            "separate them; the board must weigh the arguments and the missing facts."
        )
    if d.preferred is None:
        if available:
            return (
                "No CD19-directed option is a good choice now ("
                + ", ".join(f"{THERAPY_NAMES[x]}: failed before" for x in available)
                + "); see the alternatives."
            )
        if any(d.status[x] == "deferred" for x in order):
            return "No CD19-directed option can be given now; see what lifts the deferral."
        return "Neither CD19-directed option can be given now; see the alternatives."
    preferred = d.preferred
    other = next(x for x in order if x != preferred)
    if d.status[other] != "alternative" or other in t.failed:
        why = {
            "not_eligible": "not eligible",
            "deferred": "deferred",
            "alternative": "failed before",
        }[d.status[other]]
        return (
            f"{THERAPY_NAMES[preferred]} (score {d.score[preferred]}); "
            f"{THERAPY_NAMES[other]}: {why}."
        )
    lead = "Close call, leaning to" if d.close_call else "Prefer"
    return (
        f"{lead} {THERAPY_NAMES[preferred]}: score {d.score[preferred]} "
        f"vs {d.score[other]} for {THERAPY_NAMES[other]}."
    )
