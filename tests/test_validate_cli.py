"""`sequencer validate`: exit codes, every format, escaping of hostile case text, the CSV
template, and a silent progress bar when piped."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import RULES_DIR, patched

from sequencer import default_rulebook, load_rulebook
from sequencer.cli import main
from sequencer.explain.corpus_csv import CASE_COLUMNS
from sequencer.explain.corpus_impact import CorpusImpact, corpus_impact
from sequencer.explain.validation import ValidationReport
from sequencer.model.fields import FIELDS
from sequencer.present.markdown import escape_markdown

HOSTILE = "<script>alert(1)</script> a|b"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "validate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _corpus(directory: Path, cases: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> Path:
    for name, (patch, expect) in cases.items():
        body = {"id": name, "profile": patched(patch), "expect": expect}
        (directory / f"{name}.json").write_text(json.dumps(body), encoding="utf-8")
    return directory


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """One concordant and one discordant case (Ph+: blinatumomab, settled)."""
    return _corpus(
        tmp_path,
        {
            "agrees": ({"disease.ph": "positive"}, {"preferred": "blinatumomab"}),
            "differs": ({"disease.ph": "positive"}, {"preferred": "car_t"}),
        },
    )


def test_exit_0_when_no_floor_is_set(mixed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --min-concordance a discordance is reported, not an error."""
    assert main(["validate", str(mixed)]) == 0
    out = capsys.readouterr().out
    assert "DISCORDANT: differs" in out
    assert "1 of 2 (50.0%" in out


def test_exit_1_below_min_concordance_and_0_at_or_above(
    mixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """50% concordant-or-conditional: exit 1 under a 60% floor, 0 under a 50% one."""
    assert main(["validate", str(mixed), "--min-concordance", "60"]) == 1
    assert "below --min-concordance 60%" in capsys.readouterr().err
    assert main(["validate", str(mixed), "--min-concordance", "50"]) == 0


def test_min_concordance_outside_0_to_100_is_an_input_error(mixed: Path) -> None:
    """A percentage above 100 is refused with exit 2."""
    assert main(["validate", str(mixed), "--min-concordance", "150"]) == 2


def test_bad_corpus_exits_2_listing_every_file_without_traceback(tmp_path: Path) -> None:
    """Two bad files → exit 2, both named on stderr, no traceback, nothing on stdout."""
    (tmp_path / "a.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "b.json").write_text(
        json.dumps({"id": "b", "profile": {}, "expect": {"prefered": "car_t"}}), encoding="utf-8"
    )
    result = _run(str(tmp_path))
    assert result.returncode == 2
    assert "a.json" in result.stderr and "expect.prefered" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_json_format_parses_into_the_report_model(
    mixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format json is ValidationReport's dump: it validates back and keeps the figures."""
    assert main(["validate", str(mixed), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    report = ValidationReport.model_validate(data)
    assert report.model_dump(mode="json") == data
    assert report.counts["discordant"] == 1 and report.concordant.of == 2


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A case whose user text (chosen, note, why) carries markup and a pipe."""
    body = {
        "id": "hostile",
        "profile": patched({}),
        "expect": {"preferred": HOSTILE},
        "decision": {"chosen": HOSTILE},
        "note": HOSTILE,
    }
    (tmp_path / "hostile.json").write_text(json.dumps(body), encoding="utf-8")
    return tmp_path


def test_html_format_escapes_a_hostile_chosen_text(
    hostile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The HTML page shows <script> as text, never as a tag."""
    out = tmp_path / "report.html"
    assert main(["validate", str(hostile), "--format", "html", "--output", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert capsys.readouterr().out == ""


def test_markdown_format_escapes_pipes_and_markup(
    hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `|` in case text cannot break the Markdown table; `<` is escaped."""
    assert main(["validate", str(hostile), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| hostile"))
    assert "a\\|b" in row and "\\<script\\>" in row
    assert "<script>" not in out
    assert row.count("|") - row.count("\\|") == 6


def test_text_format_shows_the_not_assessable_case_and_why(
    hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The text report names a choice outside the options and says why it is not judged."""
    assert main(["validate", str(hostile)]) == 0
    out = capsys.readouterr().out
    assert "NOT ASSESSABLE: hostile" in out
    assert "not an option the rule base ranks" in out


def test_csv_template_prints_case_columns_then_profile_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--csv-template: one header line, the decision's columns before the profile's fields."""
    assert main(["validate", "--csv-template"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [",".join([*CASE_COLUMNS, *FIELDS])]


def test_progress_is_silent_when_piped(mixed: Path) -> None:
    """Run through pipes, stderr carries no progress bar (nothing at all on success)."""
    result = _run(str(mixed))
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.startswith("Validation against past decisions")


def test_shipped_corpus_runs_with_no_argument(capsys: pytest.CaptureFixture[str]) -> None:
    """With no corpus argument the installed corpus is judged, none not assessable."""
    assert main(["validate", "--format", "json"]) == 0
    report = ValidationReport.model_validate(json.loads(capsys.readouterr().out))
    assert report.counts["not_assessable"] == 0
    assert len(report.cases) >= 32


# --- rules diff: the change's effect on the corpus -----------------------------------


def _wider_close_calls(tmp_path: Path) -> Path:
    """A copy of the shipped rule base whose close-call margin is 9 points: every
    settled preference of a few arguments becomes a close call."""
    root = tmp_path / "rules"
    shutil.copytree(RULES_DIR, root)
    path = root / "rulebook.yaml"
    text = path.read_text(encoding="utf-8")
    assert "close_call_margin: 1\n" in text
    path.write_text(text.replace("close_call_margin: 1\n", "close_call_margin: 9\n"), "utf-8")
    return root


def test_corpus_impact_reports_the_cases_whose_verdict_moved(tmp_path: Path) -> None:
    """A wider close-call margin turns a settled discordance into a conditional case
    and leaves a case it does not touch alone; one rule base on both sides moves
    nothing."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _corpus(
        corpus,
        {
            "ph-differs": ({"disease.ph": "positive"}, {"preferred": "car_t"}),
            "unmoved": ({"disease.cd19": "negative"}, {"all_not_eligible": True}),
        },
    )
    old = default_rulebook()
    new = load_rulebook(_wider_close_calls(tmp_path))
    found = corpus_impact(old, new, [corpus])
    moved = [(m.id, m.before, m.after) for m in found.moved]
    assert moved == [("ph-differs", "discordant", "conditional")]
    assert found.cases == 2
    assert corpus_impact(old, old, [corpus]).moved == []


def test_rules_diff_prints_the_shipped_corpus_before_and_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rules diff` adds the corpus section (Markdown) and a `corpus` key (JSON) that
    agree with corpus_impact on the shipped corpus."""
    root = _wider_close_calls(tmp_path)
    expected = corpus_impact(default_rulebook(), load_rulebook(root))
    args = ["rules", "diff", str(RULES_DIR), str(root), "--cohort", "20", "--processes", "1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert f"## Validation corpus ({expected.cases} past decisions)" in text
    for move in expected.moved:
        assert f"| {escape_markdown(move.id)} | {move.before.replace('_', ' ')} |" in text
    assert main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert CorpusImpact.model_validate(data["corpus"]) == expected
