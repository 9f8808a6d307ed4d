"""The rule schema: the models a rule base's YAML files are validated against.

Each effect a rule may have, arguments, rules and consideration files (the manifest,
sources and alternatives are in ``knowledge.manifest`` and re-exported here). Loading
(``sequencer.knowledge.rulebook``) turns files into these.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sequencer.knowledge.conditions import ParsedCondition, parse_condition
from sequencer.knowledge.manifest import (
    Bibliography,
    Evidence,
    KebabId,
    Manifest,
    OptionSpec,
    OutsideTherapies,
    OutsideTherapy,
    Prose,
    ReviewSpec,
    Scoring,
    SignOff,
    Source,
    Strength,
    Therapy,
)
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

_STRICT = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _therapies(value: object) -> object:
    """Accept one therapy or a list of them; store a tuple."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(value)
    return value


TherapySet = Annotated[tuple[Therapy, ...], Field(min_length=1)]


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

    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, defer_build=True
    )

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
