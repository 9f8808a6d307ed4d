"""The rule base's manifest and sources: the models ``rulebook.yaml`` (name, version,
options, scoring, the source review, sign-off), ``bibliography.yaml`` and
``alternatives.yaml`` are validated against, and the value types rules share."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Bibliography",
    "Evidence",
    "KebabId",
    "Manifest",
    "OptionSpec",
    "OutsideTherapies",
    "OutsideTherapy",
    "Prose",
    "ReviewSpec",
    "Scoring",
    "SignOff",
    "Source",
    "Strength",
    "Therapy",
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

_STRICT = ConfigDict(extra="forbid", frozen=True, defer_build=True)


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
