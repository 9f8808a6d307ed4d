"""Past decisions from a CSV a hospital fills from its board minutes: one decision a row,
the profile's fields as columns (their dotted paths), a blank cell for a fact the
minutes do not state.

Columns besides the profile's: ``case_id`` (required), ``chosen`` (an option id such as
``car_t`` or ``blinatumomab``, ``none``, or another therapy's name), ``acceptable``
(option ids separated by ``;``, for a choice that was one of two defensible ones),
``close_call_ok`` (``yes`` when the minutes call it a close call), ``context``,
``meeting_date`` (YYYY-MM-DD), ``source`` and ``note``. A list field
(``disease.abl1_mutations``, ``contraindications``) takes values separated by ``;``, and
``none`` for an empty list (assessed, nothing found).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sequencer.errors import CorpusError, Problem, ProfileError
from sequencer.explain.corpus import ValidationCase, case_from_mapping
from sequencer.model.fields import FIELDS, nest

__all__ = ["CASE_COLUMNS", "csv_header", "read_board_minutes"]

CASE_COLUMNS = (
    "case_id",
    "chosen",
    "acceptable",
    "close_call_ok",
    "context",
    "meeting_date",
    "source",
    "note",
)
"""The columns that describe the decision; the profile's fields follow them."""

_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_ROWS = 100_000


def csv_header() -> str:
    """Return the template's header line: the decision's columns, then every profile
    field's dotted path."""
    return ",".join((*CASE_COLUMNS, *FIELDS)) + "\n"


def _cell(path: str, text: str) -> Any:
    """The profile value a cell holds; raises ``ValueError`` saying what was expected."""
    spec = FIELDS[path]
    if spec.kind == "number":
        try:
            return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
        except ValueError:
            raise ValueError(f"a number is expected, found '{text}'") from None
    if spec.kind == "boolean":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"yes or no is expected, found '{text}'")
    if spec.kind == "list":
        return [] if text.lower() == "none" else [v.strip() for v in text.split(";") if v.strip()]
    return text


def _expectation(row: Mapping[str, str]) -> dict[str, Any]:
    chosen = row.get("chosen", "").strip()
    expect: dict[str, Any] = {}
    acceptable = [a.strip() for a in row.get("acceptable", "").split(";") if a.strip()]
    if acceptable:
        expect["acceptable"] = [None if a == "none" else a for a in acceptable]
    elif chosen == "none":
        expect["preferred"] = None
    elif chosen:
        expect["preferred"] = chosen
    if (row.get("close_call_ok") or "").strip().lower() in _TRUE:
        expect["close_call_ok"] = True
    return expect


def _row_case(row: Mapping[str, str], origin: str) -> ValidationCase:
    from sequencer.model.parsing import parse_profile

    problems: list[Problem] = []
    flat: dict[str, Any] = {}
    for path in FIELDS:
        text = (row.get(path) or "").strip()
        if not text:
            continue
        try:
            flat[path] = _cell(path, text)
        except ValueError as error:
            problems.append(Problem(f"{origin}: {path}", str(error), "wrong_type"))
    case_id = (row.get("case_id") or "").strip()
    if not case_id:
        problems.append(Problem(f"{origin}: case_id", "every row needs a case id", "missing_field"))
    date = (row.get("meeting_date") or "").strip()
    if date and not _DATE.match(date):
        problems.append(Problem(f"{origin}: meeting_date", f"YYYY-MM-DD, found '{date}'"))
    ok = (row.get("close_call_ok") or "").strip().lower()
    if ok and ok not in _TRUE | _FALSE:
        problems.append(Problem(f"{origin}: close_call_ok", f"yes or no, found '{ok}'"))
    profile = {"id": case_id or "row", **nest(flat)}
    try:
        parse_profile(profile)
    except ProfileError as error:
        problems.extend(Problem(f"{origin}: {p.field}", p.message, p.code) for p in error.problems)
    if problems:
        raise CorpusError(problems)
    chosen = (row.get("chosen") or "").strip()
    note = " ".join(x for x in ((row.get("note") or "").strip(), date and f"(board {date})") if x)
    source = (row.get("source") or "").strip()
    data: dict[str, Any] = {
        "id": case_id,
        "profile": profile,
        "expect": _expectation(row),
        "decision": {"chosen": chosen} if chosen else None,
        "source": {"citation": source, "kind": "board-minutes"} if len(source) >= 3 else None,
        "note": note or None,
    }
    if (row.get("context") or "").strip():
        data["context"] = row["context"].strip()
    return case_from_mapping(data, origin)


def read_board_minutes(path: Path) -> list[ValidationCase]:
    """Return the cases of the CSV file ``path``, one a row.

    Raises ``CorpusError`` listing every problem of every row (row number and column),
    an unknown column, or an unreadable file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CorpusError([Problem(str(path), f"cannot be read ({error})")]) from None
    reader = csv.DictReader(text.splitlines())
    known = set(CASE_COLUMNS) | set(FIELDS)
    unknown = [c for c in (reader.fieldnames or []) if c not in known]
    if not reader.fieldnames or "case_id" not in reader.fieldnames:
        raise CorpusError([Problem(str(path), "the header must name case_id (see --csv-template)")])
    problems = [
        Problem(f"{path}: {c}", "not a column of the template", "unknown_field") for c in unknown
    ]
    names = list(reader.fieldnames)
    problems += [
        Problem(f"{path}: {c}", "the column is given twice (which cell would count?)")
        for c in dict.fromkeys(names)
        if names.count(c) > 1
    ]
    cases: list[ValidationCase] = []
    for number, row in enumerate(reader, start=2):
        if number > MAX_ROWS:
            problems.append(Problem(str(path), f"more than {MAX_ROWS:,} rows", "too_large"))
            break
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        if None in row:
            problems.append(Problem(f"{path} row {number}", "more cells than columns"))
            continue
        try:
            cases.append(_row_case(row, f"{path} row {number}"))
        except CorpusError as error:
            problems.extend(error.problems)
    if problems:
        raise CorpusError(problems)
    return cases
