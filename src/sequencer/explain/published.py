"""The published patients of the rule base's review, for replay and teaching.

The cases live in ``examples/patients/`` (shipped inside the package as
``sequencer/patients``): one v1 profile per patient plus ``published.yaml`` with the
published choice and our own short summaries.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sequencer.api import default_rulebook, recommend
from sequencer.errors import CaseFileError, ProfileError
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.yamlsource import load_yaml
from sequencer.model.parsing import parse_profile
from sequencer.model.profile import PatientProfile
from sequencer.model.recommendation import Recommendation

__all__ = [
    "Choice",
    "Hindsight",
    "PublishedCase",
    "Replay",
    "default_cases_dir",
    "library_choice",
    "load_cases",
    "replay",
]

Choice = str
"""An option's id, ``neither`` (none eligible) or ``no-preference`` (the options tie)."""
PublishedChoice = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


def choice_name(choice: str, rulebook: Rulebook) -> str:
    """A choice in words: the option's name, ``Neither (no CD19-directed option)`` or
    ``No preference (the options tie)``."""
    if choice in rulebook.option_names:
        return rulebook.option_names[choice]
    if choice == "neither":
        return f"Neither (no {rulebook.option_kind} option)"
    return "No preference (the options tie)"


class Hindsight(BaseModel):
    """What the authors said in hindsight about a published patient (our paraphrase):
    the arguments or rules it concerns (ids), the note, and its sources (bibliography
    keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    about: Annotated[
        tuple[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")], ...], Field(min_length=1)
    ]
    text: Annotated[str, Field(min_length=20)]
    citations: Annotated[tuple[str, ...], Field(min_length=1)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    number: Annotated[int, Field(ge=1)]
    profile: str
    published_choice: PublishedChoice
    vignette: str
    published_rationale: str
    encoding: str
    hindsight: Hindsight | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str
    context: str
    patients: list[_Entry]


@dataclass(frozen=True)
class PublishedCase:
    """One published patient: the profile, what was chosen, and our summaries."""

    number: int
    profile: PatientProfile
    published_choice: PublishedChoice
    vignette: str
    published_rationale: str
    encoding: str
    context: str
    path: Path
    hindsight: Hindsight | None = None
    source: str = ""
    """The bibliography key of the publication the patient comes from."""


def default_cases_dir() -> Path:
    """Return the directory of the published cases (shipped, or the checkout's)."""
    shipped = importlib.resources.files("sequencer").joinpath("patients")
    if shipped.is_dir():
        return Path(str(shipped))
    checkout = Path(__file__).resolve().parents[3] / "examples" / "patients"
    if checkout.is_dir():
        return checkout
    raise CaseFileError("the published patients were not installed with the package")


def _tidy(note: Hindsight | None) -> Hindsight | None:
    """The note with its folded YAML text on one line."""
    if note is None:
        return None
    return note.model_copy(update={"text": " ".join(note.text.split())})


def load_cases(directory: Path | None = None) -> list[PublishedCase]:
    """Return the published cases in order of their number.

    Raises ``RuleBaseError`` for a malformed ``published.yaml`` and ``ProfileError``
    (naming the file) for an invalid profile.
    """
    base = directory or default_cases_dir()
    doc = load_yaml(base / "published.yaml", "published.yaml")
    try:
        parsed = _File.model_validate(doc.data)
    except ValidationError as error:
        raise CaseFileError(f"published.yaml: {error}") from None
    cases = []
    for entry in parsed.patients:
        path = base / entry.profile
        try:
            profile = parse_profile(path.read_bytes())
        except ProfileError as error:
            raise ProfileError(error.problems, source=str(path)) from None
        except OSError as error:
            raise CaseFileError(f"{path}: cannot read: {error.strerror}") from None
        cases.append(
            PublishedCase(
                number=entry.number,
                profile=profile,
                published_choice=entry.published_choice,
                vignette=" ".join(entry.vignette.split()),
                published_rationale=" ".join(entry.published_rationale.split()),
                encoding=" ".join(entry.encoding.split()),
                context=parsed.context,
                path=path,
                hindsight=_tidy(entry.hindsight),
                source=parsed.source,
            )
        )
    return sorted(cases, key=lambda c: c.number)


def library_choice(recommendation: Recommendation) -> Choice:
    """Return the library's choice in the terms of the published decisions.

    ``"neither"`` when no option is eligible; ``"no-preference"`` when the eligible
    options tie.
    """
    if recommendation.preferred is not None:
        return recommendation.preferred
    if any(o.status != "not_eligible" for o in recommendation.options):
        return "no-preference"
    return "neither"


@dataclass(frozen=True)
class Replay:
    """A published case replayed: in its own context, and in today's default context."""

    case: PublishedCase
    recommendation: Recommendation
    today: Recommendation
    rulebook: Rulebook

    def name(self, choice: str) -> str:
        """A choice in words (see ``choice_name``)."""
        return choice_name(choice, self.rulebook)

    @property
    def choice(self) -> Choice:
        """The library's choice in the published case's context."""
        return library_choice(self.recommendation)

    @property
    def agrees(self) -> bool:
        """Whether the library's choice is the published one."""
        return self.choice == self.case.published_choice

    @property
    def today_choice(self) -> Choice:
        """The library's choice for the same patient in today's context."""
        return library_choice(self.today)


def replay(cases: list[PublishedCase], rulebook: Rulebook | None = None) -> list[Replay]:
    """Return each case's recommendation in its own context and in the default one."""
    book = rulebook or default_rulebook()
    for case in cases:
        if case.published_choice not in (*book.option_ids, "neither"):
            raise CaseFileError(
                f"patient {case.number}: published_choice '{case.published_choice}' is not "
                f"an option ({', '.join(book.option_ids)}) or neither"
            )
    return [
        Replay(
            case=case,
            recommendation=recommend(case.profile, rulebook=book, context=case.context),
            today=recommend(case.profile, rulebook=book),
            rulebook=book,
        )
        for case in cases
    ]
