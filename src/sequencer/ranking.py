"""Turning fired rules into a ranked recommendation.

The method, in full (the README repeats it for clinicians):

1. **Eligibility.** An option is *not eligible* when any fired rule says so
   (``not_eligible``), whatever its score.
2. **Score.** Each fired ``favors`` effect adds its strength's weight to its option:
   weak = 1, moderate = 2, strong = 3. Cautions, missing facts and add-ons never
   change a score.
3. **Order.** Eligible options by score, highest first; ineligible options last.
   Equal scores are listed blinatumomab first, a fixed display order only (see 5).
   Cautions never reorder options: a rule that matters to the choice must say so
   with a weight.
4. **Close call.** When both options are eligible and their scores differ by at most
   ``CLOSE_CALL_MARGIN`` (1 point, a single weak consideration), ``close_call`` is
   true: the rule base barely separates them and the board must weigh them.
5. **Tie.** Equal scores are no preference at all: ``preferred`` is null, both
   options are ``alternative`` and ``close_call`` is true. No choice is made from a
   tie (a sparse profile with nothing known scores 0 against 0).
6. **Nothing eligible.** ``preferred`` is null, every option is ``not_eligible``, and
   ``alternatives`` lists what the fired rules suggest instead.
7. **Blocked.** A missing fact marked ``blocking`` (CD19 status, for one) means no
   choice yet: ``preferred`` is null, eligible options are ``alternative``,
   ``close_call`` is false, and the summary names what to establish first.

Cautions on an option that is not eligible are left out of ``warnings`` (they
would caution against something that cannot be given).

**Missing facts** are listed by what they could do: those that *could flip* the
decision first (blocking ones, those whose rules can take a still-eligible option off
the table, and those whose rules can move the score gap by at least its current size),
then by how many points they could move, otherwise in rule order. The bound comes from
``field_reach()``, computed once per rule base; ``sequencer.whatif`` gives the exact
answer value by value.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sequencer.conditions import fields_of
from sequencer.contexts import Context, Derivation
from sequencer.profile import PatientProfile
from sequencer.recommendation import (
    THERAPY_NAMES,
    AddOnSuggestion,
    AlternativeSuggestion,
    Citation,
    ContextDerivation,
    ContextStamp,
    DerivedConcept,
    MissingFact,
    Option,
    Reason,
    Recommendation,
    RulebookStamp,
    Warning,
)
from sequencer.rulebook import (
    THERAPIES,
    AddOn,
    Caution,
    Derive,
    Favors,
    Missing,
    NotEligible,
    Rule,
    Rulebook,
    SuggestAlternative,
)

__all__ = ["CLOSE_CALL_MARGIN", "WEIGHTS", "FieldReach", "Reach", "field_reach", "rank"]

WEIGHTS: dict[str, int] = {"weak": 1, "moderate": 2, "strong": 3}
CLOSE_CALL_MARGIN = 1


def _citations(rulebook: Rulebook, keys: Iterable[str]) -> list[Citation]:
    out = []
    for key in keys:
        source = rulebook.sources[key]
        out.append(Citation(key=key, label=source.label(), doi=source.doi, pmid=source.pmid))
    return out


Status = Literal["preferred", "alternative", "not_eligible"]
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


@dataclass(frozen=True)
class _Plan:
    """Everything one rule contributes when it fires, built once per rule base.

    The output models are frozen, so the same instances serve every recommendation.
    """

    favors: tuple[tuple[str, int], ...]
    not_eligible: tuple[str, ...]
    reasons: tuple[Reason, ...]
    cautions: tuple[Warning, ...]
    missing: tuple[tuple[str, str, bool], ...]
    add_ons: tuple[tuple[str, AddOnSuggestion], ...]
    alternatives: tuple[str, ...]
    derived: tuple[DerivedConcept, ...]


_plans_lock = threading.Lock()
_plans_cache: dict[str, dict[str, tuple[int, _Plan]]] = {}


def _plans(rulebook: Rulebook) -> dict[str, tuple[int, _Plan]]:
    """Return rule id -> (position in the rule base, plan) for every active rule (cached)."""
    cached = _plans_cache.get(rulebook.digest)
    if cached is not None:
        return cached
    with _plans_lock:
        built = {
            rule.id: (index, _plan(rulebook, rule)) for index, rule in enumerate(rulebook.active)
        }
        _plans_cache[rulebook.digest] = built
        return built


def _plan(rulebook: Rulebook, rule: Rule) -> _Plan:
    cited = _citations(rulebook, rule.citations)
    common = {
        "rule": rule.id,
        "title": rule.title,
        "evidence": rule.evidence,
        "consideration": rulebook.located(rule.id).consideration,
        "citations": cited,
    }
    text = rule.rationale.strip()
    favors: list[tuple[str, int]] = []
    not_eligible: list[str] = []
    reasons: list[Reason] = []
    cautions: list[Warning] = []
    missing: list[tuple[str, str, bool]] = []
    add_ons: list[tuple[str, AddOnSuggestion]] = []
    alternatives: list[str] = []
    derived: list[DerivedConcept] = []
    for effect in rule.then:
        own = (getattr(effect, "text", None) or text).strip()
        if isinstance(effect, Favors):
            weight = WEIGHTS[effect.strength]
            favors.append((effect.favors, weight))
            reasons.append(
                Reason(
                    therapy=effect.favors,
                    effect="favors",
                    strength=effect.strength,
                    weight=weight,
                    text=text,
                    **common,
                )
            )
        elif isinstance(effect, NotEligible):
            for therapy in effect.not_eligible:
                not_eligible.append(therapy)
                reasons.append(
                    Reason(therapy=therapy, effect="not_eligible", weight=0, text=own, **common)
                )
        elif isinstance(effect, Caution):
            cautions.extend(Warning(therapy=t, text=own, **common) for t in effect.caution)
        elif isinstance(effect, Missing):
            missing.append((effect.missing, own, effect.blocking))
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
    return _Plan(
        tuple(favors),
        tuple(not_eligible),
        tuple(reasons),
        tuple(cautions),
        tuple(missing),
        tuple(add_ons),
        tuple(alternatives),
        tuple(derived),
    )


def rank(
    rulebook: Rulebook,
    profile: PatientProfile,
    fired: Iterable[str],
    *,
    context: Context | None = None,
    derivations: Sequence[Derivation] = (),
) -> Recommendation:
    """Return the ranked ``Recommendation`` for ``profile`` given the rules that fired.

    ``fired`` holds rule ids; the result does not depend on their order. ``context``
    (default: the rule base's default) and ``derivations`` (what it filled in) are
    reported in the output.
    """
    context = context or rulebook.context()
    fired_set = set(fired)
    score: dict[str, int] = dict.fromkeys(THERAPIES, 0)
    eligible: dict[str, bool] = dict.fromkeys(THERAPIES, True)
    reasons: list[Reason] = []
    cautions: list[Warning] = []
    missing: dict[str, tuple[str, list[str], bool]] = {}  # field -> text, rules, blocking
    add_ons: dict[str, list[AddOnSuggestion]] = {t: [] for t in THERAPIES}
    alternatives: dict[str, AlternativeSuggestion] = {}
    derived: list[DerivedConcept] = []

    plans = _plans(rulebook)
    # rule-base order, whatever order the rules fired in
    for _, plan, rule_id in sorted((*plans[r], r) for r in fired_set if r in plans):
        for therapy, weight in plan.favors:
            score[therapy] += weight
        for therapy in plan.not_eligible:
            eligible[therapy] = False
        reasons.extend(plan.reasons)
        cautions.extend(plan.cautions)
        for field, text, blocking in plan.missing:
            known = missing.get(field)
            if known is None:
                missing[field] = (text, [rule_id], blocking)
            else:
                missing[field] = (known[0], [*known[1], rule_id], known[2] or blocking)
        for therapy, add_on in plan.add_ons:
            add_ons[therapy].append(add_on)
        for alt_id in plan.alternatives:
            _add_alternative(rulebook, alternatives, alt_id, rule_id)
        derived.extend(plan.derived)

    warnings = [w for w in cautions if eligible[w.therapy]]
    order = sorted(THERAPIES, key=lambda t: (not eligible[t], -score[t], THERAPIES.index(t)))
    eligible_order = [t for t in order if eligible[t]]
    both = len(eligible_order) == 2
    gap = abs(score[eligible_order[0]] - score[eligible_order[1]]) if both else None
    missing_facts = _ordered_missing(rulebook, fired_set, missing, score, eligible, eligible_order)
    tie = gap == 0
    blocked_by = [field for field, (_, _, blocking) in missing.items() if blocking]
    preferred = eligible_order[0] if eligible_order and not tie and not blocked_by else None
    close_call = gap is not None and gap <= CLOSE_CALL_MARGIN and not blocked_by

    options = []
    for therapy in order:
        status: Status = (
            "not_eligible"
            if not eligible[therapy]
            else "preferred"
            if therapy == preferred
            else "alternative"
        )
        options.append(
            Option.model_construct(
                therapy=therapy,
                name=THERAPY_NAMES[therapy],
                status=status,
                score=score[therapy],
                add_ons=add_ons[therapy] if eligible[therapy] else [],
                reasons=list(dict.fromkeys(r.rule for r in reasons if r.therapy == therapy)),
                warnings=list(dict.fromkeys(w.rule for w in warnings if w.therapy == therapy)),
            )
        )

    reasons.sort(key=lambda r: (order.index(r.therapy), r.effect != "not_eligible", -r.weight))
    # Every part below was built from validated rule-base data or is one of the frozen
    # models validated when the rule base was loaded; model_construct skips re-checking
    # them on every call (a round-trip test validates the assembled output).
    return Recommendation.model_construct(
        patient_id=profile.id,
        preferred=preferred,
        close_call=close_call,
        summary=_summary(preferred, close_call, order, score, eligible, tie, blocked_by),
        options=options,
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
                    field=d.field,
                    value=d.value,
                    text=d.text,
                    citations=_cached_citations(rulebook, d.citations),
                )
                for d in derivations
            ],
        ),
        rulebook=_stamp(rulebook),
        notice=rulebook.notice,
    )


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


def _summary(
    preferred: str | None,
    close_call: bool,
    order: Sequence[str],
    score: Mapping[str, int],
    eligible: Mapping[str, bool],
    tie: bool,
    blocked_by: Sequence[str] = (),
) -> str:
    if blocked_by and any(eligible.values()):
        return (
            "No choice yet: first establish "
            + ", ".join(blocked_by)
            + " (the options are ranked below only to show what would weigh)."
        )
    if tie:
        return (
            f"No preference: both options score {score[order[0]]} and the rules do not "
            "separate them; the board must weigh the reasons and the missing facts."
        )
    if preferred is None:
        return "Neither CD19-directed option can be given now; see the alternatives."
    other = next(t for t in order if t != preferred)
    if not eligible[other]:
        return (
            f"{THERAPY_NAMES[preferred]} (score {score[preferred]}); "
            f"{THERAPY_NAMES[other]} not eligible."
        )
    lead = "Close call, leaning to" if close_call else "Prefer"
    return (
        f"{lead} {THERAPY_NAMES[preferred]}: score {score[preferred]} "
        f"vs {score[other]} for {THERAPY_NAMES[other]}."
    )


# --- which missing facts could flip the decision ------------------------------


@dataclass(frozen=True)
class FieldReach:
    """What a profile field can do to a decision, from the rules that read it.

    A rule reads a field directly in its condition or through a concept derived by a
    rule that does. ``gain`` is the most points those rules can add to each option,
    ``ineligible`` the options they can take off the table, and ``blocking`` whether a
    blocking missing fact depends on the field.
    """

    gain: Mapping[str, int]
    ineligible: frozenset[str]
    blocking: bool


@dataclass(frozen=True)
class Reach:
    """``FieldReach`` for every profile field a rule reads, and the fields of each rule."""

    fields: Mapping[str, FieldReach]
    rule_fields: Mapping[str, frozenset[str]]
    readers: Mapping[str, tuple[tuple[str, tuple[tuple[str, int], ...], bool], ...]]
    """field -> (rule id, its favors as (therapy, weight), whether it excludes options)"""


_reach_lock = threading.Lock()
_reach_cache: dict[str, Reach] = {}
_NO_REACH = FieldReach(gain=dict.fromkeys(THERAPIES, 0), ineligible=frozenset(), blocking=False)


def field_reach(rulebook: Rulebook) -> Reach:
    """Return what each profile field can do to a decision under ``rulebook``.

    Computed from the compiled rule conditions once per rule base (keyed by its
    digest) and cached; cheap enough to consult on every ``rank()``.
    """
    known = _reach_cache.get(rulebook.digest)
    if known is not None:
        return known
    with _reach_lock:
        built = _reach_cache[rulebook.digest] = _build_reach(rulebook)
        return built


def _build_reach(rulebook: Rulebook) -> Reach:
    active = rulebook.active
    derived_by: dict[str, list[Rule]] = {}
    for rule in active:
        for concept in rule.derives:
            derived_by.setdefault(concept, []).append(rule)
    reads: dict[str, set[str]] = {r.id: fields_of(r.condition.profile) for r in active}
    changed = True
    while changed:  # fields reached through concepts, to a fixpoint
        changed = False
        for rule in active:
            for concept in rule.condition.concepts:
                for source in derived_by.get(concept, []):
                    if not reads[source.id] <= reads[rule.id]:
                        reads[rule.id] |= reads[source.id]
                        changed = True
    gain: dict[str, dict[str, int]] = {}
    ineligible: dict[str, set[str]] = {}
    blocking: set[str] = set()
    readers: dict[str, list[tuple[str, tuple[tuple[str, int], ...], bool]]] = {}
    for rule in active:
        fields = reads[rule.id]
        points = tuple((e.favors, WEIGHTS[e.strength]) for e in rule.then if isinstance(e, Favors))
        excludes = any(isinstance(e, NotEligible) for e in rule.then)
        for field in fields:
            per = gain.setdefault(field, dict.fromkeys(THERAPIES, 0))
            for therapy, weight in points:
                per[therapy] += weight
            if points or excludes:
                readers.setdefault(field, []).append((rule.id, points, excludes))
        for effect in rule.then:
            if isinstance(effect, NotEligible):
                for field in fields:
                    ineligible.setdefault(field, set()).update(effect.not_eligible)
            elif isinstance(effect, Missing) and effect.blocking:
                blocking.update(fields | {effect.missing})
    everything = set(gain) | blocking
    return Reach(
        fields={
            f: FieldReach(
                gain=gain.get(f, dict.fromkeys(THERAPIES, 0)),
                ineligible=frozenset(ineligible.get(f, ())),
                blocking=f in blocking,
            )
            for f in everything
        },
        rule_fields={rule_id: frozenset(fields) for rule_id, fields in reads.items()},
        readers={field: tuple(found) for field, found in readers.items()},
    )


_MISSING_MEMO_SIZE = 1024
_missing_memo: dict[str, dict[frozenset[str], tuple[MissingFact, ...]]] = {}


def _ordered_missing(
    rulebook: Rulebook,
    fired: set[str],
    missing: Mapping[str, tuple[str, list[str], bool]],
    score: Mapping[str, int],
    eligible: Mapping[str, bool],
    eligible_order: Sequence[str],
) -> list[MissingFact]:
    """``_order_missing``, remembered: the list is a function of the rules that fired.

    The facts are frozen, so the same instances serve every recommendation (as the
    rule plans do); the memo is bounded and simply starts again when full.
    """
    if not missing:
        return []
    memo = _missing_memo.get(rulebook.digest)
    if memo is None:
        memo = _missing_memo.setdefault(rulebook.digest, {})
    key = frozenset(fired)
    known = memo.get(key)
    if known is None:
        known = tuple(_order_missing(rulebook, fired, missing, score, eligible, eligible_order))
        if len(memo) >= _MISSING_MEMO_SIZE:
            memo.clear()
        memo[key] = known
    return list(known)


def _order_missing(
    rulebook: Rulebook,
    fired: set[str],
    missing: Mapping[str, tuple[str, list[str], bool]],
    score: Mapping[str, int],
    eligible: Mapping[str, bool],
    eligible_order: Sequence[str],
) -> list[MissingFact]:
    """Return the missing facts, those that could flip the decision first (module doc)."""
    if not missing:
        return []
    quick = _quick(rulebook)
    both = len(eligible_order) == 2
    gap = score[eligible_order[0]] - score[eligible_order[1]] if both else 0
    toward_blin = both and eligible_order[1] == "blinatumomab"
    keys: list[tuple[bool, bool, int, int]] = []
    facts: list[MissingFact] = []
    for index, (field, (text, rules, blocking)) in enumerate(missing.items()):
        to_blin, to_car_t, flips, excluded, readers = quick.get(field, _NO_QUICK)
        flips = flips or blocking
        # what the other option now owes to rules on this field, and could lose
        for rule_id, blin, car_t, excludes in readers:
            if rule_id in fired:
                to_blin += car_t
                to_car_t += blin
                flips = flips or excludes
        if gap:
            potential = to_blin if toward_blin else to_car_t
            flips = flips or potential >= gap
        else:
            potential = to_blin if to_blin > to_car_t else to_car_t
            flips = flips or (both and potential > 0)
        if not flips:
            for therapy in excluded:
                flips = flips or eligible[therapy]
        facts.append(_missing_fact(field, text, rules, blocking, flips))
        keys.append((not flips, not blocking, -potential, index))
    return [facts[k[3]] for k in sorted(keys)]


_facts: dict[tuple[str, str, tuple[str, ...], bool, bool], MissingFact] = {}


def _missing_fact(
    field: str, text: str, rules: list[str], blocking: bool, flips: bool
) -> MissingFact:
    """The same (frozen) MissingFact instance for the same content; bounded memo."""
    key = (field, text, tuple(rules), blocking, flips)
    fact = _facts.get(key)
    if fact is None:
        if len(_facts) >= 4096:
            _facts.clear()
        fact = _facts[key] = MissingFact.model_construct(
            field=field, text=text, rules=list(rules), blocking=blocking, could_flip=flips
        )
    return fact


_Quick = tuple[int, int, bool, tuple[str, ...], tuple[tuple[str, int, int, bool], ...]]
_NO_QUICK: _Quick = (0, 0, False, (), ())
_quick_cache: dict[str, dict[str, _Quick]] = {}


def _quick(rulebook: Rulebook) -> dict[str, _Quick]:
    """``field_reach`` as plain tuples, for the hot path of ``rank()``."""
    cached = _quick_cache.get(rulebook.digest)
    if cached is not None:
        return cached
    reach = field_reach(rulebook)
    quick: dict[str, _Quick] = {}
    for field, info in reach.fields.items():
        readers = []
        for rule_id, points, excludes in reach.readers.get(field, ()):
            blin = sum(w for t, w in points if t == "blinatumomab")
            car_t = sum(w for t, w in points if t == "car_t")
            readers.append((rule_id, blin, car_t, excludes))
        quick[field] = (
            info.gain["blinatumomab"],
            info.gain["car_t"],
            info.blocking,
            tuple(info.ineligible),
            tuple(readers),
        )
    with _reach_lock:
        _quick_cache[rulebook.digest] = quick
    return quick
