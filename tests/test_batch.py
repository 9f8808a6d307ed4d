"""Batch evaluation: a stream in, a stream out, in order, in constant memory; bad
profiles are reported and the batch goes on; processes give the same answers."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import patched, patient
from hypothesis import given
from hypothesis import strategies as st

from sequencer import BatchResult, PatientProfile, SequencerError, recommend, recommend_many
from sequencer.testing import profiles

VARIANTS: list[dict[str, Any]] = [
    patched({"age": age, "disease.cns": cns, "disease.marrow_blasts_pct": blasts})
    for age, cns, blasts in itertools.product([19, 66, None], ["CNS1", "CNS3"], [3, 60])
]
BAD = {"id": "bad", "age": 5}


def _stream(count: int) -> Iterator[dict[str, Any]]:
    for index in range(count):
        yield {**VARIANTS[index % len(VARIANTS)], "id": f"p{index}"}


def test_results_come_back_in_input_order_and_equal_single_calls() -> None:
    """Each result is what recommend() gives for that input, in input order."""
    inputs = list(_stream(40))
    results = list(recommend_many(inputs))
    assert [r.index for r in results] == list(range(40))
    assert [r.recommendation for r in results] == [recommend(p) for p in inputs]


def test_invalid_profiles_are_reported_and_the_batch_goes_on() -> None:
    """A bad profile yields its problems; the ones after it are still evaluated."""
    results = list(recommend_many([VARIANTS[0], BAD, "{not json", VARIANTS[1]]))
    assert [r.ok for r in results] == [True, False, False, True]
    assert {p.field for p in results[1].problems} == {"age"}
    assert results[1].recommendation is None and results[3].recommendation is not None


def test_the_input_is_consumed_lazily() -> None:
    """recommend_many pulls profiles as it goes (an endless input works)."""
    endless = _stream(10**12)
    first = list(itertools.islice(recommend_many(endless), 5))
    assert [r.index for r in first] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("as_json", [False, True])
def test_two_processes_give_the_serial_answers(as_json: bool) -> None:
    """The process pool changes speed, not answers or order."""
    inputs = [*_stream(300), BAD]
    serial = list(recommend_many(inputs, as_json=as_json))
    pooled = list(recommend_many(inputs, processes=2, chunk_size=16, as_json=as_json))
    assert pooled == serial
    assert pooled[-1].problems and not pooled[-1].ok


def test_workers_that_forget_their_numbered_parts_still_send_the_right_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Workers send shared parts once, then by number; a worker whose table is full
    starts a new generation and the parent follows (forced here with a tiny table)."""
    import sequencer.batch

    monkeypatch.setattr(sequencer.batch, "_FRAGMENTS_MAX", 7)
    profiles_in = list(_stream(200))
    serial = [r.json for r in recommend_many(profiles_in, as_json=True)]
    pooled = [r.json for r in recommend_many(profiles_in, processes=2, chunk_size=8, as_json=True)]
    assert pooled == serial
    assert all(text is not None and json.loads(text) for text in pooled)


def test_json_results_are_the_recommendation_dumps() -> None:
    """as_json=True yields exactly Recommendation.model_dump_json()."""
    [result] = recommend_many([VARIANTS[2]], as_json=True)
    assert isinstance(result, BatchResult) and result.json is not None
    assert json.loads(result.json) == recommend(VARIANTS[2]).model_dump(mode="json")


def test_unknown_context_fails_before_any_work() -> None:
    """A bad context is reported at once, not per profile."""
    with pytest.raises(SequencerError, match="unknown context"):
        next(recommend_many(_stream(3), context="mars-2100"))


def test_cli_batch_writes_one_line_per_profile_and_reports_bad_lines(tmp_path: Path) -> None:
    """`recommend --batch` prints one JSON result per input line (a blank one marked so),
    names bad lines, exits 2."""
    path = tmp_path / "day.jsonl"
    lines = [json.dumps(VARIANTS[0]), "", json.dumps(BAD), "{oops", json.dumps(VARIANTS[3])]
    path.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "recommend",
            "--batch",
            str(path),
            "--processes",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["line"] for o in out] == [1, 2, 3, 4, 5]  # every line answered, blank too
    assert out[0]["recommendation"] == recommend(VARIANTS[0]).model_dump(mode="json")
    assert out[1] == {"line": 2, "blank": True}
    assert out[2]["problems"][0]["field"] == "age"
    assert f"{path}:3: age" in result.stderr and f"{path}:4:" in result.stderr
    assert "2 recommended, 2 rejected (lines 3, 4), 1 blank" in result.stderr
    # the file's line number is told once; the JSON's own place is its column only
    assert f"{path}:4: <profile>: invalid JSON at column 2" in result.stderr
    assert "line 1 column" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_cli_needs_a_file_or_a_batch() -> None:
    """`recommend` with neither or both inputs is a usage error (exit 2)."""
    result = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "recommend"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "--batch" in result.stderr


def test_fast_json_covers_every_output_field() -> None:
    """The assembled JSON writes exactly the Recommendation's fields, in order."""
    from sequencer import Recommendation, recommend
    from sequencer.batch import recommendation_json

    written = json.loads(recommendation_json(recommend(patient(1))))
    assert tuple(written) == tuple(Recommendation.model_fields)


@given(profiles(), st.sampled_from(["us-2020", "us-2026"]))
def test_fast_json_is_byte_for_byte_model_dump_json(profile: PatientProfile, context: str) -> None:
    """recommendation_json() equals Recommendation.model_dump_json() for any profile."""
    from sequencer.batch import recommendation_json

    rec = recommend(profile, context=context)
    assert recommendation_json(rec) == rec.model_dump_json()
    assert recommendation_json(rec) == rec.model_dump_json()  # second time from the cache
