"""The output: a ranked, cited ``Recommendation`` (pydantic, frozen, strict).

``Recommendation.model_dump(mode="json")`` is exactly what ``sequencer recommend
--format json`` prints. The shape is a contract; fields may be added, never renamed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AddOnSuggestion",
    "Argument",
    "Caution",
    "Citation",
    "ContextDerivation",
    "ContextStamp",
    "DerivedConcept",
    "MissingFact",
    "Option",
    "OutsideTherapySuggestion",
    "PlanStep",
    "ProductHold",
    "ProductStanding",
    "Reason",
    "Recommendation",
    "RulebookStamp",
    "SetAsideBy",
]

Therapy = str
"""An option's id, as the rule base declares it (``rules/rulebook.yaml``)."""

_OUT = ConfigDict(extra="forbid", frozen=True)


class Citation(BaseModel):
    """A resolved bibliography entry."""

    model_config = _OUT
    key: str
    label: str
    doi: str | None = None
    pmid: str | None = None


class Reason(BaseModel):
    """Why an option's score or standing changed: one rule, one therapy."""

    model_config = _OUT
    rule: str
    therapy: Therapy
    effect: Literal["favors", "not_eligible", "deferred"]
    strength: Literal["weak", "moderate", "strong"] | None = None
    weight: int = Field(
        description="points added to the therapy's score: 0 for not_eligible and deferred, "
        "and for an argument counted through a stronger rule or set aside"
    )
    argument: str | None = Field(default=None, description="the argument a favors effect makes")
    status: Literal["counted", "subsumed", "set_aside"] | None = Field(
        default=None,
        description="for favors: counted (the argument's strongest rule), subsumed (the "
        "argument counted through a stronger rule) or set_aside (the argument was defeated)",
    )
    title: str
    text: str = Field(min_length=1)
    evidence: str
    consideration: str
    citations: list[Citation] = Field(min_length=1)


class Caution(BaseModel):
    """A caution attached to an eligible option; does not change its score.

    Listed under the JSON key ``warnings`` (kept for compatibility: the key is a
    contract); everywhere else, in rule files, on screen and in code, it is a caution.
    """

    model_config = _OUT
    rule: str
    therapy: Therapy
    effect: Literal["caution"] = "caution"
    severity: Literal["serious", "standard"] = Field(
        default="standard",
        description="serious: a risk to life, or of never receiving the option",
    )
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
        "option's status (the list is ordered by this)",
    )
    could_change_preferred: bool = Field(
        default=False,
        description="some value of this fact could change the preferred option itself "
        "(the recommendation is then provisional)",
    )


class AddOnSuggestion(BaseModel):
    """Something to give together with an option."""

    model_config = _OUT
    id: str
    name: str
    rule: str
    text: str
    citations: list[Citation] = Field(min_length=1)


class OutsideTherapySuggestion(BaseModel):
    """A therapy outside the two CD19-directed options."""

    model_config = _OUT
    id: str
    name: str
    target: str | None
    text: str
    rules: list[str] = Field(min_length=1)
    why: list[str] = Field(
        default=[],
        description="why it is offered for this patient: the titles of the rules that "
        "offered it, in their order",
    )
    citations: list[Citation] = Field(min_length=1)


class SetAsideBy(BaseModel):
    """The rule that set an argument aside, and why."""

    model_config = _OUT
    rule: str
    title: str
    text: str = Field(min_length=1)
    citations: list[Citation] = Field(min_length=1)


class Argument(BaseModel):
    """One argument (a clinical consideration with a direction) as it stands here.

    It counts once, at the strength of its strongest firing rule, unless a fact set it
    aside (``set_aside_by``); set-aside arguments stay listed, with no weight.
    """

    model_config = _OUT
    id: str
    title: str
    favors: Therapy = Field(description="the option it pushes toward")
    pro_of: Therapy | None = Field(description="the option it is a strength of")
    con_of: Therapy | None = Field(description="the option it is a weakness of")
    status: Literal["counted", "set_aside"]
    strength: Literal["weak", "moderate", "strong"]
    weight: int = Field(description="points it adds to favors' score (0 when set aside)")
    rule: str = Field(description="its strongest firing rule")
    rules: list[str] = Field(min_length=1, description="every firing rule making it")
    text: str = Field(min_length=1)
    evidence: str
    citations: list[Citation] = Field(min_length=1)
    set_aside_by: list[SetAsideBy] = []


class ProductHold(BaseModel):
    """One criterion of a product (its label or pivotal trial) that holds the patient
    back from that product now, and what lifts it."""

    model_config = _OUT
    rule: str
    title: str
    until: str
    text: str
    citations: list[Citation] = Field(min_length=1)


class ProductStanding(BaseModel):
    """One available CAR T-cell product and whether its criteria admit the patient."""

    model_config = _OUT
    name: str
    trial: str | None = Field(default=None, description="the product's pivotal trial")
    admits: bool = Field(description="no criterion of this product holds the patient back")
    held_back_by: list[ProductHold] = []
    safety: str | None = Field(default=None, description="the product's distinct safety figures")
    citations: list[Citation] = Field(default=[], description="sources of the label and safety")


class Option(BaseModel):
    """One CD19-directed option as ranked for this patient."""

    model_config = _OUT
    therapy: Therapy
    name: str
    status: Literal["preferred", "alternative", "deferred", "not_eligible"]
    score: int
    add_ons: list[AddOnSuggestion] = []
    reasons: list[str] = Field(description="ids of the rules that changed this option's standing")
    warnings: list[str] = Field(default=[], description="ids of the rules that caution it")
    arguments_for: list[str] = Field(
        default=[], description="ids of counted arguments that are a strength of this option"
    )
    arguments_against: list[str] = Field(
        default=[], description="ids of counted arguments that are a weakness of this option"
    )
    set_aside: list[str] = Field(
        default=[], description="ids of arguments for or against this option that were set aside"
    )
    deferred_until: str | None = Field(
        default=None, description="for a deferred option: what has to happen before it can be given"
    )
    deferred_by: list[str] = Field(default=[], description="ids of the rules that defer it")
    failed: bool = Field(
        default=False,
        description="documented failure of this therapy: it cannot be preferred, and its "
        "strengths are set aside",
    )
    failed_by: list[str] = Field(default=[], description="ids of the rules saying it failed")
    products: list[ProductStanding] = Field(
        default=[],
        description="for CAR T cells under approved access: the products whose label covers "
        "the patient's age, each with the criteria that hold the patient back from it; CAR "
        "T cells stay open while any product admits the patient",
    )


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
    """Which rule base produced the recommendation, for later audit, and whether the
    rules behind it carry a current clinical sign-off."""

    model_config = _OUT
    name: str
    version: str
    digest: str
    rule_base_review: str = Field(
        default="never signed off",
        description="the rule base's own sign-off: current until its due date, past due, "
        "or never signed off",
    )
    stale_rules: list[str] = Field(
        default=[], description="rules that fired here whose clinical review is past due"
    )
    unsigned_rules: list[str] = Field(
        default=[], description="rules that fired here with no recorded clinical sign-off"
    )


class PlanStep(BaseModel):
    """One step of the plan around the choice: bridging, the definitive therapy or
    consolidation, for the option chosen, from ``rules/plan.yaml``."""

    model_config = _OUT
    phase: Literal["bridge", "definitive", "consolidation"]
    option: Therapy
    text: str
    rule: str = Field(description="the plan step's id in rules/plan.yaml")
    citations: list[Citation]
    evidence: str


class Recommendation(BaseModel):
    """A ranked recommendation with its cited rationale."""

    model_config = _OUT
    format_version: Literal["1"] = Field(
        default="1", description="the interchange format of this output (CHANGELOG.md)"
    )
    patient_id: str
    preferred: Therapy | None
    close_call: bool
    summary: str
    provisional: bool = Field(
        default=False,
        description="the preferred option could change with a fact that is not known "
        "(provisional_on)",
    )
    provisional_on: list[str] = Field(
        default=[], description="fields in missing that could change the choice"
    )
    options: list[Option]
    arguments: list[Argument] = []
    reasons: list[Reason]
    warnings: list[Caution] = Field(
        description="the cautions on eligible options (the key keeps its first name)"
    )
    missing: list[MissingFact]
    alternatives: list[OutsideTherapySuggestion]
    derived: list[DerivedConcept]
    context: ContextStamp
    rulebook: RulebookStamp
    notice: str
    plan: list[PlanStep] = Field(
        default=[],
        description="the plan around the preferred option (bridging, definitive therapy, "
        "consolidation), each step cited; empty when nothing is preferred",
    )
