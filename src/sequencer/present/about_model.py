"""The transparency document's shape: ``AboutDocument`` and its parts (the rule base, the
source attributes answered, the inputs, the evidence, releases and sign-off, the cases
replayed, coverage, limitations), strict and frozen, also served as JSON; and
``NOT_STATED``, what it says where a rule base has no ``about.yaml``.

``sequencer.present.about`` builds it; ``sequencer.present.about_views`` renders it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "NOT_STATED",
    "AboutDocument",
    "AttributeAnswer",
    "CaseResult",
    "CoverageFacts",
    "EvidenceSource",
    "GradeCount",
    "InputField",
    "PropertyEntry",
    "ReleaseEntry",
    "Revisions",
    "RuleBaseId",
    "ValidationFacts",
]

NOT_STATED = "Not stated: this rule base has no about.yaml."


_STRICT = ConfigDict(extra="forbid", frozen=True)


class RuleBaseId(BaseModel):
    model_config = _STRICT
    name: str
    version: str
    digest: str
    title: str


class AttributeAnswer(BaseModel):
    """One source attribute of the regulation and its answer for this rule base.

    ``used`` is ``None`` for the attributes that are not categories of patient data
    (citation, developer, funding, dates); ``fields`` and ``rules`` are the profile
    fields expressing a data category and the rules that read them.
    """

    model_config = _STRICT
    id: str
    paragraph: str
    asks: str
    answer: str
    used: bool | None
    fields: list[str]
    rules: list[str]


class InputField(BaseModel):
    """One profile field: its words, values, the attribute it falls under (if any) and
    the active rules of the context that read it."""

    model_config = _STRICT
    field: str
    label: str
    kind: str
    values: list[str]
    attribute: str | None
    rules: list[str]
    derives_access: bool


class EvidenceSource(BaseModel):
    """One source of the bibliography: its citation, its evidence grade, its links and
    the active rules citing it."""

    model_config = _STRICT
    key: str
    citation: str
    grade: str
    doi: str | None
    pmid: str | None
    cited_by: list[str]


class GradeCount(BaseModel):
    model_config = _STRICT
    grade: str
    rules: int
    sources: int


class ReleaseEntry(BaseModel):
    model_config = _STRICT
    version: str
    date: str
    changes: str


class Revisions(BaseModel):
    """Release and revision state: the releases, rules revised since first written
    (their own version above 1), and clinical sign-off as recorded (no clock)."""

    model_config = _STRICT
    releases: list[ReleaseEntry]
    current_release: str | None
    revised_rules: dict[str, int]
    rule_base_sign_off: str
    signed_rules: int
    unsigned_rules: int
    earliest_due: str | None


class CaseResult(BaseModel):
    """A published or literature case replayed now."""

    model_config = _STRICT
    source: Literal["published", "literature"]
    case: str
    context: str
    expected: str
    library: str
    agrees: bool
    documented_difference: str | None


class PropertyEntry(BaseModel):
    model_config = _STRICT
    test: str
    pins: str


class ValidationFacts(BaseModel):
    model_config = _STRICT
    method: str
    not_done: str
    published_total: int
    published_agree: int
    literature_total: int
    literature_agree: int
    literature_as_documented: int
    cases: list[CaseResult]
    active_rules: int
    rules_with_cases: int
    properties: list[PropertyEntry]


class CoverageFacts(BaseModel):
    model_config = _STRICT
    context: str
    cohort: int
    seed: int
    never_fire: list[str]
    never_decide: list[str]


class AboutDocument(BaseModel):
    """The transparency document of one rule base in one regulatory context."""

    model_config = _STRICT
    format: Literal[1] = 1
    rulebook: RuleBaseId
    context: str
    context_title: str
    notice: str
    regulation: str
    regulation_scope: str
    intended_use: str
    intended_users: list[str]
    patient_population: str
    decision_role: str
    cautioned_uses: list[str]
    review: str
    developer: str
    developer_translation: str
    developer_contact: str
    funding: str
    attributes: list[AttributeAnswer]
    inputs: list[InputField]
    inputs_text: str
    grades: list[GradeCount]
    sources: list[EvidenceSource]
    revisions: Revisions
    validation: ValidationFacts
    coverage: CoverageFacts
    stated_limitations: list[str]
    computed_limitations: list[str]
    where_to_read: Annotated[str, Field(min_length=1)]
