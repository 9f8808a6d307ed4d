"""The rule schema: the models a rule base's YAML files are validated against.

Sources and alternatives, each effect a rule may have, arguments, rules and
consideration files. Loading (``sequencer.knowledge.rulebook``) turns files into these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sequencer.knowledge.conditions import ParsedCondition, parse_condition
from sequencer.model.fields import FIELDS

__all__ = [
    "EFFECT_MODELS",
    "AddOn",
    "Argument",
    "Bibliography",
    "Caution",
    "ConsiderationFile",
    "Defer",
    "Derive",
    "Effect",
    "Failed",
    "Favors",
    "HoldsBack",
    "LoadedRule",
    "Manifest",
    "Missing",
    "NotEligible",
    "OptionSpec",
    "OutsideTherapies",
    "OutsideTherapy",
    "ReviewSpec",
    "Rule",
    "Scoring",
    "SetsAside",
    "SignOff",
    "Source",
    "SuggestOutsideTherapy",
]

Therapy = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
"""An option's id, as the rule base's manifest declares it (``rulebook.yaml``)."""
Strength = Literal["weak", "moderate", "strong"]
Evidence = Literal[
    "regulatory",
    "meta-analysis",
    "randomized",
    "prospective",
    "retrospective",
    "case-series",
    "case-report",
    "expert-opinion",
]
KebabId = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80)]
Prose = Annotated[str, Field(min_length=20)]

_STRICT = ConfigDict(extra="forbid", frozen=True)


def _therapies(value: object) -> object:
    """Accept one therapy or a list of them; store a tuple."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(value)
    return value


TherapySet = Annotated[tuple[Therapy, ...], Field(min_length=1)]


# --- bibliography and alternatives ------------------------------------------------


class Source(BaseModel):
    """One citable source.

    Only verified details are given: ``doi``/``pmid`` where verified, and ``authors``
    or ``title`` may be left out when they could not be checked (the journal, year,
    volume and first page then identify the paper).
    """

    model_config = _STRICT

    authors: Annotated[str, Field(min_length=2)] | None = None
    title: Annotated[str, Field(min_length=5)] | None = None
    journal: Annotated[str, Field(min_length=2)]
    year: Annotated[int, Field(ge=1950, le=2100)]
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    doi: Annotated[str, Field(pattern=r"^10\.\d{4,9}/\S+$")] | None = None
    pmid: Annotated[str, Field(pattern=r"^\d{5,9}$")] | None = None
    kind: Evidence
    review_ref: Annotated[int, Field(ge=1, le=200)] | None = None
    note: str | None = None

    def label(self, review: str | None = None) -> str:
        """Return a short citation such as ``Park JH, et al. N Engl J Med 2018;378(5):449-459``."""
        where = f"{self.journal} {self.year}"
        if self.volume:
            where += f";{self.volume}"
            if self.issue:
                where += f"({self.issue})"
            if self.pages:
                where += f":{self.pages}"
        text = ". ".join(part for part in (self.authors, self.title, where) if part)
        if self.authors is None and self.title is None and self.note:
            # Without authors or title, say what the paper is (the note says why not).
            text += f" ({' '.join(self.note.split())})"
        if self.review_ref is not None:
            text += f" [ref. {self.review_ref} of {review or 'the review'}]"
        return text


class Bibliography(BaseModel):
    model_config = _STRICT

    sources: dict[KebabId, Source]


class OutsideTherapy(BaseModel):
    """A therapy outside the two CD19-directed options (for CD19-negative disease, say)."""

    model_config = _STRICT

    name: Annotated[str, Field(min_length=3)]
    target: str | None = None
    description: Prose
    citations: Annotated[tuple[str, ...], Field(min_length=1)]


class OutsideTherapies(BaseModel):
    model_config = _STRICT

    alternatives: dict[KebabId, OutsideTherapy]


class OptionSpec(BaseModel):
    """One option the rule base chooses between: its id, its words, and whether it is
    given as products (``has_products``: each regulatory context lists the option's
    approved products under the option's id, and recommendations name the products a
    patient can have). A rule base written before ``has_products`` marks none; the
    option whose context sections list products is then the one."""

    model_config = _STRICT

    id: Therapy
    name: Annotated[str, Field(min_length=2)]
    short: Annotated[str, Field(min_length=2)]
    in_sentence: Annotated[str, Field(min_length=2)]
    colour: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
    aliases: tuple[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")], ...] = ()
    has_products: bool = False


class Scoring(BaseModel):
    """Points per strength, and the gap within which a choice is a close call."""

    model_config = _STRICT

    weights: dict[Strength, Annotated[int, Field(ge=1, le=100)]]
    close_call_margin: Annotated[int, Field(ge=0, le=100)]

    @model_validator(mode="after")
    def _ordered(self) -> Scoring:
        order: tuple[Strength, ...] = ("weak", "moderate", "strong")
        if set(self.weights) != set(order):
            raise ValueError("weights: give weak, moderate and strong")
        values = [self.weights[s] for s in order]
        if values != sorted(set(values)):
            raise ValueError("weights must rise strictly from weak to moderate to strong")
        return self


class ReviewSpec(BaseModel):
    """The review whose reasoning the rule base encodes."""

    model_config = _STRICT

    source: KebabId
    short: Annotated[str, Field(min_length=5)]
    ref_label: Annotated[str, Field(min_length=5)]


class SignOff(BaseModel):
    """Who reviewed a rule (or the rule base) for clinical use, when, and when the review
    falls due again. A role or a name, as the site decides."""

    model_config = _STRICT

    by: Annotated[str, Field(min_length=2)]
    signed: date
    due: date

    @model_validator(mode="after")
    def _due_after(self) -> SignOff:
        if self.due <= self.signed:
            raise ValueError("due must come after signed")
        return self


class Manifest(BaseModel):
    model_config = _STRICT

    name: str
    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")]
    title: str
    notice: Prose
    options: Annotated[tuple[OptionSpec, ...], Field(min_length=2)]
    option_kind: Annotated[str, Field(min_length=2)]
    sign_off: SignOff | None = None
    scoring: Scoring
    review: ReviewSpec

    @model_validator(mode="after")
    def _distinct(self) -> Manifest:
        ids = [o.id for o in self.options]
        if len(set(ids)) != len(ids):
            raise ValueError("options: each id once")
        aliases = [a for o in self.options for a in o.aliases]
        if len(set(aliases)) != len(aliases):
            raise ValueError("options: an alias names one option only")
        if sum(o.has_products for o in self.options) > 1:
            raise ValueError(
                "options: one option at most has_products (the option whose approved "
                "products each regulatory context lists)"
            )
        return self


# --- rules --------------------------------------------------------------------


class Favors(BaseModel):
    """Makes one argument (declared under ``arguments:``) at a strength.

    ``favors`` is the option the argument pushes toward; the loader fills it in from the
    argument (a rule file may state it too, and it must then agree).
    """

    model_config = _STRICT
    argues: KebabId
    strength: Strength
    favors: Therapy | None = None


class Failed(BaseModel):
    """Documented failure of a therapy: every argument that is a strength of it
    (``pro_of``) is set aside, and it cannot be preferred.

    Also derives ``<therapy>-failed`` (``blinatumomab-failed``, ``car-t-failed``).
    """

    model_config = _STRICT
    failed: Therapy
    text: Prose | None = None


class SetsAside(BaseModel):
    """A fact contradicts these arguments' premise: they are set aside (still shown)."""

    model_config = _STRICT
    sets_aside: Annotated[tuple[KebabId, ...], Field(min_length=1)]
    text: Prose | None = None

    _split = field_validator("sets_aside", mode="before")(_therapies)


class Defer(BaseModel):
    """Not now, for a reason that can pass: the options cannot be preferred until ``until``.

    Also derives ``<therapy>-deferred``.
    """

    model_config = _STRICT
    defer: TherapySet
    until: Prose
    text: Prose | None = None

    _split = field_validator("defer", mode="before")(_therapies)


class NotEligible(BaseModel):
    """Takes options off the table (and derives ``<therapy>-not-eligible``)."""

    model_config = _STRICT
    not_eligible: Annotated[TherapySet, Field(min_length=1)]
    text: Prose | None = None

    _split = field_validator("not_eligible", mode="before")(_therapies)


class Caution(BaseModel):
    """A warning attached to options; does not change the score. ``severity: serious``
    marks a risk to life, or of never receiving the option, shown first and marked."""

    model_config = _STRICT
    caution: TherapySet
    severity: Literal["serious", "standard"] = "standard"
    text: Prose | None = None

    _split = field_validator("caution", mode="before")(_therapies)


class Missing(BaseModel):
    """Reports a profile field whose value matters but is unknown.

    A ``blocking`` missing fact stops the choice: no option is preferred until it is known.
    """

    model_config = _STRICT
    missing: str
    blocking: bool = False
    text: Prose | None = None

    @field_validator("missing")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in FIELDS:
            raise ValueError(f"unknown profile field '{value}'")
        return value


class AddOn(BaseModel):
    """Suggests something to give together with one option."""

    model_config = _STRICT
    add_on: KebabId
    to: Therapy
    name: Annotated[str, Field(min_length=2)]
    text: Prose | None = None


class SuggestOutsideTherapy(BaseModel):
    """Lists an alternative therapy (from ``alternatives.yaml``)."""

    model_config = _STRICT
    alternative: KebabId


class Derive(BaseModel):
    """Asserts a derived concept that other rules may join on."""

    model_config = _STRICT
    derive: KebabId


class HoldsBack(BaseModel):
    """One product's criterion keeps the patient from that product for now.

    Written only under a product in a context file (``car_t.products[].criteria``);
    the loader adds the product's ages and approved access to the condition. CAR T
    cells as a whole wait only when no available product admits the patient (the
    context's ``no_product_admits`` rule).
    """

    model_config = _STRICT
    holds_back: Annotated[str, Field(min_length=3)]
    until: Prose
    text: Prose | None = None


Effect = (
    Favors
    | Failed
    | SetsAside
    | Defer
    | NotEligible
    | Caution
    | Missing
    | AddOn
    | SuggestOutsideTherapy
    | Derive
    | HoldsBack
)
EFFECT_MODELS: tuple[type[BaseModel], ...] = (
    Favors, Failed, SetsAside, Defer, NotEligible, Caution, Missing, AddOn,
    SuggestOutsideTherapy, Derive, HoldsBack,
)  # fmt: skip


class Argument(BaseModel):
    """A clinical consideration with a direction; rules make it at a strength.

    ``pro_of`` names the option it is a strength of, ``con_of`` the option it is a
    weakness of (at least one; both when it is both). It pushes toward ``pro_of``, or
    away from ``con_of``. It counts once, at its strongest applicable rule, and every
    argument that is a strength of a therapy presumes that therapy can work: a
    documented failure of it (``failed:``) sets the argument aside. (A weakness of the
    other option stays a weakness.)

    A weakness alone pushes toward the other option; with more than two options a
    weakness-only argument must say which (``toward``). The loader fills ``toward`` in.
    """

    model_config = _STRICT

    id: KebabId
    title: Annotated[str, Field(min_length=5)]
    pro_of: Therapy | None = None
    con_of: Therapy | None = None
    toward: Therapy | None = None

    @model_validator(mode="after")
    def _sided(self) -> Argument:
        if self.pro_of is None and self.con_of is None:
            raise ValueError("an argument needs pro_of, con_of or both")
        if self.pro_of is not None and self.pro_of == self.con_of:
            raise ValueError("pro_of and con_of must name different options")
        if self.toward is not None and self.toward in (self.con_of, None):
            raise ValueError("toward names the option a weakness pushes toward")
        if self.pro_of is not None and self.toward not in (None, self.pro_of):
            raise ValueError("an argument with pro_of pushes toward it; leave toward out")
        return self

    @property
    def favors(self) -> Therapy:
        """The option this argument pushes toward (``pro_of``, else ``toward``)."""
        favored = self.pro_of or self.toward
        if favored is None:
            raise ValueError(f"argument '{self.id}' was not resolved by the loader")
        return favored


class Rule(BaseModel):
    """One rule: a condition on the profile, its effects, why, and the sources."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    id: KebabId
    title: Annotated[str, Field(min_length=5)]
    status: Literal["draft", "active", "retired"] = "active"
    version: Annotated[int, Field(ge=1)] = 1
    evidence: Evidence
    when: dict[str, Any]
    then: Annotated[list[Effect], Field(min_length=1)]
    rationale: Prose
    citations: Annotated[tuple[str, ...], Field(min_length=1)]
    sign_off: SignOff | None = None
    context: str | None = Field(
        default=None,
        description="set by the loader for rules written in a regulatory context's file: "
        "they apply only in that context",
    )

    @cached_property
    def condition(self) -> ParsedCondition:
        """The parsed condition (validated when the rule base is loaded)."""
        return parse_condition(self.when)

    @cached_property
    def derives(self) -> tuple[str, ...]:
        """Concepts this rule asserts when it fires, implied ones included."""
        out = [e.derive for e in self.then if isinstance(e, Derive)]
        for effect in self.then:
            if isinstance(effect, NotEligible):
                out.extend(f"{t.replace('_', '-')}-not-eligible" for t in effect.not_eligible)
            elif isinstance(effect, Defer):
                out.extend(f"{t.replace('_', '-')}-deferred" for t in effect.defer)
            elif isinstance(effect, Failed):
                out.append(f"{effect.failed.replace('_', '-')}-failed")
        return tuple(dict.fromkeys(out))

    @cached_property
    def changes_standing(self) -> bool:
        """Whether the rule can fail, defer or exclude an option, or block the choice."""
        return any(
            isinstance(e, Failed | Defer | NotEligible) or (isinstance(e, Missing) and e.blocking)
            for e in self.then
        )

    @cached_property
    def decisive(self) -> bool:
        """Whether the rule can change a score, a status or block the choice."""
        return self.changes_standing or any(isinstance(e, Favors | SetsAside) for e in self.then)


class ConsiderationFile(BaseModel):
    model_config = _STRICT

    consideration: KebabId
    title: str
    summary: Prose
    arguments: list[dict[str, Any]] = []
    rules: Annotated[list[dict[str, Any]], Field(min_length=1)]


@dataclass(frozen=True)
class LoadedRule:
    """A rule with where it came from."""

    rule: Rule
    consideration: str
    path: str
    line: int | None
