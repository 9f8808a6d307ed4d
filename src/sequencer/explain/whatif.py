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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sequencer.api import ProfileInput, default_rulebook, effective_profile, recommend
from sequencer.decide.candidates import Value, candidate_values
from sequencer.decide.ranking import rank
from sequencer.engine.reference import ReferenceEngine
from sequencer.errors import ProfileError, UsageError
from sequencer.knowledge.contexts import apply_context
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import (
    Favors,
)
from sequencer.knowledge.vocabulary import (
    effect_words,
    unknown_fields,
)
from sequencer.model.fields import FIELDS, flatten, is_unknown
from sequencer.model.parsing import parse_profile
from sequencer.model.profile import PatientProfile
from sequencer.model.recommendation import Recommendation, RulebookStamp

__all__ = [
    "Change",
    "Outcome",
    "RuleShift",
    "Skipped",
    "WhatIf",
    "candidate_values",
    "outcome",
    "scores_text",
    "vary",
    "what_if",
]

Therapy = str
Choice = str
"""An option's id when one is preferred; else no-preference, neither, not-now or blocked."""
Kind = Literal["flips_preferred", "flips_eligibility", "changes_scores", "no_change"]

KIND_ORDER: dict[str, int] = {
    "flips_preferred": 0,
    "flips_eligibility": 1,
    "changes_scores": 2,
    "no_change": 3,
}
_NO_CHOICE_WORDS: dict[str, str] = {
    "no-preference": "no preference (the options tie)",
    "neither": "neither option eligible",
    "not-now": "no option can be given now (deferred)",
    "blocked": "no choice yet (a blocking fact is missing)",
}
_OUT = ConfigDict(extra="forbid", frozen=True)


class Outcome(BaseModel):
    """A recommendation reduced to what the choice turns on. ``scores`` are in the rule
    base's option order."""

    model_config = _OUT
    choice: Choice
    preferred: Therapy | None
    eligible: list[Therapy]
    scores: dict[str, int]
    close_call: bool


class OptionWords(BaseModel):
    """The rule base's words for its options, so that a what-if read back from JSON can
    be shown as it was made."""

    model_config = _OUT
    names: dict[str, str] = Field(description="option id -> name")
    short: dict[str, str] = Field(description="option id -> short name")


def choice_words(result: Outcome, words: OptionWords) -> str:
    """The outcome's choice in words: ``Blinatumomab preferred``, ``no preference ...``."""
    if result.choice in words.names:
        return f"{words.names[result.choice]} preferred"
    return _NO_CHOICE_WORDS[result.choice]


class RuleShift(BaseModel):
    """A rule that starts (``fires``) or stops firing, and what it does."""

    model_config = _OUT
    rule: str
    title: str
    fires: bool
    decisive: bool = Field(description="it changes a score, an eligibility or blocks the choice")
    effect: str


class Change(BaseModel):
    """One single-fact change and what it does to the recommendation."""

    model_config = _OUT
    field: str
    label: str
    from_value: Value
    to_value: Value
    same_as: list[Value] = Field(
        default=[], description="other values of the field with the same outcome"
    )
    same_as_text: list[str] = Field(default=[], description="those values in words")
    from_text: str
    to_text: str
    was_unknown: bool
    from_context: bool = Field(
        default=False, description="the current value was derived by the regulatory context"
    )
    kind: Kind
    outcome: Outcome
    margin_change: int = Field(
        description="change of the score gap between the rule base's first two options "
        "(blinatumomab - CAR T)"
    )
    rules: list[RuleShift]
    lead: list[str] = Field(
        default=[],
        description="when the choice holds: the rules that keep the preferred option ahead",
    )
    derived: list[str] = Field(
        default=[], description="what the regulatory context would fill in differently"
    )
    text: str


class Skipped(BaseModel):
    """A change not evaluated because it would contradict the rest of the profile."""

    model_config = _OUT
    field: str
    to_value: Value
    reason: str
    label: str = Field(default="", description="the field in words")
    to_text: str = Field(default="", description="the value in words")


class WhatIf(BaseModel):
    """Every single-fact change that matters, ordered by what it does."""

    model_config = _OUT
    format_version: Literal["1"] = Field(
        default="1", description="the interchange format of this output (CHANGELOG.md)"
    )
    patient_id: str
    context: str
    context_title: str
    rulebook: RulebookStamp
    summary: str
    baseline: Outcome
    basis: list[RuleShift] = Field(description="the rules that set the current scores")
    changes: list[Change]
    skipped: list[Skipped]
    notice: str
    options: OptionWords

    def flips(self) -> list[Change]:
        """The changes that flip the preferred option or an option's eligibility."""
        return [c for c in self.changes if c.kind in ("flips_preferred", "flips_eligibility")]

    def for_field(self, field: str) -> list[Change]:
        """The changes of one field, in list order."""
        return [c for c in self.changes if c.field == field]


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


def _words(book: Rulebook) -> OptionWords:
    """The rule base's option words, built once with it."""
    return book.compiled(
        "option-words", lambda b: OptionWords(names=b.option_names, short=b.option_short)
    )


def _index(book: Rulebook) -> Callable[[Any], int]:
    return lambda option: book.option_ids.index(option.therapy)


def _names(book: Rulebook, therapies: Iterable[str]) -> str:
    return " and ".join(book.option_names[t] for t in therapies)


def _shift(book: Rulebook, rule_id: str, fires: bool) -> RuleShift:
    rule = book.rule(rule_id)
    text, decisive = effect_words(book, rule)
    return RuleShift(rule=rule_id, title=rule.title, fires=fires, decisive=decisive, effect=text)


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
    access_derived = raw_facts["access.car_t"] is None
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
    changes = [c.model_copy(update={"text": _text(book, baseline, c)}) for c in found]
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
        options=_words(book),
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


def _points(book: Rulebook, rule_id: str, therapy: str) -> int:
    return sum(
        book.weights[e.strength]
        for e in book.rule(rule_id).then
        if isinstance(e, Favors) and e.favors == therapy
    )


def scores_text(result: Outcome, words: OptionWords) -> str:
    """``Blinatumomab 7, CAR T 5`` (ineligible options marked)."""
    parts = []
    for therapy, score in result.scores.items():
        mark = "" if therapy in result.eligible else " (not eligible)"
        parts.append(f"{words.short.get(therapy, therapy)} {score}{mark}")
    return ", ".join(parts)


def _text(book: Rulebook, base: Outcome, change: Change) -> str:
    """One line: the change, what it does, and the rules behind it."""
    words = _words(book)
    head = f"{change.label}: {change.from_text} → {change.to_text}"
    if change.same_as:
        head += " (same for " + " / ".join(change.same_as_text) + ")"
    new = change.outcome
    narrowed = False
    if change.kind == "flips_preferred":
        what = f"{choice_words(new, words)} instead of {choice_words(base, words)}"
    elif change.kind == "flips_eligibility":
        lost = [t for t in base.eligible if t not in new.eligible]
        gained = [t for t in new.eligible if t not in base.eligible]
        bits = []
        if lost:
            bits.append(f"{_names(book, lost)} not eligible")
        if gained:
            bits.append(f"{_names(book, gained)} eligible again")
        what = "; ".join(bits) + f"; still {choice_words(new, words)}"
    elif change.kind == "changes_scores":
        what = f"still {choice_words(new, words)}"
        if new.preferred is not None and len(new.eligible) == 2:
            other = next(t for t in new.eligible if t != new.preferred)
            before = base.scores[new.preferred] - base.scores[other]
            after = new.scores[new.preferred] - new.scores[other]
            what += f", lead {before} → {after}"
            narrowed = after < before
    else:
        what = "no change to the choice or the scores"
    line = f"{head}: {what}; scores {scores_text(new, words)}."
    moved = [s for s in change.rules if s.decisive] or [
        s for s in change.rules if s.effect.startswith("caution")
    ]
    if moved:
        line += (
            " "
            + "; ".join(f"{s.rule} {'fires' if s.fires else 'stops'} ({s.effect})" for s in moved)
            + "."
        )
    if narrowed and change.lead and new.preferred is not None:
        kept = [f"{r} +{_points(book, r, new.preferred)}" for r in change.lead]
        line += (
            f" Not enough to change the choice: {book.option_names[new.preferred]} keeps "
            + ", ".join(kept)
            + "."
        )
    for note in change.derived:
        line += f" {note}."
    return line
