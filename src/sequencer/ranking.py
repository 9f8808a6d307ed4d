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
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

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

__all__ = ["CLOSE_CALL_MARGIN", "WEIGHTS", "rank"]

WEIGHTS: dict[str, int] = {"weak": 1, "moderate": 2, "strong": 3}
CLOSE_CALL_MARGIN = 1


def _citations(rulebook: Rulebook, keys: Iterable[str]) -> list[Citation]:
    out = []
    for key in keys:
        source = rulebook.sources[key]
        out.append(Citation(key=key, label=source.label(), doi=source.doi, pmid=source.pmid))
    return out


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
_plans_cache: dict[str, tuple[tuple[str, _Plan], ...]] = {}


def _plans(rulebook: Rulebook) -> tuple[tuple[str, _Plan], ...]:
    """Return (rule id, plan) for every active rule, in rule base order (cached by digest)."""
    cached = _plans_cache.get(rulebook.digest)
    if cached is not None:
        return cached
    with _plans_lock:
        built = tuple((rule.id, _plan(rulebook, rule)) for rule in rulebook.active)
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
    missing: dict[str, MissingFact] = {}
    add_ons: dict[str, list[AddOnSuggestion]] = {t: [] for t in THERAPIES}
    alternatives: dict[str, AlternativeSuggestion] = {}
    derived: list[DerivedConcept] = []

    for rule_id, plan in _plans(rulebook):
        if rule_id not in fired_set:
            continue
        for therapy, weight in plan.favors:
            score[therapy] += weight
        for therapy in plan.not_eligible:
            eligible[therapy] = False
        reasons.extend(plan.reasons)
        cautions.extend(plan.cautions)
        for field, text, blocking in plan.missing:
            known = missing.get(field)
            if known is None:
                missing[field] = MissingFact(
                    field=field, text=text, rules=[rule_id], blocking=blocking
                )
            else:
                missing[field] = known.model_copy(
                    update={
                        "rules": [*known.rules, rule_id],
                        "blocking": known.blocking or blocking,
                    }
                )
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
    tie = gap == 0
    blocked_by = [m.field for m in missing.values() if m.blocking]
    preferred = eligible_order[0] if eligible_order and not tie and not blocked_by else None
    close_call = gap is not None and gap <= CLOSE_CALL_MARGIN and not blocked_by

    options = []
    for therapy in order:
        status = (
            "not_eligible"
            if not eligible[therapy]
            else "preferred"
            if therapy == preferred
            else "alternative"
        )
        options.append(
            Option(
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
    return Recommendation(
        patient_id=profile.id,
        preferred=preferred,
        close_call=close_call,
        summary=_summary(preferred, close_call, order, score, eligible, tie, blocked_by),
        options=options,
        reasons=reasons,
        warnings=warnings,
        missing=list(missing.values()),
        alternatives=list(alternatives.values()),
        derived=derived,
        context=ContextStamp(
            name=context.context,
            title=context.title,
            as_of=context.as_of,
            derived=[
                ContextDerivation(
                    field=d.field,
                    value=d.value,
                    text=d.text,
                    citations=_citations(rulebook, d.citations),
                )
                for d in derivations
            ],
        ),
        rulebook=RulebookStamp(
            name=rulebook.name, version=rulebook.version, digest=rulebook.digest
        ),
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
    found[alt_id] = AlternativeSuggestion(
        id=alt_id,
        name=alt.name,
        target=alt.target,
        text=alt.description.strip(),
        rules=[rule_id],
        citations=_citations(rulebook, alt.citations),
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
