"""The what-if answer's shape: an outcome (what a recommendation's choice turns on), the
rules that start or stop firing, each single-fact change, the changes skipped, and the
whole ``WhatIf`` (also the JSON that ``sequencer whatif --format json`` prints).

``sequencer.explain.whatif`` computes it; ``sequencer.explain.whatif_words`` says it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sequencer.decide.candidates import Value
from sequencer.model.recommendation import RulebookStamp

__all__ = [
    "KIND_ORDER",
    "Change",
    "Choice",
    "Kind",
    "OptionWords",
    "Outcome",
    "RuleShift",
    "Skipped",
    "Therapy",
    "WhatIf",
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


class RuleShift(BaseModel):
    """A rule that starts (``fires``) or stops firing, and what it does."""

    model_config = _OUT
    rule: str
    title: str
    fires: bool
    decisive: bool = Field(description="it changes a score, an eligibility or blocks the choice")
    effect: str
    effect_words: str = Field(
        default="", description="the effect in words: arguments, facts and therapies named"
    )


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
    words: str = Field(
        default="",
        description="the same line in the board's words: rules by title, no ids or field paths",
    )


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
