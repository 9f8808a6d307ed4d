"""The output: a ranked, cited ``Recommendation`` (pydantic, frozen, strict).

``Recommendation.model_dump(mode="json")`` is exactly what ``sequencer recommend
--format json`` prints. The shape is a contract; fields may be added, never renamed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "THERAPY_NAMES",
    "AddOnSuggestion",
    "AlternativeSuggestion",
    "Citation",
    "ContextDerivation",
    "ContextStamp",
    "DerivedConcept",
    "MissingFact",
    "Option",
    "Reason",
    "Recommendation",
    "RulebookStamp",
    "Warning",
]

Therapy = Literal["blinatumomab", "car_t"]
THERAPY_NAMES: dict[str, str] = {"blinatumomab": "Blinatumomab", "car_t": "CD19 CAR T cells"}

_OUT = ConfigDict(extra="forbid", frozen=True)


class Citation(BaseModel):
    """A resolved bibliography entry."""

    model_config = _OUT
    key: str
    label: str
    doi: str | None = None
    pmid: str | None = None


class Reason(BaseModel):
    """Why an option's score or eligibility changed: one rule, one therapy."""

    model_config = _OUT
    rule: str
    therapy: Therapy
    effect: Literal["favors", "not_eligible"]
    strength: Literal["weak", "moderate", "strong"] | None = None
    weight: int = Field(description="points added to the therapy's score (0 for not_eligible)")
    title: str
    text: str = Field(min_length=1)
    evidence: str
    consideration: str
    citations: list[Citation] = Field(min_length=1)


class Warning(BaseModel):
    """A caution attached to an eligible option; does not change its score."""

    model_config = _OUT
    rule: str
    therapy: Therapy
    effect: Literal["caution"] = "caution"
    title: str
    text: str = Field(min_length=1)
    evidence: str
    consideration: str
    citations: list[Citation] = Field(min_length=1)


class MissingFact(BaseModel):
    """A profile field that is unknown but matters to this decision."""

    model_config = _OUT
    field: str
    text: str = Field(min_length=1)
    rules: list[str] = Field(min_length=1)
    blocking: bool = Field(
        default=False, description="no option is preferred until this fact is known"
    )
    could_flip: bool = Field(
        default=False,
        description="some value of this fact could change the preferred option or an "
        "option's eligibility (the list is ordered by this)",
    )


class AddOnSuggestion(BaseModel):
    """Something to give together with an option."""

    model_config = _OUT
    id: str
    name: str
    rule: str
    text: str
    citations: list[Citation] = Field(min_length=1)


class AlternativeSuggestion(BaseModel):
    """A therapy outside the two CD19-directed options."""

    model_config = _OUT
    id: str
    name: str
    target: str | None
    text: str
    rules: list[str] = Field(min_length=1)
    citations: list[Citation] = Field(min_length=1)


class Option(BaseModel):
    """One CD19-directed option as ranked for this patient."""

    model_config = _OUT
    therapy: Therapy
    name: str
    status: Literal["preferred", "alternative", "not_eligible"]
    score: int
    add_ons: list[AddOnSuggestion] = []
    reasons: list[str] = Field(description="ids of the rules that changed this option's standing")
    warnings: list[str] = Field(default=[], description="ids of the rules that caution it")


class DerivedConcept(BaseModel):
    """A clinical concept a rule derived on the way (e.g. high-marrow-burden)."""

    model_config = _OUT
    concept: str
    rule: str


class ContextDerivation(BaseModel):
    """A profile value the regulatory context filled in because the profile left it null."""

    model_config = _OUT
    field: str
    value: str
    text: str
    citations: list[Citation] = Field(min_length=1)


class ContextStamp(BaseModel):
    """The regulatory context the recommendation was made in."""

    model_config = _OUT
    name: str
    title: str
    as_of: str
    derived: list[ContextDerivation] = []


class RulebookStamp(BaseModel):
    """Which rule base produced the recommendation, for later audit."""

    model_config = _OUT
    name: str
    version: str
    digest: str


class Recommendation(BaseModel):
    """A ranked recommendation with its cited rationale."""

    model_config = _OUT
    patient_id: str
    preferred: Therapy | None
    close_call: bool
    summary: str
    options: list[Option]
    reasons: list[Reason]
    warnings: list[Warning]
    missing: list[MissingFact]
    alternatives: list[AlternativeSuggestion]
    derived: list[DerivedConcept]
    context: ContextStamp
    rulebook: RulebookStamp
    notice: str
