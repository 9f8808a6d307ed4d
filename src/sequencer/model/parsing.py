"""The single gate every profile passes: JSON text, a mapping or a model in, a
validated ``PatientProfile`` out, or every problem with its field path."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from sequencer.errors import Problem, ProfileError
from sequencer.model.profile import (
    ID_PATTERN,
    MUTATION_PATTERN,
    Disease,
    PatientProfile,
    Transplant,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_TEXT",
    "code_of",
    "load_json_strict",
    "parse_profile",
    "problems_from",
]


MAX_DEPTH = 16


MAX_TEXT = 1_000_000


MAX_NODES = 10_000


def _path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts)


_CODE_OF_TYPE = {
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "contradiction": "contradiction",
    "literal_error": "invalid_value",
    "enum": "invalid_value",
    "string_pattern_mismatch": "invalid_value",
    "model_type": "not_an_object",
    "model_attributes_type": "not_an_object",
    "dict_type": "not_an_object",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "finite_number": "out_of_range",
    "string_too_short": "out_of_range",
    "string_too_long": "out_of_range",
    "too_short": "out_of_range",
    "too_long": "out_of_range",
}


def code_of(error_type: str) -> str:
    """Return the stable problem code (a key of ``PROBLEM_CODES``) of a pydantic error
    type: ``missing`` -> ``missing_field``, ``extra_forbidden`` -> ``unknown_field``,
    ``*_type``/``*_parsing`` -> ``wrong_type``, bounds -> ``out_of_range``, else
    ``invalid_value``."""
    if error_type in _CODE_OF_TYPE:
        return _CODE_OF_TYPE[error_type]
    if error_type.endswith(("_type", "_parsing")) or error_type.startswith("int_from"):
        return "wrong_type"
    return "invalid_value"


_PATTERN_WORDS = {
    ID_PATTERN: "must be printable text (no control, line-break or bidirectional characters)",
    MUTATION_PATTERN: "must be a variant name of letters, digits and _ : / . + - only",
}


def problems_from(error: ValidationError, prefix: tuple[Any, ...] = ()) -> list[Problem]:
    """Translate a pydantic ``ValidationError`` into ``Problem``s with dotted paths."""
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        loc = tuple(
            part
            for part in item["loc"]
            if not (isinstance(part, str) and ("[" in part or part.startswith("function-")))
        )
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (not part of the profile format)"
        elif item["type"] != "contradiction" and "input" in item:
            if item["type"] == "string_pattern_mismatch":
                pattern = str(item.get("ctx", {}).get("pattern", ""))
                message = _PATTERN_WORDS.get(pattern, message)
            message = f"{message}; got {_show(item['input'])}"
        problems.append(Problem(_path((*prefix, *loc)), message, code_of(item["type"])))
    return problems


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _show(value: object) -> str:
    """A short, printable rendering of an input value, whatever it is."""
    try:
        text = json.dumps(value) if not isinstance(value, float) else repr(value)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except (ValueError, RecursionError):
            text = f"<{_json_type(value)} too large to show>"
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= 60 else text[:57] + "..."


class _Pairs(dict[str, Any]):
    """A JSON object that remembers which of its keys were given more than once."""

    duplicates: list[str]


def _pairs(items: list[tuple[str, Any]]) -> _Pairs:
    out = _Pairs()
    out.duplicates = []
    for key, value in items:
        if key in out and key not in out.duplicates:
            out.duplicates.append(key)
        out[key] = value
    return out


def _where(raw: str, error: json.JSONDecodeError) -> str:
    """Return where JSON text broke: "column C" for one line of text (a batch line: its
    file line is told by the caller), "line L column C" for text of several lines."""
    if "\n" in raw.rstrip("\r\n"):
        return f"line {error.lineno} column {error.colno}"
    return f"column {error.colno}"


def _load_json(
    text: str | bytes, max_bytes: int | None = MAX_TEXT, what: str = "profile text"
) -> Any:
    """Parse JSON text; duplicate keys are remembered (json.loads keeps the last silently).

    Raises ``ProfileError`` for text that is not UTF-8, not JSON, larger than
    ``max_bytes`` (None: no limit), too deeply nested, or holds a number Python will not
    read (more than 4,300 digits).
    """
    if max_bytes is not None and len(text) > max_bytes:
        raise ProfileError([Problem("", f"{what} is larger than {max_bytes:,} bytes", "too_large")])
    try:
        raw = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError as error:
        raise ProfileError(
            [Problem("", f"not UTF-8 text ({error.reason})", "malformed_json")]
        ) from None
    try:
        return json.loads(raw, object_pairs_hook=_pairs)
    except json.JSONDecodeError as error:
        raise ProfileError(
            [
                Problem(
                    "",
                    f"invalid JSON at {_where(raw, error)}: {error.msg}",
                    "malformed_json",
                )
            ]
        ) from None
    except RecursionError:
        raise ProfileError(
            [Problem("", f"nested more than {MAX_DEPTH} levels deep", "too_deep")]
            if what == "profile text"
            else [Problem("", "nested too deeply to read", "too_deep")]
        ) from None
    except ValueError as error:  # e.g. an integer of more than 4,300 digits
        reason = (
            "holds a number of more than 4,300 digits"
            if "integer string conversion" in str(error)
            else _show(str(error))
        )
        raise ProfileError(
            [Problem("", f"not a JSON profile Python can read: {reason}", "too_large")]
            if what == "profile text"
            else [Problem("", f"not JSON Python can read: {reason}", "too_large")]
        ) from None


def _duplicates(data: Any) -> list[Problem]:
    """A ``duplicate_key`` problem, with its path, for every key given more than once in
    one object of ``data`` (as parsed by ``_load_json``); walked without recursion."""
    problems: list[Problem] = []
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, Mapping):
            problems += _repeated_keys(value, path)
            stack.extend(
                (child, f"{path}.{key}" if path else str(key)) for key, child in value.items()
            )
        elif isinstance(value, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(value))
    return sorted(problems, key=lambda p: p.field)


def load_json_strict(text: str | bytes, *, max_bytes: int | None = None) -> Any:
    """Return the JSON value in ``text``, refusing keys given more than once.

    ``json.loads`` keeps the last of two equal keys silently; this reads every object
    and raises ``ProfileError`` with a ``duplicate_key`` problem (and its path, e.g.
    ``entry[2].resource.status``) for each, so no value is chosen for the caller. Also
    raises ``ProfileError`` for text that is not UTF-8 (``malformed_json``), not JSON
    (``malformed_json``, with line and column), larger than ``max_bytes`` when given
    (``too_large``), or nested too deeply for Python to read (``too_deep``). No profile
    limits apply: any JSON document may be read this way. Objects come back as ``dict``
    (a subclass that also lists its repeated keys, here always none).
    """
    data = _load_json(text, max_bytes, "the text")
    problems = _duplicates(data)
    if problems:
        raise ProfileError(problems)
    return data


def _repeated_keys(value: Mapping[str, Any], path: str) -> list[Problem]:
    """A ``duplicate_key`` problem for each key given more than once in one object (as
    parsed by ``_load_json``), at ``path``."""
    return [
        Problem(
            f"{path}.{key}" if path else key,
            "key given more than once (which value is meant?)",
            "duplicate_key",
        )
        for key in getattr(value, "duplicates", ())
    ]


def _shape_problems(data: Any) -> list[Problem]:
    """Problems of shape found without recursion: nesting depth, cycles, size, key types,
    and keys given more than once. Everything else is left to validation."""
    problems: list[Problem] = []
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    seen: set[int] = set()
    nodes = 0
    while stack:
        value, path, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return [
                Problem("", f"holds more than {MAX_NODES:,} values; not a profile", "too_large")
            ]
        if not isinstance(value, Mapping | list | tuple):
            continue
        if depth >= MAX_DEPTH:
            return [Problem(path, f"nested more than {MAX_DEPTH} levels deep", "too_deep")]
        if id(value) in seen:
            return [Problem(path, "refers to itself (a cycle); not a JSON profile", "cycle")]
        seen.add(id(value))
        if isinstance(value, Mapping):
            problems += _repeated_keys(value, path)
            for key, child in value.items():
                if not isinstance(key, str):
                    problems.append(
                        Problem(path, f"keys must be text; got {_show(key)}", "not_an_object")
                    )
                    continue
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
        else:
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(value))
    return sorted(problems, key=lambda p: p.field)


def _as_data(value: Any) -> Any:
    """The plain data inside a model, without serializing it (so nothing is coerced):
    a ``PatientProfile`` built with ``model_copy(update=...)`` or ``model_construct``
    skipped validation, and goes through it again from this."""
    if isinstance(value, BaseModel):
        return {k: _as_data(v) for k, v in value.__dict__.items()}
    if isinstance(value, list | tuple):
        return [_as_data(v) for v in value]
    return value


_SECTIONS: dict[str, type[BaseModel]] = {"disease": Disease, "transplant": Transplant}


def _hidden_contradictions(data: Mapping[str, Any], error: ValidationError) -> list[Problem]:
    """Contradictions pydantic did not report because a sibling field was invalid.

    A section's contradiction checks run only when all its fields are valid; here the
    section is checked again without the invalid fields, so every problem is reported.
    """
    bad: dict[str, set[str]] = {}
    for item in error.errors(include_url=False):
        loc = item["loc"]
        if len(loc) >= 2 and item["type"] != "contradiction":
            bad.setdefault(str(loc[0]), set()).add(str(loc[1]))
    found: list[Problem] = []
    for section, fields in bad.items():
        model = _SECTIONS.get(section)
        raw = data.get(section)
        if model is None or not isinstance(raw, Mapping):
            continue
        trimmed = {k: v for k, v in raw.items() if k not in fields}
        try:
            model.model_validate(trimmed)
        except ValidationError as again:
            found += [
                p
                for p, e in zip(
                    problems_from(again, (section,)), again.errors(include_url=False), strict=True
                )
                if e["type"] == "contradiction"
            ]
    return found


def parse_profile(data: PatientProfile | Mapping[str, Any] | str | bytes) -> PatientProfile:
    """Return a validated ``PatientProfile`` built from ``data``.

    ``data`` may be a profile (validated again: ``model_copy`` and ``model_construct``
    skip validation), a mapping, or JSON text. Raises ``ProfileError`` listing every
    problem, each with its field path, when the data is not a valid profile (wrong JSON,
    wrong shape, wrong types, out-of-range or contradictory values, unknown or repeated
    keys, too large or too deeply nested); never any other exception for bad data.
    """
    try:
        from_text = isinstance(data, str | bytes)
        if isinstance(data, PatientProfile):
            data = _as_data(data)
        elif isinstance(data, str | bytes):
            data = _load_json(data)
        if not isinstance(data, Mapping):
            raise ProfileError(
                [
                    Problem(
                        "",
                        f"a profile must be a JSON object; got {_json_type(data)}",
                        "not_an_object",
                    )
                ]
            )
        # JSON text is walked first (repeated keys, depth); other data only when it
        # fails validation, to name its shape fault (a valid profile is small and flat)
        shape = _shape_problems(data) if from_text else []
        fatal = [p for p in shape if "more than once" not in p.message]
        if fatal:
            raise ProfileError(fatal)
        try:
            profile = PatientProfile.model_validate(dict(data))
        except ValidationError as error:
            if not from_text:
                fatal = _shape_problems(data)
                if fatal:
                    raise ProfileError(fatal) from None
            raise ProfileError(
                shape + problems_from(error) + _hidden_contradictions(data, error)
            ) from None
        if shape:
            raise ProfileError(shape)
        return profile
    except ProfileError:
        raise
    except (RecursionError, ValueError, TypeError, AttributeError, OverflowError) as error:
        raise ProfileError(
            [Problem("", f"not a profile ({type(error).__name__}: {_show(str(error))})")]
        ) from None
