"""The published JSON Schemas: current, shipped, and in agreement with the library."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import PATIENTS_DIR, REPO, patched

from sequencer import ProfileError, parse_profile, recommend
from sequencer.cli import main
from sequencer.model.schemas import SCHEMA_NAMES, schema


def _shipped(name: str) -> dict[str, Any]:
    text = (resources.files("sequencer") / "schemas" / f"{name}-v1.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _examples() -> list[Any]:
    found: list[Any] = [json.loads(p.read_text()) for p in sorted(PATIENTS_DIR.glob("*.json"))]
    cases = yaml.safe_load((REPO / "examples" / "literature" / "cases.yaml").read_text())
    found += [case["profile"] for case in cases["cases"]]
    for line in (REPO / "examples" / "tumor_board_day.jsonl").read_text().splitlines():
        try:  # the day's list holds deliberately broken lines too: only valid ones here
            found.append(parse_profile(line).model_dump(mode="json"))
        except ProfileError:
            continue
    return found


PROFILE = jsonschema.Draft202012Validator(schema("profile"))
RECOMMENDATION = jsonschema.Draft202012Validator(schema("recommendation"))


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_the_shipped_schema_is_current_and_a_2020_12_schema(name: str) -> None:
    """`make schemas` regenerates them; a stale one fails here."""
    assert _shipped(name) == schema(name)
    jsonschema.Draft202012Validator.check_schema(schema(name))
    assert schema(name)["$id"] == f"urn:sequencer:schema:{name}:v1"


def test_every_example_profile_and_its_recommendation_validate() -> None:
    examples = _examples()
    assert len(examples) > 20
    for data in examples:
        PROFILE.validate(data)
        parse_profile(data)
        RECOMMENDATION.validate(recommend(data).model_dump(mode="json"))


@pytest.mark.parametrize(
    "patch",
    [
        {"age": 500},
        {"age": "forty"},
        {"disease.cd19": "blue"},
        {"disease.marrow_blasts_pct": 101},
        {"transplant.donor": "brother"},
        {"contraindications": ["curses"]},
        {"ecog": 1.5},
    ],
)
def test_a_profile_the_schema_rejects_the_library_rejects(patch: dict[str, Any]) -> None:
    data = patched(patch)
    assert not PROFILE.is_valid(data)
    with pytest.raises(ProfileError):
        parse_profile(data)


@pytest.mark.parametrize(
    "patch",
    [
        {"disease": None},
        {"transplant": None},
        {"prior_therapy": None},
        {"access": None},
        {"immune": None},
        {"disease.cd19": None},
        {"disease.ph": None, "disease.abl1_mutations": None},
        {"disease.cns": None},
        {"disease.extramedullary": None},
        {"transplant.donor": None},
    ],
)
def test_a_null_section_or_null_unknown_is_accepted_by_both(patch: dict[str, Any]) -> None:
    """Null means unknown for a whole section and for the spelled-out "unknown" values;
    the schema once refused what the library accepts (found by fuzzing the service)."""
    data = patched(patch)
    PROFILE.validate(data)
    parse_profile(data)


def test_an_unknown_key_is_refused_by_both() -> None:
    data = {**patched({}), "colour": "blue"}
    assert not PROFILE.is_valid(data)
    with pytest.raises(ProfileError):
        parse_profile(data)


def test_schema_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "profile"]) == 0
    assert json.loads(capsys.readouterr().out) == schema("profile")
