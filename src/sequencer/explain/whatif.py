"""Decision sensitivity: which single change of fact would change the recommendation.

``what_if(profile)`` changes one fact at a time and re-ranks:

* every categorical field (enumerations, true/false) to each of its other known values;
* every numeric field to the values just either side of each threshold the compiled
  rule conditions compare it with (and, for the age when the regulatory context
  derives CAR T-cell access from it, either side of the context's label ages);
* every list field (ABL1 mutations) to none found, and with or without each mutation a
  rule names;
* every **unknown** field to each of those values, reporting what each would do,
  nothing included (except for unknowns the known facts make moot, such as the MRD
  level in overt relapse, which are reported only if some value would matter).

The baseline is ``recommend()`` itself; the variants are evaluated by the plain-Python
reference evaluator (``sequencer.engine.reference``, checked rule for rule against the engine)
and ranked by the same ``rank()``, so each item is what ``recommend()`` would answer for
the changed profile. A change that would contradict the rest of the profile (months
since transplant without a transplant, say) is not evaluated; it is listed in
``skipped`` with the reason.

Items are ordered by what matters: changes of the preferred option first, then changes
of an option's eligibility, then changes of the scores, then (for unknown facts only)
values that change nothing. Within each group the larger swing of the score margin
comes first. Values of one field with the same outcome are merged into one item
(``same_as``). Each item names the rules whose firing changed.

The answer's shape is ``sequencer.explain.whatif_model``; its words (each item's line)
are ``sequencer.explain.whatif_words``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sequencer.api import ProfileInput, default_rulebook, effective_profile, recommend
from sequencer.decide.candidates import Value, candidate_values
from sequencer.decide.ranking import rank
from sequencer.engine.reference import ReferenceEngine
from sequencer.errors import ProfileError, UsageError
from sequencer.explain.whatif_model import (
    KIND_ORDER,
    Change,
    Choice,
    Kind,
    Outcome,
    RuleShift,
    Skipped,
    Therapy,
    WhatIf,
)
from sequencer.explain.whatif_words import change_text, option_words
from sequencer.knowledge.contexts import ACCESS_FIELD, apply_context
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.vocabulary import (
    effect_words,
    unknown_fields,
)
from sequencer.model.fields import FIELDS, flatten, is_unknown
from sequencer.model.parsing import parse_profile
from sequencer.model.profile import PatientProfile
from sequencer.model.recommendation import Recommendation

__all__ = [
    "candidate_values",
    "outcome",
    "vary",
    "what_if",
]

# --- outcomes and rule shifts -------------------------------------------------------


def outcome(rec: Recommendation, book: Rulebook) -> Outcome:
    """Return what a recommendation's choice turns on."""
    eligible: list[Therapy] = [o.therapy for o in rec.options if o.status != "not_eligible"]
    available = [o for o in rec.options if o.status in ("preferred", "alternative")]
    if rec.preferred is not None:
        choice: Choice = rec.preferred
    elif not eligible:
        choice = "neither"
    elif not available:
        choice = "not-now"
    elif any(m.blocking for m in rec.missing):
        choice = "blocked"
    else:
        choice = "no-preference"
    return Outcome(
        choice=choice,
        preferred=rec.preferred,
        eligible=sorted(eligible, key=book.option_ids.index),
        scores={o.therapy: o.score for o in sorted(rec.options, key=_index(book))},
        close_call=rec.close_call,
    )


def _index(book: Rulebook) -> Callable[[Any], int]:
    return lambda option: book.option_ids.index(option.therapy)


def _shift(book: Rulebook, rule_id: str, fires: bool) -> RuleShift:
    rule = book.rule(rule_id)
    text, decisive = effect_words(book, rule)
    words, _ = effect_words(book, rule, plain=True)
    return RuleShift(
        rule=rule_id,
        title=rule.title,
        fires=fires,
        decisive=decisive,
        effect=text,
        effect_words=words,
    )


def _shifts(book: Rulebook, before: frozenset[str], after: frozenset[str]) -> list[RuleShift]:
    order = {rule.id: i for i, rule in enumerate(book.active)}
    shifts = [_shift(book, r, True) for r in after - before]
    shifts += [_shift(book, r, False) for r in before - after]
    return sorted(shifts, key=lambda s: (not s.decisive, not s.fires, order[s.rule]))


# --- candidate values ----------------------------------------------------------------


def vary(profile: PatientProfile, field: str, value: Value) -> PatientProfile:
    """Return ``profile`` with one dotted field set to ``value``, validated.

    Raises ``ProfileError`` when the change would make the profile invalid or
    contradictory.
    """
    data = profile.model_dump()
    *parents, leaf = field.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[leaf] = list(value) if isinstance(value, list | tuple) else value
    return parse_profile(data)


# --- the analysis ---------------------------------------------------------------------


def _engine(book: Rulebook) -> ReferenceEngine:
    """The plain-Python evaluator of a rule base, built once with it."""
    return book.compiled("reference-engine", ReferenceEngine)


def _json_value(value: Any) -> Value:
    if isinstance(value, tuple):
        return list(value)
    return value  # type: ignore[no-any-return]


def what_if(
    profile: ProfileInput,
    *,
    context: str | None = None,
    rulebook: Rulebook | None = None,
    base: Recommendation | None = None,
) -> WhatIf:
    """Return every single-fact change that matters for ``profile``, ordered by effect.

    ``profile`` is anything ``recommend()`` accepts; ``context`` and ``rulebook`` as
    there. ``base`` is the profile's recommendation when the caller already has it (it
    is not made again). Raises ``ProfileError`` for an invalid profile,
    ``UnknownContextError`` for an unknown context, and ``UsageError`` for a ``base``
    made for another patient, context or rule base.
    """
    book = rulebook or default_rulebook()
    raw = parse_profile(profile)
    effective, ctx, derivations = effective_profile(raw, rulebook=book, context=context)
    if base is None:
        base_rec = recommend(raw, rulebook=book, context=context)
    elif (base.patient_id, base.context.name, base.rulebook.digest) != (
        raw.id,
        ctx.context,
        book.digest,
    ):
        raise UsageError("base: a recommendation for another patient, context or rule base")
    else:
        base_rec = base
    engine = _engine(book)
    base_facts = flatten(effective)
    base_fired = engine.fired(base_facts, ctx.context)
    baseline = outcome(base_rec, book)
    base_derived = {d.field: d.value for d in derivations}
    raw_facts = flatten(raw)
    voc = book.vocabulary
    moot = set(unknown_fields(effective)) - set(voc.relevant_unknowns(effective))

    found: list[Change] = []
    skipped: list[Skipped] = []
    access_derived = raw_facts[ACCESS_FIELD] is None
    for field in FIELDS:
        current = base_facts[field]
        was_unknown = is_unknown(field, current)
        groups: dict[tuple[Any, ...], Change] = {}
        for value in candidate_values(book, field, current, ctx, access_derived):
            try:
                changed = vary(raw, field, value)
            except ProfileError as error:
                if field not in moot:  # moot fields contradict by design; say nothing
                    reason = "; ".join(str(p) for p in error.problems)
                    skipped.append(
                        Skipped(
                            field=field,
                            to_value=value,
                            reason=reason,
                            label=voc.label(field),
                            to_text=voc.value_text(field, value),
                        )
                    )
                continue
            variant, derived_now = apply_context(ctx, changed)
            fired = engine.fired(flatten(variant), ctx.context)
            rec = rank(book, variant, fired, context=ctx, derivations=derived_now)
            result = outcome(rec, book)
            kind = _kind(baseline, result)
            if kind == "no_change" and (not was_unknown or field in moot):
                continue
            shifts = _shifts(book, base_fired, fired)
            key: tuple[Any, ...] = (
                (kind,)
                if kind == "no_change"
                else (
                    kind,
                    result.model_dump_json(),
                    tuple((s.rule, s.fires) for s in shifts if s.decisive),
                )
            )
            if key in groups:
                first = groups[key]
                groups[key] = first.model_copy(
                    update={
                        "same_as": [*first.same_as, value],
                        "same_as_text": [*first.same_as_text, voc.value_text(field, value)],
                    }
                )
                continue
            derived_text = [
                f"{voc.label(d.field)} would be {voc.value_text(d.field, d.value)} "
                f"(context {ctx.context})"
                for d in derived_now
                if base_derived.get(d.field) != d.value
            ]
            groups[key] = Change(
                field=field,
                label=voc.label(field),
                from_value=_json_value(current),
                to_value=value,
                from_text=voc.value_text(field, current),
                to_text=voc.value_text(field, value),
                was_unknown=was_unknown,
                from_context=field in base_derived,
                kind=kind,
                outcome=result,
                margin_change=_margin(result) - _margin(baseline),
                rules=shifts,
                lead=_lead(rec) if kind == "changes_scores" else [],
                derived=derived_text,
                text="",
            )
        found.extend(groups.values())

    field_order = {f: i for i, f in enumerate(FIELDS)}
    found.sort(key=lambda c: (KIND_ORDER[c.kind], -_toward(baseline, c), field_order[c.field]))
    changes = [
        c.model_copy(
            update={
                "text": change_text(book, baseline, c),
                "words": change_text(book, baseline, c, plain=True),
            }
        )
        for c in found
    ]
    return WhatIf(
        patient_id=raw.id,
        context=ctx.context,
        context_title=ctx.title,
        rulebook=base_rec.rulebook,
        summary=base_rec.summary,
        baseline=baseline,
        basis=[
            _shift(book, rule_id, True)
            for rule_id in dict.fromkeys(
                r.rule for r in base_rec.reasons if r.effect in ("favors", "not_eligible")
            )
        ],
        changes=changes,
        skipped=skipped,
        options=option_words(book),
        notice=base_rec.notice,
    )


def _kind(base: Outcome, new: Outcome) -> Kind:
    if new.choice != base.choice:
        return "flips_preferred"
    if new.eligible != base.eligible:
        return "flips_eligibility"
    # only the scores of options that can be given matter
    if new.close_call != base.close_call or any(
        new.scores[t] != base.scores[t] for t in new.eligible
    ):
        return "changes_scores"
    return "no_change"


def _toward(base: Outcome, change: Change) -> int:
    """How far a change moves the scores toward the other option (any way if none leads)."""
    if change.kind == "no_change":
        return 0
    if base.preferred is None:
        return abs(change.margin_change)
    sign = 1 if base.preferred == next(iter(base.scores)) else -1
    return -sign * change.margin_change


def _margin(result: Outcome) -> int:
    """The score of the rule base's first option minus that of its second."""
    first, second = list(result.scores.values())[:2]
    return first - second


def _lead(rec: Recommendation) -> list[str]:
    if rec.preferred is None:
        return []
    return list(
        dict.fromkeys(
            r.rule
            for r in rec.reasons
            if r.therapy == rec.preferred and r.effect == "favors" and r.status == "counted"
        )
    )
