"""The cases teaching draws on: the review's patients, the literature cases, a teacher's.

Three sources, one shape (``TeachingCase``):

- ``published``: the review's patients (``examples/patients/``), in the review's
  regulatory context, with the published choice, the review's rationale (our summary)
  and, where the authors looked back, their hindsight (``published.yaml``);
- ``literature``: the cases reported beside or after the review
  (``examples/literature/cases.yaml``), in today's context, with the clinicians' choice;
- a teacher's path: a v1 profile (``.json``), a directory of profiles, a directory
  holding a ``published.yaml`` in the published patients' format, or a YAML file in the
  literature cases' format. Profiles alone carry no published decision.

Cases are numbered 1, 2, ... in the order they are gathered; an answer names a case by
that number or by its key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from sequencer.errors import CaseFileError, ProfileError, RuleBaseError
from sequencer.explain.impact import default_literature_file
from sequencer.explain.published import Hindsight, load_cases
from sequencer.knowledge.yamlsource import load_yaml
from sequencer.model.parsing import parse_profile
from sequencer.model.profile import PatientProfile

__all__ = ["LITERATURE", "PUBLISHED", "TeachingCase", "gather", "literature_cases", "published"]

PUBLISHED = "published"
LITERATURE = "literature"
Source = Literal["published", "literature", "teacher"]
_MAX_FILES = 500


@dataclass(frozen=True)
class TeachingCase:
    """One case to teach from: a profile, where it comes from and what was decided."""

    number: int
    key: str
    """``patient-4``, a literature case's id, or a teacher's file name (without suffix)."""
    source: Source
    profile: PatientProfile
    context: str | None
    """The regulatory context to decide in (None: the rule base's default)."""
    published_choice: str | None
    """The published (or clinicians') choice: an option's id or ``neither``; None if none."""
    vignette: str
    """The publication's own summary of the case (ours, paraphrased); may be empty."""
    published_rationale: str
    hindsight: Hindsight | None
    citation: str | None
    """The bibliography key of the publication, if any."""
    documented_difference: str | None = None
    """Why the rules do not reach the published choice, when the case file says so."""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "case"


def published(directory: Path | None = None) -> list[TeachingCase]:
    """Return the review's patients (or those of ``directory``'s ``published.yaml``).

    Raises ``CaseFileError`` or ``ProfileError`` (naming the file) for a bad case file.
    """
    try:
        found = load_cases(directory)
    except RuleBaseError as error:
        raise CaseFileError(f"{directory}: not a published-case file ({error})") from None
    return [
        TeachingCase(
            number=c.number,
            key=f"patient-{c.number}",
            source="published" if directory is None else "teacher",
            profile=c.profile,
            context=c.context,
            published_choice=c.published_choice,
            vignette=c.vignette,
            published_rationale=c.published_rationale,
            hindsight=c.hindsight,
            citation=c.source or None,
        )
        for c in found
    ]


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def literature_cases(path: Path | None = None, source: Source = "literature") -> list[TeachingCase]:
    """Return the cases of a literature case file (default: the shipped one).

    Raises ``CaseFileError`` for a file that cannot be read or is not a case file, and
    ``ProfileError`` (naming the case) for an invalid profile.
    """
    file = path or default_literature_file()
    if file is None:
        raise CaseFileError("the literature cases were not installed with the package")
    try:
        doc = load_yaml(file, file.name)
    except RuleBaseError as error:
        raise CaseFileError(f"{file}: not a case file ({error})") from None
    raw = doc.data.get("cases") if isinstance(doc.data, dict) else None
    if not isinstance(raw, list):
        raise CaseFileError(f"{file}: expected a mapping with a list under 'cases'")
    out = []
    for index, case in enumerate(raw, 1):
        where = f"{file}: case {index}"
        if not isinstance(case, dict) or not isinstance(case.get("profile"), dict):
            raise CaseFileError(f"{where}: expected a mapping with a 'profile' mapping")
        key = _slug(str(case.get("id") or f"case-{index}"))
        try:
            profile = parse_profile(case["profile"])
        except ProfileError as error:
            raise ProfileError(error.problems, source=f"{file} ({key})") from None
        chose = case.get("clinicians_chose")
        differs = case.get("library_differs")
        out.append(
            TeachingCase(
                number=index,
                key=key,
                source=source,
                profile=profile,
                context=_text(case["context"]) if case.get("context") else None,
                published_choice=_text(chose) if chose else None,
                vignette=_text(case.get("summary")),
                published_rationale=_text(case.get("summary")),
                hindsight=None,
                citation=_text(case["source"]) if case.get("source") else None,
                documented_difference=_text(differs.get("why"))
                if isinstance(differs, dict) and differs.get("why")
                else None,
            )
        )
    return out


def _profile_file(path: Path) -> TeachingCase:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CaseFileError(f"{path}: cannot read: {error.strerror}") from None
    try:
        profile = parse_profile(data)
    except ProfileError as error:
        raise ProfileError(error.problems, source=str(path)) from None
    return TeachingCase(
        number=1,
        key=_slug(path.stem),
        source="teacher",
        profile=profile,
        context=None,
        published_choice=None,
        vignette="",
        published_rationale="",
        hindsight=None,
        citation=None,
    )


def _from_path(path: Path) -> list[TeachingCase]:
    if path.is_dir():
        if (path / "published.yaml").is_file():
            return published(path)
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".json", ".yaml", ".yml"))
        if len(files) > _MAX_FILES:
            raise CaseFileError(f"{path}: more than {_MAX_FILES} case files")
        out: list[TeachingCase] = []
        for file in files:
            out += _from_path(file)
        if not out:
            raise CaseFileError(f"{path}: no profiles (.json) or case files (.yaml) in it")
        return out
    if not path.exists():
        raise CaseFileError(f"{path}: no such file or directory")
    if path.suffix.lower() in (".yaml", ".yml"):
        return literature_cases(path, source="teacher")
    return [_profile_file(path)]


def gather(
    sources: Sequence[str | Path] = (PUBLISHED,), context: str | None = None
) -> list[TeachingCase]:
    """Return the cases of ``sources``, numbered 1, 2, ... in order.

    Each source is ``published``, ``literature`` or a path (see the module docstring);
    ``context`` is the regulatory context of the cases that do not name their own.
    Raises ``CaseFileError`` for a missing or malformed case file (or a key used twice)
    and ``ProfileError`` for an invalid profile.
    """
    cases: list[TeachingCase] = []
    for source in sources:
        if source == PUBLISHED:
            cases += published()
        elif source == LITERATURE:
            cases += literature_cases()
        else:
            cases += _from_path(Path(source))
    out = []
    seen: set[str] = set()
    for number, case in enumerate(cases, 1):
        if case.key in seen:
            raise CaseFileError(f"two cases are called {case.key!r}; rename one")
        seen.add(case.key)
        out.append(replace(case, number=number, context=case.context or context))
    return out
