"""Clinicians' words in the terminal: no view of the five published patients or of the
what-if shows a dotted field path or a rule id unless asked (``--show-rules``), and at
80 columns nothing is cut in the middle of a word."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys

import pytest
from conftest import PATIENTS_DIR
from test_printed_report import raw_paths

from sequencer import default_rulebook

RULE_IDS = sorted((r.rule.id for r in default_rulebook().rules), key=len, reverse=True)


def _run(*args: str) -> str:
    """The command line's standard output at COLUMNS=80 (exit 0 or 1: a replay may disagree)."""
    done = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def _rule_ids(text: str) -> list[str]:
    return [r for r in RULE_IDS if re.search(rf"(?<![\w-]){re.escape(r)}(?![\w-])", text)]


VIEWS = [
    *[
        pytest.param(("recommend", str(PATIENTS_DIR / f"patient-{n}.json")), id=f"recommend-{n}")
        for n in range(1, 6)
    ],
    pytest.param(("replay", "--all"), id="replay"),
    *[
        pytest.param(("whatif", str(PATIENTS_DIR / f"patient-{n}.json")), id=f"whatif-{n}")
        for n in range(1, 6)
    ],
]


@pytest.mark.parametrize("args", VIEWS)
def test_terminal_views_show_no_field_path_and_no_rule_id_unless_asked(
    args: tuple[str, ...],
) -> None:
    """No dotted field path or rule id in the text view; --show-rules brings the ids."""
    out = _run(*args)
    assert raw_paths(out) == []
    assert _rule_ids(out) == []
    assert _rule_ids(_run(*args, "--show-rules")) != []


@pytest.mark.parametrize("args", VIEWS)
def test_terminal_views_fit_80_columns_without_cutting_a_word(args: tuple[str, ...]) -> None:
    """At COLUMNS=80 every line fits, and no line ends inside a word that a rule-base
    word list knows (a cut would leave a fragment at a line's end)."""
    out = _run(*args)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    for rule_id in RULE_IDS:  # the longest words we print: never split across lines
        for cut in range(3, len(rule_id) - 2):
            head, tail = rule_id[:cut], rule_id[cut:]
            for a, b in itertools.pairwise(lines):
                assert not (a.rstrip(" │").endswith(head) and b.lstrip(" │").startswith(tail))
