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
reference evaluator (``sequencer.reference``, checked rule for rule against the engine)
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

import math
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sequencer.api import ProfileInput, default_rulebook, effective_profile, recommend
from sequencer.conditions import AllOf, AnyOf, Compare, Node
from sequencer.contexts import Context, apply_context
from sequencer.describe import label, relevant_unknowns, unknown_fields, value_text
from sequencer.errors import ProfileError
from sequencer.profile import FIELDS, PatientProfile, flatten, parse_profile
from sequencer.ranking import WEIGHTS, rank
from sequencer.recommendation import THERAPY_NAMES, Recommendation, RulebookStamp
from sequencer.reference import ReferenceEngine
from sequencer.rulebook import (
    THERAPIES,
    AddOn,
    Caution,
    Favors,
    Missing,
    NotEligible,
    Rule,
    Rulebook,
    SuggestAlternative,
)

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

Therapy = Literal["blinatumomab", "car_t"]
Choice = Literal["blinatumomab", "car_t", "no-preference", "neither", "blocked"]
Kind = Literal["flips_preferred", "flips_eligibility", "changes_scores", "no_change"]
Value = bool | int | float | str | list[str] | None

KIND_ORDER: dict[str, int] = {
    "flips_preferred": 0,
    "flips_eligibility": 1,
    "changes_scores": 2,
    "no_change": 3,
}
CHOICE_WORDS: dict[str, str] = {
    "blinatumomab": "Blinatumomab preferred",
    "car_t": "CD19 CAR T cells preferred",
    "no-preference": "no preference (the options tie)",
    "neither": "neither option eligible",
    "blocked": "no choice yet (a blocking fact is missing)",
}
_SHORT = {"blinatumomab": "Blinatumomab", "car_t": "CAR T"}
_OUT = ConfigDict(extra="forbid", frozen=True)


class Outcome(BaseModel):
    """A recommendation reduced to what the choice turns on."""

    model_config = _OUT
    choice: Choice
    preferred: Therapy | None
    eligible: list[Therapy]
    scores: dict[str, int]
    close_call: bool


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
    from_text: str
    to_text: str
    was_unknown: bool
    from_context: bool = Field(
        default=False, description="the current value was derived by the regulatory context"
    )
    kind: Kind
    outcome: Outcome
    margin_change: int = Field(description="change of (blinatumomab - CAR T) score")
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


class WhatIf(BaseModel):
    """Every single-fact change that matters, ordered by what it does."""

    model_config = _OUT
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

    def flips(self) -> list[Change]:
        """The changes that flip the preferred option or an option's eligibility."""
        return [c for c in self.changes if c.kind in ("flips_preferred", "flips_eligibility")]

    def for_field(self, field: str) -> list[Change]:
        """The changes of one field, in list order."""
        return [c for c in self.changes if c.field == field]


# --- outcomes and rule shifts -------------------------------------------------------


def outcome(rec: Recommendation) -> Outcome:
    """Return what a recommendation's choice turns on."""
    eligible: list[Therapy] = [o.therapy for o in rec.options if o.status != "not_eligible"]
    if rec.preferred is not None:
        choice: Choice = rec.preferred
    elif not eligible:
        choice = "neither"
    elif any(m.blocking for m in rec.missing):
        choice = "blocked"
    else:
        choice = "no-preference"
    return Outcome(
        choice=choice,
        preferred=rec.preferred,
        eligible=sorted(eligible, key=THERAPIES.index),
        scores={o.therapy: o.score for o in sorted(rec.options, key=_therapy_index)},
        close_call=rec.close_call,
    )


def _therapy_index(option: Any) -> int:
    return THERAPIES.index(option.therapy)


def _names(therapies: Iterable[str]) -> str:
    return " and ".join(THERAPY_NAMES[t] for t in therapies)


def _effect_text(rule: Rule) -> tuple[str, bool]:
    parts: list[str] = []
    decisive = False
    for effect in rule.then:
        if isinstance(effect, Favors):
            parts.append(f"{THERAPY_NAMES[effect.favors]} +{WEIGHTS[effect.strength]}")
            decisive = True
        elif isinstance(effect, NotEligible):
            parts.append(f"{_names(effect.not_eligible)} not eligible")
            decisive = True
        elif isinstance(effect, Missing):
            if effect.blocking:
                parts.append(f"blocks the choice until {effect.missing} is known")
                decisive = True
            else:
                parts.append(f"asks for {effect.missing}")
        elif isinstance(effect, Caution):
            parts.append(f"caution on {_names(effect.caution)}")
        elif isinstance(effect, AddOn):
            parts.append(f"add-on: {effect.name}")
        elif isinstance(effect, SuggestAlternative):
            parts.append(f"suggests {effect.alternative}")
    return "; ".join(parts) or "derives a concept", decisive


def _shift(book: Rulebook, rule_id: str, fires: bool) -> RuleShift:
    rule = book.rule(rule_id)
    text, decisive = _effect_text(rule)
    return RuleShift(rule=rule_id, title=rule.title, fires=fires, decisive=decisive, effect=text)


def _shifts(book: Rulebook, before: frozenset[str], after: frozenset[str]) -> list[RuleShift]:
    order = {rule.id: i for i, rule in enumerate(book.active)}
    shifts = [_shift(book, r, True) for r in after - before]
    shifts += [_shift(book, r, False) for r in before - after]
    return sorted(shifts, key=lambda s: (not s.decisive, not s.fires, order[s.rule]))


# --- candidate values ----------------------------------------------------------------


def _compares(node: Node, field: str) -> Iterable[Compare]:
    if isinstance(node, AllOf | AnyOf):
        for item in node.items:
            yield from _compares(item, field)
    elif node.field == field:
        yield node


@cache
def _numeric_bounds() -> dict[str, tuple[float, float, bool]]:
    """field -> (minimum, maximum, integer) from the profile's JSON Schema."""
    schema = PatientProfile.model_json_schema()
    defs = schema.get("$defs", {})
    out: dict[str, tuple[float, float, bool]] = {}

    def walk(properties: Mapping[str, Any], prefix: str) -> None:
        for name, prop in properties.items():
            ref = prop.get("$ref")
            if ref:
                walk(defs[ref.split("/")[-1]]["properties"], f"{prefix}{name}.")
                continue
            for option in prop.get("anyOf", [prop]):
                if option.get("type") in ("number", "integer"):
                    out[f"{prefix}{name}"] = (
                        float(option.get("minimum", -math.inf)),
                        float(option.get("maximum", math.inf)),
                        option["type"] == "integer",
                    )

    walk(schema["properties"], "")
    return out


def _step(threshold: float, integer: bool) -> float:
    if integer:
        return 1
    if threshold == 0:
        return 0.1
    return float(10 ** (math.floor(math.log10(abs(threshold))) - 1))


def _tidy(value: float, integer: bool) -> int | float:
    if integer:
        return round(value)
    rounded = round(value, 10)
    return int(rounded) if rounded == int(rounded) and abs(rounded) < 1e15 else rounded


def _numeric_candidates(
    book: Rulebook, field: str, context: Context, access_derived: bool
) -> list[int | float]:
    low, high, integer = _numeric_bounds()[field]
    edges: list[tuple[float, str]] = []
    for rule in book.active:
        for node in _compares(rule.condition.profile, field):
            if node.op in ("lt", "ge", "le", "gt", "eq", "ne"):
                edges.append((float(node.value), node.op))
            elif node.op in ("in", "not_in"):
                edges.extend((float(v), "eq") for v in node.value)
    if field == "age" and access_derived:
        for product in context.car_t.products:
            if product.min_age > low:
                edges.append((float(product.min_age), "ge"))
            if product.max_age is not None:
                edges.append((float(product.max_age), "le"))
    values: set[int | float] = set()
    for threshold, op in edges:
        step = _step(threshold, integer)
        if op in ("lt", "ge"):
            near = [threshold - step, threshold]
        elif op in ("le", "gt"):
            near = [threshold, threshold + step]
        else:
            near = [threshold - step, threshold, threshold + step]
        values.update(_tidy(v, integer) for v in near if low <= v <= high)
    return sorted(values)


def _list_candidates(book: Rulebook, field: str, current: Sequence[str] | None) -> list[Value]:
    tokens: list[str] = []
    for rule in book.active:
        for node in _compares(rule.condition.profile, field):
            if node.op in ("contains", "not_contains") and node.value not in tokens:
                tokens.append(node.value)
    if current is None:
        return [[], *([t] for t in tokens)]
    out: list[Value] = [[]] if current else []
    have = list(current)
    for token in tokens:
        if token in {t.upper() for t in have}:
            out.append([t for t in have if t.upper() != token])
        else:
            out.append([*have, token])
    return out


def candidate_values(
    book: Rulebook, field: str, current: Any, context: Context, access_derived: bool = False
) -> list[Value]:
    """Return the values ``what_if`` tries for ``field`` (the current one excluded).

    Thresholds come from the compiled rule conditions (and, for the age, from the
    context's label ages when access is derived), never from constants here.
    """
    spec = FIELDS[field]
    if spec.kind == "boolean":
        values: list[Value] = [True, False]
    elif spec.kind == "enum":
        values = [v for v in spec.values if v != spec.unknown_value]
    elif spec.kind == "number":
        values = list(_numeric_candidates(book, field, context, access_derived))
        if current is not None:
            values.sort(key=lambda v: (abs(float(v) - float(current)), v))  # type: ignore[arg-type]
    else:
        listed = list(current) if isinstance(current, list | tuple) else None
        values = _list_candidates(book, field, listed)
    if isinstance(current, tuple):
        current = list(current)
    return [v for v in values if v != current]


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


_engines: dict[str, ReferenceEngine] = {}


def _engine(book: Rulebook) -> ReferenceEngine:
    """The plain-Python evaluator for a rule base (one per digest: same digest, same rules)."""
    engine = _engines.get(book.digest)
    if engine is None:
        engine = _engines[book.digest] = ReferenceEngine(book)
    return engine


def _is_unknown(field: str, value: Any) -> bool:
    spec = FIELDS[field]
    return value is None or (spec.unknown_value is not None and value == spec.unknown_value)


def _json_value(value: Any) -> Value:
    if isinstance(value, tuple):
        return list(value)
    return value  # type: ignore[no-any-return]


def what_if(
    profile: ProfileInput, *, context: str | None = None, rulebook: Rulebook | None = None
) -> WhatIf:
    """Return every single-fact change that matters for ``profile``, ordered by effect.

    ``profile`` is anything ``recommend()`` accepts; ``context`` and ``rulebook`` as
    there. Raises ``ProfileError`` for an invalid profile and ``SequencerError`` for an
    unknown context.
    """
    book = rulebook or default_rulebook()
    raw = parse_profile(profile)
    base_rec = recommend(raw, rulebook=book, context=context)
    effective, ctx, derivations = effective_profile(raw, rulebook=book, context=context)
    engine = _engine(book)
    base_facts = flatten(effective)
    base_fired = engine.fired(base_facts)
    base = outcome(base_rec)
    base_derived = {d.field: d.value for d in derivations}
    raw_facts = flatten(raw)
    moot = set(unknown_fields(effective)) - set(relevant_unknowns(effective))

    found: list[Change] = []
    skipped: list[Skipped] = []
    access_derived = raw_facts["access.car_t"] is None
    for field in FIELDS:
        current = base_facts[field]
        was_unknown = _is_unknown(field, current)
        groups: dict[tuple[Any, ...], Change] = {}
        for value in candidate_values(book, field, current, ctx, access_derived):
            try:
                changed = vary(raw, field, value)
            except ProfileError as error:
                if field not in moot:  # moot fields contradict by design; say nothing
                    reason = "; ".join(str(p) for p in error.problems)
                    skipped.append(Skipped(field=field, to_value=value, reason=reason))
                continue
            variant, derived_now = apply_context(ctx, changed)
            fired = engine.fired(flatten(variant))
            rec = rank(book, variant, fired, context=ctx, derivations=derived_now)
            result = outcome(rec)
            kind = _kind(base, result)
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
                groups[key] = first.model_copy(update={"same_as": [*first.same_as, value]})
                continue
            derived_text = [
                f"{label(d.field)} would be {value_text(d.field, d.value)} (context {ctx.context})"
                for d in derived_now
                if base_derived.get(d.field) != d.value
            ]
            groups[key] = Change(
                field=field,
                label=label(field),
                from_value=_json_value(current),
                to_value=value,
                from_text=value_text(field, current),
                to_text=value_text(field, value),
                was_unknown=was_unknown,
                from_context=field in base_derived,
                kind=kind,
                outcome=result,
                margin_change=_margin(result) - _margin(base),
                rules=shifts,
                lead=_lead(rec) if kind == "changes_scores" else [],
                derived=derived_text,
                text="",
            )
        found.extend(groups.values())

    field_order = {f: i for i, f in enumerate(FIELDS)}
    found.sort(key=lambda c: (KIND_ORDER[c.kind], -_toward(base, c), field_order[c.field]))
    changes = [c.model_copy(update={"text": _text(book, base, c)}) for c in found]
    return WhatIf(
        patient_id=raw.id,
        context=ctx.context,
        context_title=ctx.title,
        rulebook=base_rec.rulebook,
        summary=base_rec.summary,
        baseline=base,
        basis=[
            _shift(book, rule_id, True)
            for rule_id in dict.fromkeys(
                r.rule for r in base_rec.reasons if r.effect in ("favors", "not_eligible")
            )
        ],
        changes=changes,
        skipped=skipped,
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
    sign = 1 if base.preferred == "blinatumomab" else -1
    return -sign * change.margin_change


def _margin(result: Outcome) -> int:
    return result.scores["blinatumomab"] - result.scores["car_t"]


def _lead(rec: Recommendation) -> list[str]:
    if rec.preferred is None:
        return []
    return list(
        dict.fromkeys(
            r.rule for r in rec.reasons if r.therapy == rec.preferred and r.effect == "favors"
        )
    )


def _points(book: Rulebook, rule_id: str, therapy: str) -> int:
    return sum(
        WEIGHTS[e.strength]
        for e in book.rule(rule_id).then
        if isinstance(e, Favors) and e.favors == therapy
    )


def scores_text(result: Outcome) -> str:
    """``Blinatumomab 7, CAR T 5`` (ineligible options marked)."""
    parts = []
    for therapy in THERAPIES:
        mark = "" if therapy in result.eligible else " (not eligible)"
        parts.append(f"{_SHORT[therapy]} {result.scores[therapy]}{mark}")
    return ", ".join(parts)


def _text(book: Rulebook, base: Outcome, change: Change) -> str:
    """One line: the change, what it does, and the rules behind it."""
    head = f"{change.label}: {change.from_text} → {change.to_text}"
    if change.same_as:
        head += " (same for " + " / ".join(value_text(change.field, v) for v in change.same_as)
        head += ")"
    new = change.outcome
    narrowed = False
    if change.kind == "flips_preferred":
        what = f"{CHOICE_WORDS[new.choice]} instead of {CHOICE_WORDS[base.choice]}"
    elif change.kind == "flips_eligibility":
        lost = [t for t in base.eligible if t not in new.eligible]
        gained = [t for t in new.eligible if t not in base.eligible]
        bits = []
        if lost:
            bits.append(f"{_names(lost)} not eligible")
        if gained:
            bits.append(f"{_names(gained)} eligible again")
        what = "; ".join(bits) + f"; still {CHOICE_WORDS[new.choice]}"
    elif change.kind == "changes_scores":
        what = f"still {CHOICE_WORDS[new.choice]}"
        if new.preferred is not None and len(new.eligible) == 2:
            other = next(t for t in THERAPIES if t != new.preferred)
            before = base.scores[new.preferred] - base.scores[other]
            after = new.scores[new.preferred] - new.scores[other]
            what += f", lead {before} → {after}"
            narrowed = after < before
    else:
        what = "no change to the choice or the scores"
    line = f"{head}: {what}; scores {scores_text(new)}."
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
            f" Not enough to change the choice: {THERAPY_NAMES[new.preferred]} keeps "
            + ", ".join(kept)
            + "."
        )
    for note in change.derived:
        line += f" {note}."
    return line
