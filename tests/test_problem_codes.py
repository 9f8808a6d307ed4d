"""Every problem carries a stable code beside its message, for software to act on, and
the outputs carry the interchange format's version."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import BASE_PROFILE, patched
from test_bad_input import BAD, UNKNOWN_KEYS, WRONG_SHAPES

from sequencer import FORMAT_VERSION, PROBLEM_CODES, ProfileError, recommend
from sequencer.batch import recommend_many
from sequencer.explain.whatif import what_if


def _codes(data: Any) -> dict[str, set[str]]:
    with pytest.raises(ProfileError) as caught:
        recommend(data)
    out: dict[str, set[str]] = {}
    for problem in caught.value.problems:
        out.setdefault(problem.field, set()).add(problem.code)
    return out


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        (b"{not json", "", "malformed_json"),
        (b"\xff\xfe", "", "malformed_json"),
        ("[" * 2000 + "]" * 2000, "", "too_deep"),
        ('{"id": "x", "age": 1' + "0" * 5000 + "}", "", "too_large"),
        ('{"id": "x", "id": "y"}', "id", "duplicate_key"),
        ("[1, 2]", "", "not_an_object"),
        (patched({"weight": 70}), "weight", "unknown_field"),
        ({"age": 40}, "id", "missing_field"),
        (patched({"age": "64"}), "age", "wrong_type"),
        (patched({"age": 17}), "age", "out_of_range"),
        (patched({"disease.marrow_blasts_pct": 101}), "disease.marrow_blasts_pct", "out_of_range"),
        (patched({"disease.cd19": "CD19+"}), "disease.cd19", "invalid_value"),
        (patched({"disease": "lots"}), "disease", "not_an_object"),
        (
            patched({"transplant.prior_allo_hct": False, "transplant.gvhd": "active"}),
            "transplant.gvhd",
            "contradiction",
        ),
        (patched({"format_version": "2"}), "format_version", "invalid_value"),
    ],
)
def test_each_kind_of_problem_has_its_code(data: Any, field: str, code: str) -> None:
    assert code in _codes(data).get(field, set())


@pytest.mark.parametrize("what", [b[0] for b in BAD + UNKNOWN_KEYS])
def test_every_problem_in_the_battery_has_a_documented_code(what: str) -> None:
    patch = {b[0]: b[1] for b in BAD + UNKNOWN_KEYS}[what]
    for codes in _codes(patched(patch)).values():
        assert codes <= set(PROBLEM_CODES)


def test_wrong_shapes_have_documented_codes() -> None:
    for data in WRONG_SHAPES:
        for codes in _codes(data).values():
            assert codes <= set(PROBLEM_CODES)


def test_a_batch_keeps_the_codes_across_processes() -> None:
    lines = [json.dumps(patched({"age": 17})), json.dumps(BASE_PROFILE)]
    results = list(recommend_many(lines, processes=2, chunk_size=1))
    assert [p.code for p in results[0].problems] == ["out_of_range"]
    assert results[1].recommendation is not None


def test_outputs_say_their_format_version() -> None:
    rec = recommend(BASE_PROFILE)
    assert FORMAT_VERSION == "1" and rec.format_version == FORMAT_VERSION
    assert json.loads(rec.model_dump_json())["format_version"] == "1"
    assert what_if(BASE_PROFILE).format_version == "1"
    stated = recommend(patched({"format_version": "1"}))
    assert stated.preferred == rec.preferred and stated.reasons == rec.reasons
