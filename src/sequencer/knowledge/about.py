"""What the rule base says about itself (``rules/about.yaml``): the transparency
statements that cannot be derived from the rules.

Intended use, users and population, the decision-making role, cautioned uses, the
developer, funding, release dates, known limitations, how it is validated, and the
source attributes a US regulation asks of an evidence-based decision support
intervention, each answered or mapped to the profile fields that express it. Everything
else the transparency document says (inputs, evidence, replay results, coverage) is
computed from the rule base by ``sequencer.present.about``.

The file is optional (a rule base without one loads, and its document says what is not
stated); when present it is validated like every rule file, and a fault stops the load
at ``file:line``: unknown keys, a profile field that does not exist, a profile field
that no attribute and no clinical section accounts for, releases out of order or newer
than the rule base's version.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from sequencer.errors import RuleBaseError
from sequencer.knowledge.parsing import validate_model
from sequencer.knowledge.yamlsource import load_yaml
from sequencer.model.fields import FIELDS

__all__ = ["ABOUT_FILE", "About", "Attribute", "Release", "load_about"]

ABOUT_FILE = "about.yaml"

_STRICT = ConfigDict(extra="forbid", frozen=True, defer_build=True)
Prose = Annotated[str, Field(min_length=20)]
Words = Annotated[str, Field(min_length=2)]
Version = Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")]
AttributeId = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=60)]

ANSWERED_ELSEWHERE = ("citation", "developer", "funding", "dates")
"""Attributes answered by the document's own sections (the bibliography, the developer,
the funding, the releases); every other attribute is a data category mapped to fields."""


class Regulation(BaseModel):
    """The regulation whose source attributes the document is structured by."""

    model_config = _STRICT
    citation: Prose
    scope: Prose


class Attribute(BaseModel):
    """One source attribute the regulation names: its paragraph, what it asks, and,
    for a data category, the profile fields that express it (none: not used)."""

    model_config = _STRICT
    id: AttributeId
    paragraph: Annotated[str, Field(pattern=r"^\(A\)\(\d{1,2}\)$")]
    asks: Words
    fields: tuple[str, ...] | None = None
    answer: Prose | None = None


class Developer(BaseModel):
    model_config = _STRICT
    name: Words
    translation: Prose
    contact: Prose


class Release(BaseModel):
    """One released version of the rule base and what it changed."""

    model_config = _STRICT
    version: Version
    date: datetime.date
    changes: Prose


class Property(BaseModel):
    """One property test, by its name in ``tests/test_properties.py``, and what it pins."""

    model_config = _STRICT
    test: Annotated[str, Field(pattern=r"^test_[a-z0-9_]+$")]
    pins: Prose


class Validation(BaseModel):
    model_config = _STRICT
    method: Prose
    not_done: Prose
    properties: Annotated[tuple[Property, ...], Field(min_length=1)]


class About(BaseModel):
    """The transparency statements of a rule base (``rules/about.yaml``)."""

    model_config = _STRICT
    regulation: Regulation
    intended_use: Prose
    intended_users: Annotated[tuple[Prose, ...], Field(min_length=1)]
    patient_population: Prose
    decision_role: Prose
    cautioned_uses: Annotated[tuple[Prose, ...], Field(min_length=1)]
    developer: Developer
    funding: Prose
    releases: Annotated[tuple[Release, ...], Field(min_length=1)]
    attributes: Annotated[tuple[Attribute, ...], Field(min_length=1)]
    clinical_inputs: Annotated[tuple[str, ...], Field(min_length=1)]
    clinical_inputs_text: Prose
    known_limitations: Annotated[tuple[Prose, ...], Field(min_length=1)]
    validation: Validation

    def attribute(self, attribute_id: str) -> Attribute:
        """Return the attribute with this id. Raises ``KeyError`` when there is none."""
        for attribute in self.attributes:
            if attribute.id == attribute_id:
                return attribute
        raise KeyError(attribute_id)

    def category_of(self, field: str) -> Attribute | None:
        """Return the data-category attribute whose fields include ``field``, if any."""
        return next((a for a in self.attributes if a.fields and field in a.fields), None)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def load_about(path: Path, shown: str, rulebook_version: str) -> About:
    """Load and check ``about.yaml`` against the profile's fields and the rule base's
    version. Returns an ``About``. Raises ``RuleBaseError`` with the file and line of
    the first fault."""
    doc = load_yaml(path, shown)
    about: About = validate_model(About, doc.data, doc, shown)

    seen: dict[str, int] = {}
    paragraphs: dict[str, int] = {}
    for index, attribute in enumerate(about.attributes):
        line = doc.line_of(("attributes", index))
        if attribute.id in seen or attribute.paragraph in paragraphs:
            twice = "id" if attribute.id in seen else "paragraph"
            line = doc.line_of(("attributes", index, twice))
            raise RuleBaseError(
                f"attributes[{index}]: attribute '{attribute.id}' ({attribute.paragraph}) "
                "is given twice",
                path=shown,
                line=line,
            )
        seen[attribute.id] = index
        paragraphs[attribute.paragraph] = index
        if attribute.id in ANSWERED_ELSEWHERE:
            if attribute.fields is not None:
                raise RuleBaseError(
                    f"attributes[{index}]: '{attribute.id}' is answered by its own section; "
                    "it takes no fields",
                    path=shown,
                    line=doc.line_of(("attributes", index, "fields")),
                )
            continue
        if attribute.fields is None or attribute.answer is None:
            raise RuleBaseError(
                f"attributes[{index}]: data category '{attribute.id}' needs fields "
                "([] when not used) and an answer",
                path=shown,
                line=line,
            )
        for k, name in enumerate(attribute.fields):
            if name not in FIELDS:
                raise RuleBaseError(
                    f"attributes[{index}].fields[{k}]: unknown profile field '{name}'",
                    path=shown,
                    line=doc.line_of(("attributes", index, "fields", k)),
                )
    absent = [a for a in ANSWERED_ELSEWHERE if a not in seen]
    if absent:
        raise RuleBaseError(
            f"attributes: missing {', '.join(absent)}",
            path=shown,
            line=doc.line_of(("attributes",)),
        )

    sections = about.clinical_inputs
    for k, section in enumerate(sections):
        if not any(f == section or f.startswith(section + ".") for f in FIELDS):
            raise RuleBaseError(
                f"clinical_inputs[{k}]: no profile field is or lies under '{section}'",
                path=shown,
                line=doc.line_of(("clinical_inputs", k)),
            )
    for name in FIELDS:
        category = about.category_of(name)
        clinical = any(name == s or name.startswith(s + ".") for s in sections)
        if category is not None and clinical:
            index = about.attributes.index(category)
            raise RuleBaseError(
                f"profile field '{name}' is both a data category's ('{category.id}') and "
                "a clinical input: every input is accounted for once",
                path=shown,
                line=doc.line_of(("attributes", index, "fields")),
            )
        if category is None and not clinical:
            raise RuleBaseError(
                f"profile field '{name}' is neither a data category's field nor under "
                "clinical_inputs: every input is accounted for once",
                path=shown,
                line=doc.line_of(("clinical_inputs",)),
            )

    for index, release in enumerate(about.releases):
        line = doc.line_of(("releases", index))
        if _version_key(release.version) > _version_key(rulebook_version):
            raise RuleBaseError(
                f"releases[{index}]: version {release.version} is newer than the rule "
                f"base's own ({rulebook_version} in rulebook.yaml)",
                path=shown,
                line=line,
            )
        if index:
            newer = about.releases[index - 1]
            if _version_key(release.version) >= _version_key(newer.version) or (
                release.date > newer.date
            ):
                raise RuleBaseError(
                    f"releases[{index}]: releases are listed newest first "
                    f"({release.version} of {release.date} comes after "
                    f"{newer.version} of {newer.date})",
                    path=shown,
                    line=line,
                )
    tests = [p.test for p in about.validation.properties]
    for index, test in enumerate(tests):
        if test in tests[:index]:
            raise RuleBaseError(
                f"validation.properties[{index}]: '{test}' is named twice",
                path=shown,
                line=doc.line_of(("validation", "properties", index)),
            )
    return about
