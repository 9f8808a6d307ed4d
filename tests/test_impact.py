"""The impact of a rule-base change: the rules that changed and the decisions they change."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RULES_DIR

from sequencer import default_rulebook, load_rulebook, recommend
from sequencer.cli import main
from sequencer.explain.cohort import cohort
from sequencer.explain.impact import RuleChange, rules_diff

ACCESS = "considerations/access.yaml"


def _changed_base(tmp_path: Path, relative: str, old: str, new: str) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(RULES_DIR, root)
    path = root / relative
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return root


def _retired(tmp_path: Path) -> Path:
    """A copy of the rule base with the rule excluding CAR T cells without access retired."""
    rule = "  - id: car-t-unavailable\n"
    return _changed_base(tmp_path, ACCESS, rule, rule + "    status: retired\n")


def test_retiring_a_rule_changes_exactly_the_decisions_it_made(tmp_path: Path) -> None:
    """Without the rule excluding CAR T cells when no product or trial can be had, the
    decisions that change are exactly those of patients without access whose CAR T
    option nothing else excludes."""
    root = _retired(tmp_path)
    old, new = default_rulebook(), load_rulebook(root)
    impact = rules_diff(old, new, size=400, seed=3)
    assert impact.rules == [RuleChange("car-t-unavailable", "retired")]
    changed = {c.patient for c in impact.changes if c.source == "cohort"}
    expected = set()
    for patient in cohort(new, 400, 3, also=(old,)):
        after = next(o for o in recommend(patient, rulebook=new).options if o.therapy == "car_t")
        if patient.access.car_t == "unavailable" and after.status != "not_eligible":
            expected.add(patient.id)
    assert expected and changed == expected
    assert impact.evaluated["cohort"] == 400 and impact.evaluated["published"] == 10
    assert {c.patient for c in impact.changes if c.source == "literature"} == {"no-access"}
    assert all("car_t not_eligible" in c.lost for c in impact.changes)
    forked = rules_diff(old, new, size=400, seed=3, processes=2)
    assert forked.changes == impact.changes and forked.evaluated == impact.evaluated


def test_a_reweighted_argument_is_reported_with_its_strengths(tmp_path: Path) -> None:
    root = _changed_base(
        tmp_path,
        "considerations/age.yaml",
        "      - argues: older-adult-tolerance\n        strength: moderate\n",
        "      - argues: older-adult-tolerance\n        strength: strong\n",
    )
    impact = rules_diff(default_rulebook(), load_rulebook(root), size=50, seed=1)
    assert impact.rules == [
        RuleChange("older-adult-blinatumomab-active", "changed", ("then",), ("moderate", "strong"))
    ]
    assert impact.coverage is not None and impact.coverage.size == 50
    assert "older-adult-blinatumomab-active" in {r.rule for r in impact.coverage.rules}


def test_rules_diff_command_prints_markdown_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _retired(tmp_path)
    assert main(["rules", "diff", str(RULES_DIR), str(root), "--cohort", "100"]) == 0
    text = capsys.readouterr().out
    assert "- `car-t-unavailable`: retired" in text and "| cohort | 100 |" in text
    assert (
        main(["rules", "diff", str(RULES_DIR), str(root), "--cohort", "100", "--format", "json"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["rules"] == [
        {"id": "car-t-unavailable", "kind": "retired", "parts": [], "strength": None}
    ]
    assert data["changed"]["literature"] == 1
    assert main(["rules", "diff", str(RULES_DIR)]) == 2


def test_require_bump_fails_a_change_of_decisions_that_keeps_the_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CI habit: decisions changed and the version kept is exit 1; bumped is 0."""
    root = _retired(tmp_path)
    args = ["rules", "diff", str(RULES_DIR), str(root), "--cohort", "50", "--require-bump"]
    assert main(args) == 1
    assert "raise `version` in rules/rulebook.yaml" in capsys.readouterr().err
    manifest = root / "rulebook.yaml"
    version = default_rulebook().version
    manifest.write_text(manifest.read_text().replace(f"version: {version}", "version: 99.0.0"))
    assert main(args) == 0
    assert (
        main(["rules", "diff", str(RULES_DIR), str(RULES_DIR), "--cohort", "50", "--require-bump"])
        == 0
    )


def test_a_lower_version_is_no_bump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Decisions changed with the version lowered (not only kept) fail the gate."""
    version = default_rulebook().version
    older = tmp_path / "older"
    shutil.copytree(RULES_DIR, older / "rules")
    manifest = older / "rules" / "rulebook.yaml"
    manifest.write_text(manifest.read_text().replace(f"version: {version}", "version: 9.0.0"))
    root = _retired(tmp_path)
    args = ["rules", "diff", str(older / "rules"), str(root), "--cohort", "50", "--require-bump"]
    assert main(args) == 1
    assert f"goes from 9.0.0 to {version}" in capsys.readouterr().err


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_rules_diff_reads_git_revisions_from_anywhere_in_the_checkout(tmp_path: Path) -> None:
    """The CI gate's path: `rules diff REV REV` extracts rules/ of each revision, run
    from a subdirectory as well as from the top; an unknown revision is a clear error."""
    repo = tmp_path / "repo"
    shutil.copytree(RULES_DIR, repo / "rules")
    (repo / "docs").mkdir()
    _git(repo, "init", "-q")
    _git(repo, "add", "rules")
    _git(repo, "commit", "-q", "-m", "first")
    access = repo / "rules" / ACCESS
    rule = "  - id: car-t-unavailable\n"
    access.write_text(access.read_text().replace(rule, rule + "    status: retired\n", 1))
    _git(repo, "commit", "-q", "-am", "retire")
    command = [sys.executable, "-m", "sequencer.cli", "rules", "diff", "HEAD~1", "HEAD"]
    for where in (repo, repo / "docs"):
        result = subprocess.run(
            [*command, "--cohort", "50", "--format", "json", "--processes", "1"],
            cwd=where,
            capture_output=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-500:]
        data = json.loads(result.stdout)
        assert data["rules"] == [
            {"id": "car-t-unavailable", "kind": "retired", "parts": [], "strength": None}
        ]
    missing = subprocess.run(
        [*command[:-2], "no-such-revision", "HEAD"],
        cwd=repo,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert missing.returncode == 2
    assert b"no-such-revision" in missing.stderr and b"Traceback" not in missing.stderr
