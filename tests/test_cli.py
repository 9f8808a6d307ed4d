"""The command line: the three verbs, their formats, clear errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PATIENTS_DIR, patched

from sequencer import recommend
from sequencer.cli import main


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sequencer.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_recommend_json_equals_the_api_dump(capsys: pytest.CaptureFixture[str]) -> None:
    """`recommend --format json` prints exactly Recommendation.model_dump(mode='json')."""
    path = PATIENTS_DIR / "patient-1.json"
    assert main(["recommend", str(path), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == recommend(path.read_text()).model_dump(mode="json")
    assert printed["preferred"] == "blinatumomab"


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_recommend_human_formats_show_choice_reasons_and_references(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text and Markdown show the choice, the rules (by id in Markdown and with
    --show-rules, by title in text), and numbered references."""
    path = str(PATIENTS_DIR / "patient-5.json")
    assert main(["recommend", path, "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert ("cd19-negative" in out) == (fmt == "markdown")
    assert "CD19-negative disease rules out both" in out
    if fmt == "text":
        assert main(["recommend", path, "--format", fmt, "--show-rules"]) == 0
        assert "cd19-negative" in capsys.readouterr().out
    assert "Inotuzumab ozogamicin" in out
    assert "Aldoss I, Forman SJ" in out
    assert "sha256:" in out


def test_wrong_value_prints_the_field_and_exits_2_without_traceback(tmp_path: Path) -> None:
    """A wrong value names the field; no traceback reaches the user."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(patched({"disease.cd19": "maybe", "age": 12})))
    result = _run("recommend", str(bad))
    assert result.returncode == 2
    assert "disease.cd19" in result.stderr and "age" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("payload", ["{not json", "[]", "null", ""])
def test_malformed_json_exits_2(payload: str) -> None:
    """Unreadable JSON is bad input, reported plainly."""
    result = _run("recommend", "-", stdin=payload)
    assert result.returncode == 2
    assert "invalid patient profile" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A file that cannot be read is reported, not raised."""
    assert main(["recommend", "/nonexistent/profile.json"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_replay_all_agrees_with_the_review(capsys: pytest.CaptureFixture[str]) -> None:
    """`replay --all` shows the five patients side by side and exits 0 when all agree."""
    assert main(["replay", "--all", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["patient"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(r["agrees"] for r in rows)
    assert main(["replay", "--all"]) == 0
    out = capsys.readouterr().out
    assert out.count("yes") >= 5 and "Patient 5" in out


def test_replay_one_patient_in_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    """`replay 2` replays patient 2 alone."""
    assert main(["replay", "2", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "## Patient 2" in out and "## Patient 1" not in out
    assert "cns-relapse-history" in out


def test_replay_rejects_a_patient_out_of_range() -> None:
    """Only patients 1-5 exist; anything else is a usage error (exit 2)."""
    result = _run("replay", "6")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_rules_lists_every_rule_grouped_with_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    """`rules` validates the rule base and lists each rule with its evidence."""
    from sequencer import default_rulebook

    book = default_rulebook()
    assert main(["rules", "--format", "json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["digest"] == book.digest
    assert {r["id"] for r in listing["rules"]} == {r.id for r in book.active}
    assert all(r["evidence"] and r["citations"] and r["line"] for r in listing["rules"])
    assert main(["rules", "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    for title in book.considerations.values():
        assert f"## {title}" in markdown


def test_broken_rule_base_exits_3_with_file_and_line(tmp_path: Path) -> None:
    """`rules --rules DIR` on a broken rule base prints file:line and rule id."""
    import shutil

    from conftest import RULES_DIR

    root = tmp_path / "rules"
    shutil.copytree(RULES_DIR, root)
    path = root / "considerations" / "access.yaml"
    path.write_text(
        path.read_text().replace("access.car_t: unavailable", "access.cart: unavailable")
    )
    result = _run("rules", "--rules", str(root))
    assert result.returncode == 3
    assert "rules/considerations/access.yaml:" in result.stderr
    assert "rule 'car-t-unavailable'" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_three_verbs() -> None:
    """`--help` names recommend, replay and rules."""
    result = _run("--help")
    assert result.returncode == 0
    for verb in ("recommend", "replay", "rules"):
        assert verb in result.stdout


@pytest.mark.parametrize("patient_id", ["[/]", "[bold red]x", "a|*b_[x]`"])
def test_odd_patient_ids_are_shown_verbatim(
    patient_id: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Ids are data, never markup: text and Markdown show them as given."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps(patched({"id": patient_id})))
    assert main(["recommend", str(path)]) == 0
    assert patient_id in capsys.readouterr().out
    assert main(["recommend", str(path), "--format", "markdown"]) == 0
    heading = capsys.readouterr().out.splitlines()[0]
    assert heading.startswith("# Recommendation for ")
    assert heading.replace("\\", "").endswith(patient_id)
