"""Exceptions raised by sequencer.

Every exception the library raises on purpose derives from one root, so that an
integrator can catch everything with a single ``except SequencerError``::

    SequencerError
    ├── ProfileError         a patient profile is malformed, out of range or contradictory
    │                        (``.problems``: every problem, each with its field path)
    ├── RuleBaseError        a rule file is broken (``.path``, ``.line``, ``.rule_id``)
    ├── UnknownContextError  no regulatory context of that name (``.known``: the names)
    ├── CaseFileError        a case file (published patients, literature cases) is
    │                        missing or unreadable
    ├── AnswerFileError      a student's answer file is unreadable or malformed
    ├── UsageError           an argument out of its range (processes, chunk size)
    ├── FhirError            FHIR input that cannot be read or mapped: invalid resources,
    │                        contradicting resources (``.problems``: each with its path)
    ├── CorpusError          a validation corpus (case files, a board-minutes CSV) that
    │                        cannot be read (``.problems``: each with file and field path)
    └── EngineError          the rule engine failed while evaluating a valid profile

All but ``EngineError`` also derive from ``ValueError`` (``UnknownContextError`` from
``LookupError``): they describe bad data or arguments, not a bug in the library.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PROBLEM_CODES",
    "AnswerFileError",
    "CaseFileError",
    "CorpusError",
    "EngineError",
    "FhirError",
    "Problem",
    "ProfileError",
    "RuleBaseError",
    "SequencerError",
    "UnknownContextError",
    "UsageError",
]


class SequencerError(Exception):
    """Root of every exception sequencer raises on purpose."""


PROBLEM_CODES: dict[str, str] = {
    "malformed_json": "the text is not JSON (or not UTF-8)",
    "too_large": "the input is larger than a profile can be",
    "too_deep": "nested deeper than a profile can be",
    "cycle": "a structure that refers to itself",
    "duplicate_key": "a key given more than once in one object",
    "not_an_object": "a profile or section that is not a JSON object, or a key that is not text",
    "unknown_field": "a key that is not part of the profile format",
    "missing_field": "a required key is absent",
    "wrong_type": "a value of the wrong JSON type (text for a number, a number for a boolean)",
    "out_of_range": "a number or text outside its allowed range or length",
    "invalid_value": "a value that is not one of the allowed values or forms",
    "contradiction": "values that cannot all be true of one patient",
    "engine_error": "the rule engine failed on this profile (a defect, not the caller's)",
}
"""Every ``Problem.code``, with its meaning. The codes are a stable contract (format v1):
new ones may be added, none is renamed or removed."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a patient profile.

    ``field`` is a dotted path into the profile (``"disease.cd19"``; ``""`` for the
    profile as a whole), ``message`` says what was expected and what was found, and
    ``code`` is its stable kind (one of ``PROBLEM_CODES``) for software to act on.
    """

    field: str
    message: str
    code: str = "invalid_value"

    def __str__(self) -> str:
        return f"{self.field or '<profile>'}: {self.message}"

    def as_json(self) -> dict[str, str]:
        """The problem as the JSON outputs carry it: ``field``, ``code``, ``message``."""
        return {"field": self.field, "code": self.code, "message": self.message}


class ProfileError(SequencerError, ValueError):
    """A patient profile was rejected. ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{where}invalid patient profile ({count} {noun}):\n{lines}")


class RuleBaseError(SequencerError, ValueError):
    """The rule base could not be loaded.

    Carries the file, the 1-based line (when known) and the rule id (when the fault
    lies inside one rule); ``str()`` reads ``rules/x.yaml:12: rule 'some-id': ...``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        rule_id: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.rule_id = rule_id
        super().__init__(self._render())

    def _render(self) -> str:
        parts: list[str] = []
        if self.path:
            parts.append(f"{self.path}:{self.line}" if self.line else self.path)
        if self.rule_id:
            parts.append(f"rule '{self.rule_id}'")
        parts.append(self.message)
        return ": ".join(parts)


class UnknownContextError(SequencerError, LookupError):
    """No regulatory context has this name; ``known`` lists the ones that exist."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown context '{name}' (known: {', '.join(self.known)})")


class CaseFileError(SequencerError, ValueError):
    """A case file (the published patients, the literature cases) is missing or unreadable."""


class AnswerFileError(SequencerError, ValueError):
    """A student's answer file is unreadable or does not have the answer format."""


class UsageError(SequencerError, ValueError):
    """An argument is outside its allowed range."""


class FhirError(SequencerError, ValueError):
    """FHIR input could not be mapped to a profile. ``problems`` lists every problem.

    A problem's ``field`` is a path into the FHIR input (``entry[3].resource.code``) for
    a resource that is not valid FHIR R4, or a profile field (``disease.cd19``) for two
    resources that contradict each other (the message names both).
    """

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        count = len(self.problems)
        lines = "\n".join(f"  - {p.field or '<input>'}: {p.message}" for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{where}FHIR input not mapped ({count} {noun}):\n{lines}")


class CorpusError(SequencerError, ValueError):
    """A validation corpus was rejected. ``problems`` lists every problem found, each
    ``field`` naming the file (and the CSV row) and the path inside the case."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"validation corpus not read ({count} {noun}):\n{lines}")


class EngineError(SequencerError, RuntimeError):
    """The rule engine failed on a profile that passed validation.

    This is a defect in sequencer or in the rule base, never in the caller's data;
    no recommendation is returned when it is raised.
    """
