"""Turning fired rules into a ranked recommendation: arguments, defeat, deferral.

The method, in full (docs/ranking.md repeats it for clinicians):

1. **Arguments.** A rule that ``argues`` makes a named argument (a clinical
   consideration with a direction: a strength of one option, a weakness of the other,
   or both) at a strength, worth the points ``rulebook.yaml``'s ``scoring`` gives it
   (rising from weak to moderate to strong). **An argument counts once**,
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
   argument ever scores on an unknown (the loader refuses such rules). When no
   option is eligible, only the facts that could change that are listed (the weights
   decide nothing then).

Cautions on an option that is not eligible are left out of ``warnings``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, cast

from sequencer.decide.decision import (
    Decision,
    DecisionKeys,
    Tally,
    decide,
    tally,
)
from sequencer.decide.missing import missing_facts as listed_missing
from sequencer.decide.planning import plan_steps
from sequencer.decide.plans import cached_citations, memo_of, plans_of, remembered, stamp
from sequencer.decide.unknowns import could_flip
from sequencer.knowledge.contexts import ACCESS_FIELD, Context, Derivation
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.vocabulary import lower_label
from sequencer.model.fields import flatten
from sequencer.model.profile import PatientProfile
from sequencer.model.recommendation import (
    AddOnSuggestion,
    Argument,
    Caution,
    ContextDerivation,
    ContextStamp,
    DerivedConcept,
    Option,
    OutsideTherapySuggestion,
    ProductHold,
    ProductStanding,
    Reason,
    Recommendation,
)

__all__ = ["rank"]

Strength = Literal["weak", "moderate", "strong"]


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
    cautions: list[Caution] = []
    missing: dict[str, tuple[str, list[str], bool]] = {}
    option_ids = rulebook.option_ids
    add_ons: dict[str, list[AddOnSuggestion]] = {x: [] for x in option_ids}
    alternatives: dict[str, list[str]] = {}
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
            alternatives.setdefault(alt_id, []).append(rule_id)
        derived.extend(plan.derived)

    facts = flatten(profile) if facts is None else facts
    flips = could_flip(
        rulebook,
        context,
        profile,
        facts,
        fired_set,
        DecisionKeys(rulebook, t, d),
        # access follows the age when the profile did not state it: derived now, or
        # derivable once the age is known
        profile.access.car_t is None or any(x.field == ACCESS_FIELD for x in derivations),
        None if d.blocked else d.gap,
    )
    missing_facts = listed_missing(rulebook, missing, flips)
    if all(d.status[x] == "not_eligible" for x in rulebook.option_ids):
        # no option can be given whatever the weights: a fact that cannot change a
        # standing or the choice cannot change anything, and is not listed
        missing_facts = [m for m in missing_facts if m.could_flip or m.blocking]
    provisional_on = [m.field for m in missing_facts if m.could_change_preferred]
    provisional = d.preferred is not None and bool(provisional_on)

    eligible = {x: d.status[x] != "not_eligible" for x in option_ids}
    warnings = [w for w in cautions if eligible[w.therapy]]
    order = sorted(
        option_ids, key=lambda x: (_ORDER[d.status[x]], -d.score[x], option_ids.index(x))
    )
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
        preferred=d.preferred,
        close_call=d.close_call,
        summary=_summary(rulebook, d, t, order, provisional, provisional_on),
        provisional=provisional,
        provisional_on=provisional_on if provisional else [],
        options=options,
        arguments=arguments,
        reasons=reasons,
        warnings=warnings,
        missing=missing_facts,
        alternatives=[_alternative(rulebook, a, tuple(r)) for a, r in alternatives.items()],
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
                    citations=cached_citations(rulebook, x.citations),
                )
                for x in derivations
            ],
        ),
        rulebook=stamp(rulebook, [rule_id for rule_id, _ in t.rules]),
        notice=rulebook.notice,
        plan=plan_steps(rulebook, d.preferred, facts),
    )


def _arguments(rulebook: Rulebook, t: Tally, d: Decision) -> list[Argument]:
    plans = plans_of(rulebook)
    memo: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Argument] = memo_of(
        rulebook, "arguments"
    )
    out: list[Argument] = []
    for argument_id, (weight, rule_id) in t.best.items():
        by = d.defeated.get(argument_id, ())
        key = (argument_id, rule_id, tuple(t.makers[argument_id]), by)
        known = memo.get(key)
        if known is not None:
            out.append(known)
            continue
        spec = rulebook.arguments[argument_id]
        plan = plans[rule_id]
        if len(memo) >= 4096:
            memo.clear()
        out.append(
            memo.setdefault(
                key,
                Argument.model_construct(
                    id=argument_id,
                    title=spec.title,
                    favors=spec.favors,
                    pro_of=spec.pro_of,
                    con_of=spec.con_of,
                    status="set_aside" if by else "counted",
                    strength=cast(Strength, rulebook.strength_of[weight]),
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
    options = rulebook.option_ids
    out.sort(key=lambda a: (a.status != "counted", -a.weight, options.index(a.favors)))
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
    warnings: Sequence[Caution],
    add_ons: Mapping[str, list[AddOnSuggestion]],
    products: list[ProductStanding],
) -> Option:
    status = d.status[therapy]
    deferrals = t.deferred.get(therapy, [])
    return Option.model_construct(
        therapy=therapy,
        name=rulebook.option_names[therapy],
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
        products=products
        if therapy == rulebook.products_option and status != "not_eligible"
        else [],
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
    covered = tuple(
        i for i, p in enumerate(context.product_access.products) if age is None or p.covers(age)
    )
    key = (
        context.context,
        covered,
        tuple((name, tuple(h.rule for h in found)) for name, found in sorted(holds.items())),
    )
    memo: dict[tuple[object, ...], list[ProductStanding]] = memo_of(rulebook, "products")
    known = memo.get(key)
    if known is not None:
        return known
    built = [
        ProductStanding.model_construct(
            name=product.name,
            trial=product.trial,
            admits=not holds.get(product.name),
            held_back_by=holds.get(product.name, []),
            safety=product.safety.strip() if product.safety is not None else None,
            citations=cached_citations(rulebook, (*product.citations, *product.safety_citations)),
        )
        for product in (context.product_access.products[i] for i in covered)
    ]
    if len(memo) >= 1024:
        memo.clear()
    return memo.setdefault(key, built)


def _weakness_stands(argument: Argument, t: Tally) -> bool:
    """A two-sided argument set aside only because its pro_of therapy failed: the failure
    voids the strength, not the other option's weakness, which is still shown on it."""
    if argument.status != "set_aside" or argument.pro_of is None:
        return False
    failures = set(t.failed.get(argument.pro_of, ()))
    return bool(failures) and {s.rule for s in argument.set_aside_by} <= failures


def _alternative(
    rulebook: Rulebook, alt_id: str, rules: tuple[str, ...]
) -> OutsideTherapySuggestion:
    """The suggestion ``alt_id`` offered by ``rules`` (in rule-base order), built once per
    rule base and shared by every recommendation that offers it for those rules."""
    alt = rulebook.alternatives[alt_id]
    return remembered(
        rulebook,
        "alternatives",
        (alt_id, rules),
        lambda: OutsideTherapySuggestion.model_construct(
            id=alt_id,
            name=alt.name,
            target=alt.target,
            text=alt.description.strip(),
            rules=list(rules),
            why=list(dict.fromkeys(rulebook.rule(r).title for r in rules)),
            citations=cached_citations(rulebook, alt.citations),
        ),
        4096,
    )


def _summary(
    rulebook: Rulebook,
    d: Decision,
    t: Tally,
    order: Sequence[str],
    provisional: bool,
    provisional_on: Sequence[str],
) -> str:
    text = _headline(rulebook, d, t, order)
    notes = []
    for therapy in order:
        if d.status[therapy] == "deferred":
            until = "; ".join(dict.fromkeys(u for _, u in t.deferred[therapy]))
            name = rulebook.option_names[therapy]
            notes.append(f"{name} deferred until {until.rstrip('.')}.")
    if provisional:
        names = ", ".join(lower_label(rulebook.vocabulary.label(f)) for f in provisional_on)
        notes.append(f"Provisional: it could change with {names}, not yet known.")
    return " ".join([text, *notes])


def _headline(rulebook: Rulebook, d: Decision, t: Tally, order: Sequence[str]) -> str:
    names = rulebook.option_names
    kind = rulebook.option_kind
    available = [x for x in order if d.status[x] in ("preferred", "alternative")]
    if d.blocked:
        return (
            "No choice yet: first establish "
            + ", ".join(rulebook.vocabulary.label(b) for b in t.blocking)
            + " (the options are ranked below only to show what would weigh)."
        )
    if d.tie:
        return (
            f"No preference: {_both(order)} options weigh {d.score[order[0]]} and the rules do not "
            "separate them; the board must weigh the arguments and the missing facts."
        )
    if d.preferred is None:
        if available:
            return (
                f"No {kind} option is a good choice now ("
                + ", ".join(f"{names[x]}: failed before" for x in available)
                + "); see the alternatives."
            )
        if any(d.status[x] == "deferred" for x in order):
            return f"No {kind} option can be given now; see what lifts the deferral."
        none = "Neither" if len(order) == 2 else "No"
        return f"{none} {kind} option can be given now; see the alternatives."
    preferred = d.preferred
    other = next(x for x in order if x != preferred)  # the runner-up: order is by rank
    if d.status[other] != "alternative" or other in t.failed:
        why = {
            "not_eligible": "not eligible",
            "deferred": "deferred",
            "alternative": "failed before",
        }[d.status[other]]
        # the only option that can be given now is what is left, not a preference
        return (
            f"{names[preferred]} is the only option now (weight of arguments "
            f"{d.score[preferred]}); {names[other]}: {why}."
        )
    lead = "Close call, leaning to" if d.close_call else "Prefer"
    return (
        f"{lead} {names[preferred]}: weight of arguments {d.score[preferred]} "
        f"vs {d.score[other]} for {names[other]}."
    )


def _both(order: Sequence[str]) -> str:
    """``both`` for two options, else ``the top``."""
    return "both" if len(order) == 2 else "the top"
