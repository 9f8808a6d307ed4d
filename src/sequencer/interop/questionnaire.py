"""The Questionnaire sequencer ships for facts FHIR has no standard place for, generated
from the profile's fields and the rule base's words, and the reading of answers to it.

Every item's ``linkId`` is the profile field path it fills (``disease.cns``); a coded
answer's code is the profile value itself, in the system ``ANSWER_SYSTEM``. An answer
``unknown``, or no answer, leaves the field unknown. The shipped file
(``questionnaire.json`` beside this module) is this module's output; ``make
questionnaire`` rewrites it and a test fails when it is stale.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sequencer.errors import Problem
from sequencer.interop.codes import code_table
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.fields import FIELDS, FieldSpec

__all__ = [
    "ANSWER_SYSTEM",
    "QUESTIONNAIRE_FILE",
    "QUESTIONNAIRE_URL",
    "QUESTIONNAIRE_VERSION",
    "answers_of",
    "asked_fields",
    "is_ours",
    "questionnaire",
]

QUESTIONNAIRE_URL = "urn:sequencer:questionnaire:patient-facts"
QUESTIONNAIRE_VERSION = "1"
ANSWER_SYSTEM = "urn:sequencer:profile-v1"
QUESTIONNAIRE_FILE = Path(__file__).with_name("questionnaire.json")

_UNKNOWN = "unknown"
_NONE = "none-found"  # a list answer: assessed (or tested) and nothing found -> []


def asked_fields() -> list[str]:
    """The profile fields the questionnaire asks for: all but those a standard FHIR place
    carries completely (``standard_only`` in ``fhir-codes.yaml``), in format order."""
    standard = set(code_table().standard_only)
    return [f for f in FIELDS if f not in standard]


def _coding(code: str, display: str) -> dict[str, Any]:
    return {"valueCoding": {"system": ANSWER_SYSTEM, "code": code, "display": display}}


def _item(spec: FieldSpec, book: Rulebook) -> dict[str, Any]:
    words = book.vocabulary
    item: dict[str, Any] = {"linkId": spec.path, "text": words.label(spec.path)}
    if spec.kind == "number":
        unit = words.unit(spec.path).strip()
        item["type"] = "decimal"
        if unit:
            item["text"] += f" ({unit})"
        return item
    options: list[dict[str, Any]] = []
    if spec.kind == "boolean":
        item["type"] = "choice"
        options = [_coding("true", "yes"), _coding("false", "no")]
    elif spec.kind == "enum":
        item["type"] = "choice"
        options = [_coding(v, words.value_text(spec.path, v)) for v in spec.values if v != _UNKNOWN]
    elif spec.values:  # a list of set values
        item["type"] = "choice"
        item["repeats"] = True
        options = [_coding(v, v.replace("_", " ")) for v in spec.values]
        options.append(_coding(_NONE, "assessed, none"))
    else:  # a list of free names
        item["type"] = "open-choice"
        item["repeats"] = True
        options = [_coding(_NONE, "tested, none found")]
    options.append(_coding(_UNKNOWN, "not known"))
    item["answerOption"] = options
    return item


def questionnaire(book: Rulebook) -> dict[str, Any]:
    """Return the FHIR R4 Questionnaire (JSON) for the facts FHIR has no standard place
    for, with the words of ``book``'s vocabulary: one group per profile section, one item
    per field, ``linkId`` the field path."""
    groups: dict[str, list[dict[str, Any]]] = {}
    top: list[dict[str, Any]] = []
    for field in asked_fields():
        item = _item(FIELDS[field], book)
        section, _, _ = field.rpartition(".")
        (groups.setdefault(section, []) if section else top).append(item)
    items = [
        {
            "linkId": section,
            "type": "group",
            "text": section.replace("_", " ").capitalize(),
            "item": members,
        }
        for section, members in groups.items()
    ]
    return {
        "resourceType": "Questionnaire",
        "id": "sequencer-patient-facts",
        "url": QUESTIONNAIRE_URL,
        "version": QUESTIONNAIRE_VERSION,
        "name": "SequencerPatientFacts",
        "title": "Patient facts for sequencer that FHIR has no standard place for",
        "status": "active",
        "subjectType": ["Patient"],
        "description": (
            "Each item's linkId is a field of the sequencer patient profile (format v1); a "
            f"coded answer's code (system {ANSWER_SYSTEM}) is the profile value. An answer "
            "'unknown', or none, leaves the fact unknown. Generated from the profile model "
            "and the rule base's vocabulary."
        ),
        "item": [*items, *top],
    }


def is_ours(response: Mapping[str, Any]) -> bool:
    """Whether a QuestionnaireResponse answers this questionnaire (any version)."""
    canonical = response.get("questionnaire")
    return isinstance(canonical, str) and canonical.split("|")[0] == QUESTIONNAIRE_URL


def _walk(items: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for i, item in enumerate(items if isinstance(items, list) else []):
        here = f"{path}.item[{i}]"
        if isinstance(item, Mapping):
            yield here, item
            yield from _walk(item.get("item"), here)
            for j, answer in enumerate(item.get("answer") or []):
                if isinstance(answer, Mapping):
                    yield from _walk(answer.get("item"), f"{here}.answer[{j}]")


def _value(spec: FieldSpec, answer: Mapping[str, Any]) -> tuple[bool, Any, str | None]:
    """(ok, value, problem): one answer as a profile value; value None for unknown."""
    coding = answer.get("valueCoding")
    code = coding.get("code") if isinstance(coding, Mapping) else None
    if isinstance(coding, Mapping) and coding.get("system") not in (None, ANSWER_SYSTEM):
        return False, None, f"answer coded in {coding.get('system')}, not {ANSWER_SYSTEM}"
    if code == _UNKNOWN:
        return True, None, None
    if spec.kind == "number":
        for key in ("valueDecimal", "valueInteger"):
            if isinstance(answer.get(key), int | float) and not isinstance(answer[key], bool):
                return True, answer[key], None
        return False, None, "a number is expected (valueDecimal)"
    if spec.kind == "boolean":
        if isinstance(answer.get("valueBoolean"), bool):
            return True, answer["valueBoolean"], None
        if code in ("true", "false"):
            return True, code == "true", None
        return False, None, "yes, no or unknown is expected"
    if spec.kind == "enum":
        if code in spec.values:
            return True, code, None
        return False, None, f"one of {', '.join(spec.values)} is expected; got {code!r}"
    if code == _NONE:
        return True, [], None
    if spec.values:
        if code in spec.values:
            return True, [code], None
        return False, None, f"one of {', '.join(spec.values)} is expected; got {code!r}"
    text = answer.get("valueString", code)
    if isinstance(text, str) and text:
        return True, [text], None
    return False, None, "a name (valueString) is expected"


def answers_of(
    response: Mapping[str, Any], path: str, *, keep_unknown: bool = False
) -> tuple[dict[str, tuple[Any, str]], list[Problem]]:
    """Read a QuestionnaireResponse to this questionnaire.

    Returns ``({field: (value, item path)}, problems)``: answered fields with their
    profile values (fields answered only ``unknown`` are left out, or with
    ``keep_unknown`` given the value None: an explicit "not known" that a reader may
    let replace an older answer), and every answer that is not an item of the
    questionnaire or not a value the field can take, each with its path under ``path``.
    """
    asked = set(asked_fields())
    found: dict[str, tuple[Any, str]] = {}
    problems: list[Problem] = []
    for where, item in _walk(response.get("item"), path):
        link = item.get("linkId")
        answers = [a for a in item.get("answer") or [] if isinstance(a, Mapping)]
        if not answers:
            continue  # a group, or an item left unanswered
        if not isinstance(link, str) or link not in asked:
            problems.append(
                Problem(f"{where}.linkId", f"{link!r} is not an item we ask", "unknown_field")
            )
            continue
        spec = FIELDS[link]
        values: list[Any] = []
        said_unknown = False
        for j, answer in enumerate(answers):
            ok, value, problem = _value(spec, answer)
            if not ok:
                problems.append(Problem(f"{where}.answer[{j}]", f"{link}: {problem}"))
            elif value is not None:
                values.append(value)
            else:
                said_unknown = True
        if not values:
            if said_unknown and keep_unknown:
                found[link] = (None, where)
            continue
        if spec.kind == "list":
            merged = [v for value in values for v in value]
            found[link] = (merged, where)
        elif len(values) > 1:
            problems.append(Problem(where, f"{link}: more than one answer"))
        else:
            found[link] = (values[0], where)
    return found, problems
