"""The v1 profile: strict validation, every problem named by its field path, unknown
kept unknown, contradictions rejected."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import BASE_PROFILE, patched

from sequencer import PatientProfile, ProfileError, parse_profile, recommend
from sequencer.model.fields import FIELDS, flatten


def _fields(data: Any) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        parse_profile(data)
    return [p.field for p in caught.value.problems]


def test_issue_example_profile_is_accepted() -> None:
    """The interchange example from the issue validates as is."""
    example = {
        "id": "patient-1",
        "age": 64,
        "ecog": 1,
        "disease": {
            "status": "relapsed",
            "marrow_blasts_pct": 10,
            "mrd_pct": None,
            "cd19": "positive",
            "ph": "negative",
            "abl1_mutations": [],
            "kmt2a_rearranged": False,
            "cns": "CNS1",
            "cns_relapse_history": False,
            "extramedullary": "none",
            "rapidly_progressing": False,
        },
        "transplant": {
            "prior_allo_hct": False,
            "months_since_hct": None,
            "on_immunosuppression": False,
            "gvhd": "none",
            "donor": "matched_sibling",
            "candidate": True,
        },
        "prior_therapy": {"blinatumomab": "none", "car_t": "none"},
        "access": {"car_t": "trial"},
    }
    profile = parse_profile(example)
    assert profile.disease.cd19 == "positive"
    assert parse_profile(json.dumps(example)) == profile


def test_every_problem_is_reported_with_its_field_path() -> None:
    """Several faults at once are all listed, top level and nested."""
    bad = patched({"age": "64", "disease.cd19": "maybe", "transplant.donor": 3})
    bad["extra"] = 1
    bad["disease"]["blasts"] = 5
    assert sorted(_fields(bad)) == sorted(
        ["age", "disease.cd19", "transplant.donor", "extra", "disease.blasts"]
    )


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"age": 17}, "age"),
        ({"age": 121}, "age"),
        ({"ecog": 5}, "ecog"),
        ({"disease.marrow_blasts_pct": 100.5}, "disease.marrow_blasts_pct"),
        ({"disease.marrow_blasts_pct": -1}, "disease.marrow_blasts_pct"),
        ({"disease.mrd_pct": float("nan")}, "disease.mrd_pct"),
        ({"transplant.months_since_hct": float("inf")}, "transplant.months_since_hct"),
        ({"age": True}, "age"),
        ({"transplant.candidate": "yes"}, "transplant.candidate"),
        ({"disease.abl1_mutations": "T315I"}, "disease.abl1_mutations"),
        # the fields added for the 2026 knowledge (issue 10)
        ({"prior_therapy.inotuzumab": "partial"}, "prior_therapy.inotuzumab"),
        ({"prior_therapy.inotuzumab": True}, "prior_therapy.inotuzumab"),
        ({"prior_therapy.blinatumomab": "consolidated"}, "prior_therapy.blinatumomab"),
        ({"transplant.original_donor": "none"}, "transplant.original_donor"),
        ({"transplant.original_donor": "unknown"}, "transplant.original_donor"),
        ({"contraindications": "active_infection"}, "contraindications"),
        ({"contraindications": ["curses"]}, "contraindications[0]"),
        (
            {"contraindications": ["active_infection", "active_infection"]},
            "contraindications",
        ),
    ],
)
def test_out_of_range_or_mistyped_values_are_rejected(patch: dict[str, Any], field: str) -> None:
    """Ranges and types are checked; booleans are not numbers, strings are not booleans."""
    assert _fields(patched(patch)) == [field]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        (
            {"disease.status": "mrd_positive", "disease.marrow_blasts_pct": 60},
            "disease.marrow_blasts_pct",
        ),
        (
            {
                "disease.status": "mrd_positive",
                "disease.marrow_blasts_pct": 1,
                "disease.mrd_pct": 0,
            },
            "disease.mrd_pct",
        ),
        (
            {"transplant.prior_allo_hct": False, "transplant.months_since_hct": 3},
            "transplant.months_since_hct",
        ),
        ({"transplant.prior_allo_hct": False, "transplant.gvhd": "active"}, "transplant.gvhd"),
        ({"disease.ph": "negative", "disease.abl1_mutations": ["T315I"]}, "disease.abl1_mutations"),
        (
            {"transplant.prior_allo_hct": False, "transplant.original_donor": "cord"},
            "transplant.original_donor",
        ),
    ],
)
def test_contradictions_are_rejected_naming_the_field(patch: dict[str, Any], field: str) -> None:
    """Contradictory data is an error on the field, not a silent guess."""
    assert _fields(patched(patch)) == [field]


def test_messages_say_what_is_wrong_in_words_not_in_patterns() -> None:
    """An id with control characters, a malformed variant name and a number too long
    to read are explained in words: no regular expression, no Python advice."""
    with pytest.raises(ProfileError) as caught:
        parse_profile(patched({"id": "p\x1b]0;x\x07", "disease.abl1_mutations": ["T 315 I"]}))
    messages = {p.field: p.message for p in caught.value.problems}
    assert messages["id"].startswith("must be printable text")
    assert messages["disease.abl1_mutations[0]"].startswith("must be a variant name")
    assert not any("^" in m or "\\x" in m.split("; got")[0] for m in messages.values())
    with pytest.raises(ProfileError) as caught:
        parse_profile('{"id": "p", "age": ' + "9" * 5000 + "}")
    (problem,) = caught.value.problems
    assert problem.code == "too_large"
    assert "4,300 digits" in problem.message and "sys." not in problem.message


@pytest.mark.parametrize("data", [None, [], "not json", "[1, 2]", 42, "{", b"\xff"])
def test_wrong_shapes_and_malformed_json_are_rejected(data: Any) -> None:
    """Anything but a JSON object is refused with a ProfileError, never a crash."""
    with pytest.raises(ProfileError):
        parse_profile(data)


def test_null_means_unknown_and_stays_unknown() -> None:
    """null enumerations with an explicit unknown become "unknown"; others stay None."""
    profile = parse_profile(
        {"id": "x", "disease": {"cd19": None, "cns": None}, "transplant": {"candidate": None}}
    )
    assert profile.disease.cd19 == "unknown" and profile.disease.cns == "unknown"
    assert profile.transplant.candidate is None
    assert profile.access.car_t is None


@pytest.mark.parametrize("prior_hct", [False, True, None])
def test_unknown_is_never_read_as_no(prior_hct: bool | None) -> None:
    """An unknown transplant candidacy is reported as missing, never taken as 'no'."""
    rec = recommend(patched({"transplant.candidate": None, "transplant.prior_allo_hct": prior_hct}))
    assert "transplant.candidate" in {m.field for m in rec.missing}
    assert "transplant-unlikely-car-t-durability" not in {r.rule for r in rec.reasons}


@pytest.mark.parametrize(
    ("mrd", "below"),
    [(0.00005, True), (0.00001, True), (1e-7, True), (0.0999, True), (0.1, False), (4.99, False)],
)
def test_ngs_level_mrd_values_are_compared_correctly(mrd: float, below: bool) -> None:
    """MRD values Python writes in exponent form reach the engine and compare right."""
    rec = recommend(
        patched(
            {
                "disease.status": "mrd_positive",
                "disease.marrow_blasts_pct": 0,
                "disease.mrd_pct": mrd,
            }
        )
    )
    reasons = {r.rule for r in rec.reasons}
    cautions = {w.rule for w in rec.warnings}
    assert ("mrd-below-licensed-threshold" in cautions) is below
    assert ("mrd-level-disease" in reasons) is not below


def test_profiles_are_frozen() -> None:
    """A validated profile cannot be changed behind the library's back."""
    profile = parse_profile(BASE_PROFILE)
    with pytest.raises(Exception, match="frozen"):
        profile.age = 30  # type: ignore[misc]


def test_field_catalogue_covers_every_leaf_of_the_profile() -> None:
    """Rule conditions can address exactly the profile's leaf fields."""
    assert set(flatten(parse_profile(BASE_PROFILE))) == set(FIELDS)
    assert "id" not in FIELDS


def test_json_schema_is_published_and_forbids_extra_keys() -> None:
    """The profile's JSON Schema is available and strict."""
    schema = PatientProfile.model_json_schema()
    assert schema["additionalProperties"] is False
    assert "disease" in schema["properties"]
