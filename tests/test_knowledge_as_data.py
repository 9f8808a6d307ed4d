"""Knowledge as data: the code under src/ names no option of the rule base.

The options (ids, names, which one is given as products) live in rules/rulebook.yaml;
code reads them from the compiled rule base. Profile field names are published contract
names, so a field path that contains an option id may appear, but only as listed here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

PROFILE_FIELD_PATHS = frozenset(
    {
        # The v1 profile field saying whether the option given as products can be had
        # (approved, trial, unavailable): sequencer.knowledge.contexts.ACCESS_FIELD, the
        # one place it is spelled out.
        "access.car_t",
    }
)
"""String literals that contain an option id and are allowed: profile field paths only."""

_PATH_LIKE = re.compile(r"[A-Za-z0-9_.\[\]*-]+")


def _option_ids() -> list[str]:
    manifest = yaml.safe_load((ROOT / "rules" / "rulebook.yaml").read_text(encoding="utf-8"))
    return [option["id"] for option in manifest["options"]]


def _naming_literals(source: str, ids: list[str]) -> list[tuple[int, str]]:
    """(line, literal) for every string constant that is an option id, or a path-like
    string (no spaces) with an option id as one of its dotted parts."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        text = node.value
        parts = re.split(r"[.\[\]]", text) if _PATH_LIKE.fullmatch(text) else [text]
        if any(option in parts for option in ids):
            found.append((node.lineno, text))
    return found


def test_no_option_id_is_a_string_literal_in_the_source() -> None:
    ids = _option_ids()
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in sorted(SRC.rglob("*.py"))
        for line, text in _naming_literals(path.read_text(encoding="utf-8"), ids)
        if text not in PROFILE_FIELD_PATHS
    ]
    assert offending == [], "option ids belong in rules/rulebook.yaml:\n" + "\n".join(offending)


def test_the_literal_scan_finds_ids_in_plain_strings_paths_and_f_strings() -> None:
    source = (
        'a = "car_t"\n'
        'b = {"defer": "blinatumomab"}\n'
        'c = "prior_therapy.car_t"\n'
        'd = f"{x}.car_t"\n'
        'e = "CAR T cells wait for car_t in prose"\n'
    )
    found = _naming_literals(source, ["blinatumomab", "car_t"])
    assert sorted(line for line, _ in found) == [1, 2, 3, 4]


def test_every_allowed_literal_is_a_profile_field_path() -> None:
    from sequencer.model.fields import FIELDS

    assert set(FIELDS) >= PROFILE_FIELD_PATHS
