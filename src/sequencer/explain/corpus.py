"""A validation corpus: past decisions, each a v1 profile with what was chosen, read from
case files (one JSON decision a file, or directories of them) or from a CSV a hospital
fills from its board minutes (``explain/corpus_csv.py``).

A case file::

    {"id": "coh-2",
     "profile": {...v1 profile...},
     "expect": {"preferred": "car_t"},
     "context": "us-2020",
     "decision": {"chosen": "car_t", "why": "..."},
     "source": {"citation": "...", "kind": "case-report", "doi": null, "pmid": null, "url": null},
     "note": "every encoding assumption"}

``expect`` holds what the recorded decision implies; every key that appears must hold
(``explain/validation.py`` judges them). The expectation comes from the source, never
from the library's output.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sequencer.errors import CorpusError, Problem

__all__ = [
    "CaseSource",
    "Decision",
    "Expectation",
    "ValidationCase",
    "case_from_mapping",
    "default_corpus_dir",
    "load_corpus",
]

_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)

SourceKind = Literal[
    "review-patient",
    "case-report",
    "case-series",
    "expert-position",
    "trial-criteria",
    "synthetic",
    "board-minutes",
]


class Expectation(BaseModel):
    """What the recorded decision implies of the library's answer; every key given must
    hold. Option ids are the rule base's (``car_t``, ``blinatumomab``); ``None`` for
    ``preferred`` means no option is preferred."""

    model_config = _STRICT
    preferred: str | None = None
    close_call_ok: bool = False
    acceptable: list[str | None] | None = None
    car_t_deferred: bool | None = None
    car_t_not_eligible: bool | None = None
    car_t_eligible: bool | None = None
    blin_deferred: bool | None = None
    blin_not_eligible: bool | None = None
    blin_eligible: bool | None = None
    all_not_eligible: bool | None = None
    alternatives: bool | None = None
    alternatives_include: list[str] | None = None
    tki_add_on: str | None = None
    ponatinib: bool | None = None
    caution_on: str | None = None
    gvhd_both: bool | None = None
    missing_includes: list[str] | None = None

    def given(self) -> list[str]:
        """The keys the case states (``close_call_ok`` qualifies ``preferred``)."""
        return [k for k in type(self).model_fields if k in self.model_fields_set]


class Decision(BaseModel):
    """What the clinicians chose (an option id, ``none``, or another therapy's name)."""

    model_config = _STRICT
    chosen: str = Field(min_length=1, max_length=200)
    why: str | None = Field(default=None, max_length=4000)


class CaseSource(BaseModel):
    """Where the decision was published (or recorded)."""

    model_config = _STRICT
    citation: str = Field(min_length=3, max_length=1000)
    kind: SourceKind
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None


class ValidationCase(BaseModel):
    """One past decision: the profile as it stood, what was chosen, what that implies."""

    model_config = _STRICT
    id: str = Field(min_length=1, max_length=200)
    profile: dict[str, Any]
    expect: Expectation
    context: str | None = None
    decision: Decision | None = None
    source: CaseSource | None = None
    note: str | None = Field(default=None, max_length=8000)
    origin: str = Field(default="", description="the file (and row) it was read from")


def default_corpus_dir() -> Path:
    """Return the shipped corpus's case directory (installed, or the checkout's).

    Raises ``CorpusError`` when neither exists."""
    shipped = importlib.resources.files("sequencer").joinpath("validation", "cases")
    if shipped.is_dir():
        return Path(str(shipped))
    checkout = Path(__file__).resolve().parents[3] / "examples" / "validation" / "cases"
    if checkout.is_dir():
        return checkout
    raise CorpusError([Problem("", "the validation corpus was not installed with the package")])


def _problems(origin: str, error: ValidationError) -> list[Problem]:
    out = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"])
        out.append(Problem(f"{origin}: {path}", item["msg"], "invalid_value"))
    return out


def case_from_mapping(data: Mapping[str, Any], origin: str) -> ValidationCase:
    """Return the case ``data`` describes (``origin`` names where it was read).

    Raises ``CorpusError`` listing every problem with its path."""
    if not isinstance(data, Mapping):
        raise CorpusError([Problem(origin, "a case is a JSON object", "not_an_object")])
    try:
        return ValidationCase.model_validate({**data, "origin": origin})
    except ValidationError as error:
        raise CorpusError(_problems(origin, error)) from None


def _json_no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key '{key}' is given twice")
        out[key] = value
    return out


def _read_json_case(path: Path) -> ValidationCase:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_json_no_duplicates)
    except (OSError, UnicodeDecodeError) as error:
        problem = Problem(str(path), f"cannot be read ({error})", "malformed_json")
        raise CorpusError([problem]) from None
    except ValueError as error:
        raise CorpusError([Problem(str(path), f"not JSON: {error}", "malformed_json")]) from None
    return case_from_mapping(data, str(path))


def _files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix in (".json", ".csv")))
        else:
            out.append(path)
    return out


def load_corpus(paths: Iterable[Path | str] | None = None) -> list[ValidationCase]:
    """Return every case in ``paths`` (case files, CSV files, or directories of them; the
    shipped corpus when ``None``), in file order.

    Raises ``CorpusError`` listing every problem of every file (a missing file, bad JSON,
    an unknown key, a duplicated case id) before any case is judged."""
    from sequencer.explain.corpus_csv import read_board_minutes

    chosen = [Path(p) for p in paths] if paths is not None else [default_corpus_dir()]
    problems: list[Problem] = []
    cases: list[ValidationCase] = []
    for path in _files(chosen):
        try:
            if not path.exists():
                raise CorpusError([Problem(str(path), "no such file or directory")])
            if path.suffix == ".csv":
                cases.extend(read_board_minutes(path))
            else:
                cases.append(_read_json_case(path))
        except CorpusError as error:
            problems.extend(error.problems)
    seen: dict[str, str] = {}
    for case in cases:
        if case.id in seen:
            problems.append(
                Problem(f"{case.origin}: id", f"'{case.id}' is also in {seen[case.id]}")
            )
        seen.setdefault(case.id, case.origin)
    if problems:
        raise CorpusError(problems)
    if not cases:
        raise CorpusError([Problem(", ".join(map(str, chosen)), "holds no case")])
    return cases
