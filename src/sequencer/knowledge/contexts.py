"""Regulatory contexts: what was approved where and when, as data in ``rules/contexts/``.

A context says which CD19 CAR T-cell products are approved for which ages, what access
older or younger patients have otherwise (a trial, or none), and what blinatumomab's
label covers. When a profile leaves ``access.car_t`` null, the context derives it from
the patient's age; a value the profile gives always wins. The derivation is reported in
the recommendation, so nothing is assumed silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from sequencer.model.profile import PatientProfile

__all__ = ["Context", "ContextProduct", "Derivation", "apply_context"]

_STRICT = ConfigDict(extra="forbid", frozen=True)
Text = Annotated[str, Field(min_length=20)]


class ContextProduct(BaseModel):
    """One approved CD19 CAR T-cell product: the ages its label covers, its pivotal
    trial and its distinct safety figures.

    The trial criteria that hold a patient back from this product are rules (written
    under the product as ``criteria:`` and compiled by the rule-base loader), not
    fields of this model.
    """

    model_config = _STRICT
    name: Annotated[str, Field(min_length=3)]
    min_age: Annotated[int, Field(ge=0, le=120)] = 0
    max_age: Annotated[int, Field(ge=0, le=120)] | None = None
    indication: Text
    citations: Annotated[tuple[str, ...], Field(min_length=1)]
    trial: Annotated[str, Field(min_length=2)] | None = None
    safety: Text | None = None
    safety_citations: tuple[str, ...] = ()

    def covers(self, age: int) -> bool:
        """Return whether the label's age range includes ``age``."""
        return self.min_age <= age and (self.max_age is None or age <= self.max_age)


class CarTAccessRules(BaseModel):
    model_config = _STRICT
    products: tuple[ContextProduct, ...]
    otherwise: Literal["trial", "unavailable"]
    otherwise_text: Text


class BlinatumomabLabel(BaseModel):
    model_config = _STRICT
    label: Text
    citations: Annotated[tuple[str, ...], Field(min_length=1)]


class Context(BaseModel):
    """A named regulatory context (``us-2020``, ``us-2026``, ...)."""

    model_config = _STRICT
    context: Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    title: Annotated[str, Field(min_length=5)]
    as_of: Annotated[str, Field(pattern=r"^\d{4}(-\d{2}){0,2}$")]
    default: bool = False
    summary: Text
    car_t: CarTAccessRules
    blinatumomab: BlinatumomabLabel

    def access_for_age(self, age: int) -> Literal["approved", "trial", "unavailable"]:
        """Return the CAR T-cell access this context derives for a patient of ``age``."""
        if any(p.covers(age) for p in self.car_t.products):
            return "approved"
        return self.car_t.otherwise

    def citations(self) -> tuple[str, ...]:
        """Every source the context cites."""
        keys = [k for p in self.car_t.products for k in (*p.citations, *p.safety_citations)]
        keys += list(self.blinatumomab.citations)
        return tuple(dict.fromkeys(keys))


@dataclass(frozen=True)
class Derivation:
    """A profile value filled in from the context: field, value, and why."""

    field: str
    value: str
    text: str
    citations: tuple[str, ...]


def apply_context(
    context: Context, profile: PatientProfile
) -> tuple[PatientProfile, list[Derivation]]:
    """Return the profile as evaluated in ``context``, and what the context filled in.

    Only ``access.car_t`` is derived, and only when the profile leaves it null and gives
    an age. The returned profile is a validated copy; the input is not changed.
    """
    if profile.access.car_t is not None or profile.age is None:
        return profile, []
    age = profile.age
    covering = [p for p in context.car_t.products if p.covers(age)]
    if covering:
        names = ", ".join(p.name for p in covering)
        value = "approved"
        text = (
            f"Not stated; in context {context.context} ({context.title}) an approved "
            f"product covers age {age}: {names}."
        )
        cited = tuple(dict.fromkeys(k for p in covering for k in p.citations))
    else:
        value = context.car_t.otherwise
        text = (
            f"Not stated; in context {context.context} ({context.title}) no approved "
            f"product covers age {age}: {context.car_t.otherwise_text.strip()}"
        )
        cited = tuple(dict.fromkeys(k for p in context.car_t.products for k in p.citations))
    access = profile.access.model_copy(update={"car_t": value})
    derived = PatientProfile.model_validate({**profile.model_dump(), "access": access.model_dump()})
    return derived, [Derivation("access.car_t", value, text, cited)]
