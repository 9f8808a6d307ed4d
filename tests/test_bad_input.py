"""A battery of bad inputs: every one is rejected with an error naming the field, none
yields a recommendation, and the CLI prints every problem and exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import BASE_PROFILE, patched

from sequencer import ProfileError, recommend

NAN = float("nan")
INF = float("inf")

# (description, patch over the base profile, fields that must be named)
BAD: list[tuple[str, dict[str, Any], set[str]]] = [
    ("age as text", {"age": "64"}, {"age"}),
    ("age as float", {"age": 64.5}, {"age"}),
    ("age as bool", {"age": True}, {"age"}),
    ("child", {"age": 17}, {"age"}),
    ("age too high", {"age": 121}, {"age"}),
    ("negative age", {"age": -1}, {"age"}),
    ("ecog 5", {"ecog": 5}, {"ecog"}),
    ("ecog text", {"ecog": "1"}, {"ecog"}),
    ("blasts > 100", {"disease.marrow_blasts_pct": 101}, {"disease.marrow_blasts_pct"}),
    ("blasts < 0", {"disease.marrow_blasts_pct": -0.1}, {"disease.marrow_blasts_pct"}),
    ("blasts NaN", {"disease.marrow_blasts_pct": NAN}, {"disease.marrow_blasts_pct"}),
    ("blasts inf", {"disease.marrow_blasts_pct": INF}, {"disease.marrow_blasts_pct"}),
    ("blasts text", {"disease.marrow_blasts_pct": "10%"}, {"disease.marrow_blasts_pct"}),
    ("mrd NaN", {"disease.mrd_pct": NAN}, {"disease.mrd_pct"}),
    ("mrd negative", {"disease.mrd_pct": -1e-5}, {"disease.mrd_pct"}),
    ("status typo", {"disease.status": "relapse"}, {"disease.status"}),
    ("cd19 typo", {"disease.cd19": "CD19+"}, {"disease.cd19"}),
    ("cd19 bool", {"disease.cd19": True}, {"disease.cd19"}),
    ("ph lowercase p", {"disease.ph": "Positive"}, {"disease.ph"}),
    ("cns lowercase", {"disease.cns": "cns1"}, {"disease.cns"}),
    ("emd yes", {"disease.extramedullary": "yes"}, {"disease.extramedullary"}),
    ("kmt2a text", {"disease.kmt2a_rearranged": "no"}, {"disease.kmt2a_rearranged"}),
    ("kmt2a int", {"disease.kmt2a_rearranged": 0}, {"disease.kmt2a_rearranged"}),
    ("abl1 string", {"disease.abl1_mutations": "T315I"}, {"disease.abl1_mutations"}),
    ("abl1 number", {"disease.abl1_mutations": [315]}, {"disease.abl1_mutations[0]"}),
    ("abl1 blank", {"disease.abl1_mutations": [""]}, {"disease.abl1_mutations[0]"}),
    (
        "months negative",
        {"transplant.prior_allo_hct": True, "transplant.months_since_hct": -2},
        {"transplant.months_since_hct"},
    ),
    (
        "months NaN",
        {"transplant.prior_allo_hct": True, "transplant.months_since_hct": NAN},
        {"transplant.months_since_hct"},
    ),
    (
        "gvhd grade",
        {"transplant.prior_allo_hct": True, "transplant.gvhd": "grade 2"},
        {"transplant.gvhd"},
    ),
    ("donor typo", {"transplant.donor": "sibling"}, {"transplant.donor"}),
    ("candidate text", {"transplant.candidate": "maybe"}, {"transplant.candidate"}),
    ("prior blina typo", {"prior_therapy.blinatumomab": "partial"}, {"prior_therapy.blinatumomab"}),
    ("car_t access typo", {"access.car_t": "commercial"}, {"access.car_t"}),
    ("id empty", {"id": ""}, {"id"}),
    ("id number", {"id": 7}, {"id"}),
    ("disease a list", {"disease": []}, {"disease"}),
    ("disease list", {"disease": []}, {"disease"}),
    ("disease string", {"disease": "relapsed"}, {"disease"}),
    ("transplant list", {"transplant": [True]}, {"transplant"}),
    ("access string", {"access": "trial"}, {"access"}),
    # contradictions
    (
        "MRD-only with 60% blasts",
        {"disease.status": "mrd_positive", "disease.marrow_blasts_pct": 60},
        {"disease.marrow_blasts_pct"},
    ),
    (
        "MRD-only with 5% MRD",
        {"disease.status": "mrd_positive", "disease.marrow_blasts_pct": 0, "disease.mrd_pct": 5},
        {"disease.mrd_pct"},
    ),
    (
        "months since transplant without a transplant",
        {"transplant.prior_allo_hct": False, "transplant.months_since_hct": 6},
        {"transplant.months_since_hct"},
    ),
    (
        "GVHD without a transplant",
        {"transplant.prior_allo_hct": False, "transplant.gvhd": "active"},
        {"transplant.gvhd"},
    ),
    (
        "resolved GVHD without a transplant",
        {"transplant.prior_allo_hct": False, "transplant.gvhd": "resolved"},
        {"transplant.gvhd"},
    ),
    (
        "ABL1 mutation in Ph-negative disease",
        {"disease.ph": "negative", "disease.abl1_mutations": ["T315I"]},
        {"disease.abl1_mutations"},
    ),
]

UNKNOWN_KEYS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("top-level key", {"weight": 70}, {"weight"}),
    ("nested key", {"disease.blasts": 10}, {"disease.blasts"}),
    ("nested key in transplant", {"transplant.hla": "8/8"}, {"transplant.hla"}),
    ("nested key in access", {"access.blinatumomab": "approved"}, {"access.blinatumomab"}),
]

WRONG_SHAPES: list[Any] = [None, [], [BASE_PROFILE], "patient", 3, 2.5, True, {}]


def _problem_fields(data: Any) -> set[str]:
    with pytest.raises(ProfileError) as caught:
        recommend(data)
    assert caught.value.problems
    return {p.field for p in caught.value.problems}


@pytest.mark.parametrize(
    ("what", "patch", "fields"), BAD + UNKNOWN_KEYS, ids=[b[0] for b in BAD + UNKNOWN_KEYS]
)
def test_bad_value_is_rejected_naming_its_field(
    what: str, patch: dict[str, Any], fields: set[str]
) -> None:
    """Each bad value is refused, with exactly the offending field(s) named."""
    assert _problem_fields(patched(patch)) == fields


@pytest.mark.parametrize("data", WRONG_SHAPES, ids=[repr(s)[:20] for s in WRONG_SHAPES])
def test_wrong_shape_is_rejected(data: Any) -> None:
    """Not an object, or an object without an id: refused, never a crash."""
    fields = _problem_fields(data)
    assert fields == ({"id"} if data == {} else {""})


def test_all_problems_are_reported_together() -> None:
    """Many faults in one profile are all listed, none lost."""
    patch = {
        "age": "64",
        "ecog": 5,
        "disease.marrow_blasts_pct": 101,
        "disease.cd19": "CD19+",
        "disease.cns": "cns1",
        "disease.kmt2a_rearranged": "no",
        "transplant.donor": "sibling",
        "transplant.candidate": "maybe",
        "prior_therapy.car_t": "partial",
        "access.car_t": "commercial",
        "disease.blasts": 3,
        "weight": 70,
    }
    assert _problem_fields(patched(patch)) == set(patch)


def _cli(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "recommend", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    """The CLI lists all problems with their fields, exits 2, prints no traceback."""
    data = patched(
        {
            "age": 12,
            "disease.cd19": "CD19+",
            "transplant.prior_allo_hct": False,
            "transplant.months_since_hct": 3,
            "access.car_t": "commercial",
        }
    )
    data["disease"]["blasts"] = 3
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    result = _cli(path)
    assert result.returncode == 2
    assert result.stdout == ""
    for field in (
        "age",
        "disease.cd19",
        "disease.blasts",
        "transplant.months_since_hct",
        "access.car_t",
    ):
        assert f"- {field}:" in result.stderr
    assert "5 problems" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b'{"id": "x",}',
        b"\xff\xfe",
        b"NaN",
        b"[1]",
        b'{"id": "x", "age": NaN}',
        b'{"id": "x"} trailing',
    ],
)
def test_cli_rejects_unreadable_or_malformed_json_with_exit_2(tmp_path: Path, raw: bytes) -> None:
    """Malformed JSON is bad input: a message, exit 2, no traceback."""
    path = tmp_path / "bad.json"
    path.write_bytes(raw)
    result = _cli(path)
    assert result.returncode == 2
    assert "invalid patient profile" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"id": "a", "disease": {"cd19": "negative", "cd19": "positive"}}', "disease.cd19"),
        ('{"id": "a", "id": "b"}', "id"),
        ('{"id": "a", "transplant": {"gvhd": "none"}, "transplant": {}}', "transplant"),
    ],
)
def test_duplicate_json_keys_are_rejected_naming_the_field(raw: str, field: str) -> None:
    """JSON with a key given twice is ambiguous: refused, never silently the last value."""
    assert _problem_fields(raw) == {field}
