"""Regulatory contexts: what was approved where and when, as data in ``rules/contexts/``.

A context says which products of the option given as products (``has_products`` in
``rulebook.yaml``) are approved for which ages, what access older or younger patients
have otherwise (a trial, or none), and what the other options' labels cover. When a
profile leaves that access (``ACCESS_FIELD``) null, the context derives it from the
patient's age; a value the profile gives always wins. The derivation is reported in the
recommendation, so nothing is assumed silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from sequencer.model.profile import PatientProfile

__all__ = [
    "ACCESS_FIELD",
    "Context",
    "ContextHead",
    "ContextProduct",
    "Derivation",
    "OptionLabel",
    "ProductAccess",
    "apply_context",
]

ACCESS_FIELD = "access.car_t"
"""The profile field (a published v1 field path) saying whether the products option can
be had: approved, on a trial, or unavailable."""

_STRICT = ConfigDict(extra="forbid", frozen=True, defer_build=True)
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


class ProductAccess(BaseModel):
    """A context's section for the option given as products (``has_products`` in
    ``rulebook.yaml``): the approved products, and what access is left outside their
    label ages."""

    model_config = _STRICT
    products: tuple[ContextProduct, ...]
    otherwise: Literal["trial", "unavailable"]
    otherwise_text: Text


class OptionLabel(BaseModel):
    """A context's section for any other option: what its label covers."""

    model_config = _STRICT
    label: Text
    citations: Annotated[tuple[str, ...], Field(min_length=1)]


class ContextHead(BaseModel):
    """What a context file says besides its per-option sections (and rules)."""

    model_config = _STRICT
    context: Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    title: Annotated[str, Field(min_length=5)]
    as_of: Annotated[str, Field(pattern=r"^\d{4}(-\d{2}){0,2}$")]
    default: bool = False
    summary: Text


class Context(ContextHead):
    """A named regulatory context (``us-2020``, ``us-2026``, ...).

    The file has a section under each option's id: the option given as products
    (``products_option``) says which products are approved (``product_access``), every
    other option what its label covers (``labels``, by option id).
    """

    products_option: str
    product_access: ProductAccess
    labels: dict[str, OptionLabel]

    def access_for_age(self, age: int) -> Literal["approved", "trial", "unavailable"]:
        """Return the access to the products option this context derives for a patient
        of ``age``."""
        if any(p.covers(age) for p in self.product_access.products):
            return "approved"
        return self.product_access.otherwise

    def citations(self) -> tuple[str, ...]:
        """Every source the context cites."""
        products = self.product_access.products
        keys = [k for p in products for k in (*p.citations, *p.safety_citations)]
        keys += [k for label in self.labels.values() for k in label.citations]
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

    Only ``ACCESS_FIELD`` is derived, and only when the profile leaves it null and gives
    an age. The returned profile is a validated copy; the input is not changed.
    """
    if profile.access.car_t is not None or profile.age is None:
        return profile, []
    age = profile.age
    covering = [p for p in context.product_access.products if p.covers(age)]
    if covering:
        names = ", ".join(p.name for p in covering)
        value = "approved"
        text = (
            f"Not stated; in context {context.context} ({context.title}) an approved "
            f"product covers age {age}: {names}."
        )
        cited = tuple(dict.fromkeys(k for p in covering for k in p.citations))
    else:
        value = context.product_access.otherwise
        text = (
            f"Not stated; in context {context.context} ({context.title}) no approved "
            f"product covers age {age}: {context.product_access.otherwise_text.strip()}"
        )
        products = context.product_access.products
        cited = tuple(dict.fromkeys(k for p in products for k in p.citations))
    section, leaf = ACCESS_FIELD.split(".")
    # ``value`` is one of the access values (the context file is validated against the
    # same choices) and no check across fields reads the access, so the copy is as valid
    # as the profile it copies (a test compares it with validating the copy again)
    part = getattr(profile, section).model_copy(update={leaf: value})
    derived = profile.model_copy(update={section: part})
    return derived, [Derivation(ACCESS_FIELD, value, text, cited)]
