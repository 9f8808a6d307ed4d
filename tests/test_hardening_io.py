"""Hardening of the paths around validation: batches answer every line from a file, a
pipe, a FIFO or standard input; forks never deadlock; outputs fail loudly; the rule
loader refuses what it cannot honestly check (issue 11)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, patched
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer import RuleBaseError, SequencerError, recommend, recommend_many
from sequencer.batch import MAX_PROCESSES
from sequencer.knowledge.rulebook import load_rulebook

RULES = REPO / "rules"
GOOD = json.dumps(patched({}))


def _cli(*args: str, stdin: bytes | None = None, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kw}
    return subprocess.run(
        [sys.executable, "-m", "sequencer.cli", *args],
        input=stdin,
        timeout=300,
        check=False,
        **streams,
    )


def _lines_out(stdout: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.decode().splitlines()]


LINE_KINDS = st.sampled_from(
    [
        GOOD,
        "",
        "   ",
        "{not json",
        '{"id": "x", "age": 5}',
        '{"id": "x", "disease": ' + "[" * 1000 + "]" * 1000 + "}",
        '{"id": "x", "age": ' + "7" * 5000 + "}",
        '"just a string"',
        json.dumps(patched({"disease.cns": "CNS3"})),
        "x" * 2_000_000,
    ]
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINE_KINDS, min_size=1, max_size=12), st.sampled_from(["file", "pipe", "-"]),
       st.sampled_from([1, 2]))  # fmt: skip
def test_a_batch_answers_every_line_in_order(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], how: str, processes: int
) -> None:
    """Whatever the lines (valid, invalid, malformed, huge, deep, blank), from a file, a
    pipe or standard input, with 1 or 2 processes: one output line per input line, in
    order, and exit 2 exactly when a line was rejected."""
    text = ("\n".join(lines) + "\n").encode()
    base = ["recommend", "--processes", str(processes), "--batch"]
    if how == "file":
        path = tmp_path_factory.mktemp("batch") / "day.jsonl"
        path.write_bytes(text)
        result = _cli(*base, str(path))
    elif how == "-":
        result = _cli(*base, "-", stdin=text)
    else:
        result = _cli(*base, "/dev/stdin", stdin=text)
    out = _lines_out(result.stdout)
    assert [o["line"] for o in out] == list(range(1, len(lines) + 1)), result.stderr[-500:]
    for line, o in zip(lines, out, strict=True):
        if not line.strip():
            assert o == {"line": o["line"], "blank": True}
        elif line in (GOOD, json.dumps(patched({"disease.cns": "CNS3"}))):
            assert "recommendation" in o
        else:
            assert o["problems"] and all("field" in p for p in o["problems"])
    rejected = any("problems" in o for o in out)
    assert result.returncode == (2 if rejected else 0), result.stderr[-500:]


def test_a_batch_from_a_fifo_does_not_hang(tmp_path: Path) -> None:
    """A named pipe is read once, as it comes; no second pass waits forever."""
    fifo = tmp_path / "day.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sequencer.cli", "recommend", "--batch", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with fifo.open("w") as writer:
        writer.write(GOOD + "\n\n" + GOOD + "\n")
    out, _ = proc.communicate(timeout=120)
    assert [o["line"] for o in _lines_out(out)] == [1, 2, 3]
    assert proc.returncode == 0


def test_the_cli_batch_keeps_no_per_line_state() -> None:
    """The CLI's batch loop keeps counts and at most 20 rejected line numbers, not a list
    per line (memory stays flat; `make bench` measures it over a million lines)."""
    source = (REPO / "src" / "sequencer" / "cli" / "main.py").read_text()
    body = source[source.index("def _cmd_batch") : source.index("def _open_lines")]
    assert "line_numbers" not in body and "first_rejected.append" in body
    assert "len(first_rejected) < 20" in body


def test_too_many_processes_are_refused() -> None:
    """Asking for more workers than four per CPU is an error, not a fork bomb."""
    with pytest.raises(SequencerError, match="processes must be between"):
        list(recommend_many([GOOD], processes=MAX_PROCESSES + 1))
    result = _cli("recommend", "--batch", "-", "--processes", "100000", stdin=GOOD.encode())
    assert result.returncode == 2 and b"processes must be between" in result.stderr


@pytest.mark.parametrize("processes", [1, 2])
def test_results_read_before_an_input_fails_are_answered_first(processes: int) -> None:
    """A generator that raises after 10 items: the 10 are answered, then its error."""

    def failing() -> Iterator[str]:
        for _ in range(10):
            yield GOOD
        raise OSError("the source went away")

    seen: list[int] = []
    with pytest.raises(OSError, match="went away"):
        for result in recommend_many(failing(), processes=processes, chunk_size=3):
            seen.append(result.index)
    assert seen == list(range(10))


def test_forking_while_threads_are_inside_recommend_never_deadlocks() -> None:
    """Children forked while other threads hold the engine's locks all finish."""
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            recommend(patched({"disease.cns": "CNS2"}))

    threads = [threading.Thread(target=busy, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    children = []
    try:
        for _ in range(30):
            time.sleep(0.002)
            pid = os.fork()
            if pid == 0:  # child: must be able to recommend, then leave at once
                code = 0
                try:
                    recommend(patched({}))
                except BaseException:
                    code = 1
                os._exit(code)
            children.append(pid)
        deadline = time.monotonic() + 60
        pending = set(children)
        while pending and time.monotonic() < deadline:
            for pid in list(pending):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    assert os.waitstatus_to_exitcode(status) == 0
                    pending.discard(pid)
            time.sleep(0.01)
        for pid in pending:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        assert not pending, f"{len(pending)} of {len(children)} children hung"
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def test_a_pool_forked_from_a_threaded_program_finishes() -> None:
    """recommend_many(processes=2) from a program whose threads are recommending."""
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            recommend(patched({}))

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    try:
        for _ in range(3):
            results = list(recommend_many([GOOD] * 50, processes=2, chunk_size=5))
            assert len(results) == 50 and all(r.ok for r in results)
    finally:
        stop.set()
        thread.join(timeout=10)


def test_a_closed_reader_and_a_full_disk_are_output_errors(tmp_path: Path) -> None:
    """A reader that closes the pipe early (`| head -c 10`) and `> /dev/full` exit 5
    (the output was not written), never 1 or 4, and print no traceback."""
    day = tmp_path / "day.jsonl"
    day.write_text((GOOD + "\n") * 300)
    piped = subprocess.run(
        f"set -o pipefail; {sys.executable} -m sequencer.cli recommend --batch {day} "
        "| head -c 10 >/dev/null",
        shell=True,
        capture_output=True,
        timeout=300,
        executable="/bin/bash",
        check=False,
    )
    assert piped.returncode == 5, piped.stderr[-300:]
    assert b"Traceback" not in piped.stderr
    if Path("/dev/full").exists():
        with open("/dev/full", "wb") as full:
            result = _cli("replay", "--all", "--format", "markdown", stdout=full)
        assert result.returncode == 5
        assert b"cannot write the output" in result.stderr


@pytest.mark.parametrize(
    "args", [("replay", "--all"), ("rules",), ("replay", "--all", "--format", "json")]
)
def test_a_reader_gone_before_the_table_is_an_output_error_not_a_disagreement(
    args: tuple[str, ...],
) -> None:
    """The terminal tables (rich) meet a closed pipe as the batch does: exit 5, not
    rich's own exit 1, which for `replay` means "the replay disagrees". The read end is
    closed before the command writes anything, so the pipe is broken every time."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = _cli(*args, stdout=write_end)
    finally:
        os.close(write_end)
    assert result.returncode == 5, result.stderr[-300:]
    assert b"Traceback" not in result.stderr


def test_a_closed_standard_input_is_an_input_error() -> None:
    """`recommend -` with stdin closed says so and exits 2 (no AttributeError)."""
    result = subprocess.run(
        f"{sys.executable} -m sequencer.cli recommend - <&-",
        shell=True,
        capture_output=True,
        timeout=60,
        executable="/bin/bash",
        check=False,
    )
    assert result.returncode == 2 and b"standard input is closed" in result.stderr


def test_control_characters_in_a_file_name_never_reach_the_terminal(tmp_path: Path) -> None:
    """An escape sequence in a path is shown escaped in the error message."""
    result = _cli("recommend", str(tmp_path / "a\x1b]0;x\x07.json"))
    assert result.returncode == 2
    assert b"\x1b" not in result.stderr and b"\x07" not in result.stderr
    assert b"\\x1b" in result.stderr


def _rules_copy(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(RULES, root)
    return root


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    """Anchors and aliases are refused with file and line, before any expansion."""
    root = _rules_copy(tmp_path)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    (root / "alternatives.yaml").write_text(bomb)
    started = time.monotonic()
    with pytest.raises(RuleBaseError, match="anchors and aliases") as caught:
        load_rulebook(root)
    assert time.monotonic() - started < 5
    assert caught.value.line == 2


@pytest.mark.parametrize("suffix", [".yml", ".YAML", ".Yml"])
def test_a_yml_file_is_refused_not_ignored(tmp_path: Path, suffix: str) -> None:
    """A consideration file ending in .yml (or .YAML) would be skipped silently; it is an
    error."""
    root = _rules_copy(tmp_path)
    (root / "considerations" / "age.yaml").rename(root / "considerations" / f"age{suffix}")
    with pytest.raises(RuleBaseError, match=r"end in \.yaml") as caught:
        load_rulebook(root)
    assert caught.value.path == f"{root.as_posix()}/considerations/age{suffix}"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("      age: {gt: 60}\n", "      age: {gt: 500}\n"),
        ("      age: {gt: 60}\n", "      age: {gt: 60, lt: 30}\n"),
        ("      age: {gt: 60}\n", "      age: {gt: 60, lt: 61}\n"),
    ],
)
def test_a_condition_that_can_never_hold_is_refused(tmp_path: Path, old: str, new: str) -> None:
    """age > 500, or 60 < age < 30 (or < 61, ages being whole years), can never hold."""
    root = _rules_copy(tmp_path)
    path = root / "considerations" / "age.yaml"
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(RuleBaseError, match="can never hold") as caught:
        load_rulebook(root)
    assert caught.value.rule_id == "older-adult-blinatumomab-active"


@pytest.mark.parametrize(
    ("path", "old", "new", "rule"),
    [
        (  # several tests on one field beside a test on another field
            "disease-burden.yaml",
            "      disease.marrow_blasts_pct: {ge: 5, lt: 50}\n",
            "      disease.marrow_blasts_pct: {ge: 50, lt: 50}\n",
            "marrow-blasts-below-50",
        ),
        (
            "disease-burden.yaml",
            "      disease.marrow_blasts_pct: {ge: 5, lt: 50}\n",
            "      disease.marrow_blasts_pct: {ge: 5, lt: 50}\n      age: {gt: 60, lt: 30}\n",
            "marrow-blasts-below-50",
        ),
        (  # a branch of `any` that the tests around it rule out
            "disease-burden.yaml",
            "        - disease.marrow_blasts_pct: {gt: 5}\n",
            "        - disease.marrow_blasts_pct: {gt: 5, lt: 3}\n",
            "car-t-higher-burden-toxicity",
        ),
    ],
)
def test_a_conjunction_that_can_never_hold_is_refused_however_it_is_nested(
    tmp_path: Path, path: str, old: str, new: str, rule: str
) -> None:
    """Tests on one field are combined across the whole conjunction, nested lists and
    other fields' tests notwithstanding; a dead branch of `any` is refused too."""
    root = _rules_copy(tmp_path)
    file = root / "considerations" / path
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new, 1))
    with pytest.raises(RuleBaseError, match="can never hold") as caught:
        load_rulebook(root)
    assert caught.value.rule_id == rule


def test_an_absolute_rules_directory_is_named_as_given(tmp_path: Path) -> None:
    """`--rules /some/dir` errors name /some/dir/..., leading slash included."""
    result = _cli("rules", "--rules", str(tmp_path))
    assert result.returncode == 3
    assert f"{tmp_path.as_posix()}/rulebook.yaml".encode() in result.stderr


@pytest.mark.parametrize("verb", ["whatif", "report"])
@pytest.mark.parametrize(
    "text", ['{"id": "x", "age": ' + "9" * 5000 + "}", "[" * 100_000 + "]" * 100_000]
)
def test_explaining_verbs_refuse_malformed_profiles_with_exit_2(
    tmp_path: Path, verb: str, text: str
) -> None:
    """whatif and report answer a huge number or deep nesting with exit 2, no traceback."""
    path = tmp_path / "bad.json"
    path.write_text(text)
    result = _cli(verb, str(path))
    assert result.returncode == 2, result.stderr[-300:]
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "1: " + "9" * 5000])
def test_teach_refuses_malformed_answer_files_with_exit_2(tmp_path: Path, text: str) -> None:
    """teach --answers with a deeply nested or huge answer file: exit 2, no traceback."""
    path = tmp_path / "answers.json"
    path.write_text(text)
    result = _cli("teach", "--answers", str(path))
    assert result.returncode == 2, result.stderr[-300:]
    assert b"Traceback" not in result.stderr
