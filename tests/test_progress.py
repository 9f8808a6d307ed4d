"""Progress on long work: shown on a terminal (standard error a pseudo-terminal), never
when the output is piped."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import patient

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


def _run(args: list[str], terminal: bool) -> tuple[int, str, str]:
    """Run the command line; standard error a pseudo-terminal when ``terminal``.

    Returns the exit status, standard output and what reached standard error."""
    command = [sys.executable, "-m", "sequencer.cli", *args]
    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm"}
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    with tempfile.TemporaryFile("w+") as stdout:  # a file: a full pipe would block the run
        with subprocess.Popen(command, stdout=stdout, stderr=follower, env=env) as process:
            os.close(follower)
            chunks = []
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed: the process is gone
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            status = process.wait(timeout=300)
        stdout.seek(0)
        out = stdout.read()
    os.close(leader)
    return status, out, b"".join(chunks).decode(errors="replace")


LONG_WORK = [
    pytest.param(["rules", "--coverage", "--cohort", "400"], "coverage", id="coverage"),
    pytest.param(
        ["rules", "diff", "OLD", "NEW", "--cohort", "400", "--processes", "1"],
        "cohort",
        id="rules-diff",
    ),
]


@pytest.mark.parametrize(("args", "label"), LONG_WORK)
def test_long_work_shows_progress_on_a_terminal_and_none_when_piped(
    args: list[str], label: str
) -> None:
    """The same command shows a progress bar on a terminal, and nothing on a pipe."""
    if args[:2] == ["rules", "diff"]:
        shipped = Path(__file__).resolve().parents[1] / "rules"
        args = [str(shipped) if a in ("OLD", "NEW") else a for a in args]
    status, out, err = _run(args, terminal=True)
    assert status == 0 and out
    assert label in err and "/400" in err
    status, piped_out, piped_err = _run(args, terminal=False)
    assert status == 0 and piped_err == ""
    assert "\x1b" not in piped_out and "/400" not in piped_out


def test_a_batch_file_shows_progress_on_a_terminal_and_none_when_piped(tmp_path: Path) -> None:
    """`recommend --batch FILE` shows progress on a terminal; piped, only its summary."""
    import json

    path = tmp_path / "day.jsonl"
    path.write_text("\n".join(json.dumps(patient(n)) for n in [1, 2, 3, 4, 5] * 30) + "\n")
    status, out, err = _run(["recommend", "--batch", str(path)], terminal=True)
    assert status == 0 and len(out.splitlines()) == 150
    assert "recommending" in err
    status, out, err = _run(["recommend", "--batch", str(path)], terminal=False)
    assert status == 0 and len(out.splitlines()) == 150
    assert err == "sequencer: 150 recommended, 0 rejected\n"
