"""Teaching mode: exercises from the five patients, scripted answers, scoring, sheets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import REPO

from sequencer import default_rulebook
from sequencer.cli import main
from sequencer.explain.teach import (
    CHOICE_POINTS,
    Answer,
    Exercise,
    answers_from_file,
    exercises,
    mark,
)
from sequencer.model.fields import FIELDS
from sequencer.present.teaching import feedback, interactive, write_sheets

TEACHING_DIR = REPO / "examples" / "teaching"

# Hand-worked from the rule base: in us-2020, the fired rules that back each published choice
# (each through a counted argument). Patient 2's script scores 2 + 1 - 1.
DECIDING = {
    1: {
        "older-adult-blinatumomab-active",
        "marrow-blasts-below-50",
        "bridge-to-transplant-with-donor",
        "car-t-trial-slot-needed",
    },
    2: {"cns-relapse-history", "mrd-below-licensed-threshold"},
    3: {"late-relapse-after-hct", "second-transplant-uncertain-after-hct"},
    4: {"blinatumomab-retreatment-after-response", "second-transplant-uncertain-after-hct"},
    5: {"cd19-negative"},
}

# A scripted learner, answers by rule id so the test does not depend on the lettering.
SCRIPT = {
    1: {"choice": "blinatumomab", "factors": sorted(DECIDING[1])},  # all right: 2 + 4
    2: {"choice": "car_t", "factors": ["cns-relapse-history", "bridge-to-transplant-with-donor"]},
    3: {"choice": "blinatumomab", "factors": ["late-relapse-after-hct"]},  # 0 + 1
    # patient 4 left unanswered: 0
    5: {"choice": "neither", "factors": ["cd19-negative"]},  # 2 + 1
}
EXPECTED_POINTS = {1: 6, 2: 2, 3: 1, 4: 0, 5: 3}
EXPECTED_MAX = {1: 6, 2: 4, 3: 4, 4: 4, 5: 3}


@pytest.fixture(scope="module")
def sheets() -> list[Exercise]:
    return exercises()


def test_deciding_factors_are_the_fired_rules_behind_the_published_choice(
    sheets: list[Exercise],
) -> None:
    """Each patient's deciding factors are exactly the hand-worked rules."""
    for ex in sheets:
        assert {r for f in ex.deciding for r in f.rules} == DECIDING[ex.case.number]
        assert ex.max_points == CHOICE_POINTS + len(ex.deciding)


def test_factor_lists_mix_fired_rules_with_distractors_that_did_not_fire(
    sheets: list[Exercise],
) -> None:
    """Every list has distractors; distractors never fired; letters run a, b, c..."""
    for ex in sheets:
        fired = {r.rule for r in ex.recommendation.reasons}
        distractors = [f for f in ex.factors if not f.fired]
        assert len(distractors) == 3
        assert not {r for f in distractors for r in f.rules} & fired
        assert [f.key for f in ex.factors] == [chr(ord("a") + i) for i in range(len(ex.factors))]
        assert len({f.text for f in ex.factors}) == len(ex.factors)


def test_teaching_flow_runs_end_to_end_with_scripted_answers_and_scores_correctly(
    tmp_path: Path, sheets: list[Exercise], capsys: pytest.CaptureFixture[str]
) -> None:
    """Scripted answers (JSON) are marked as worked out by hand: 12 of 21 points."""
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({str(k): v for k, v in SCRIPT.items()}))
    answers = answers_from_file(path, sheets)
    marked = [mark(ex, answers.get(ex.case.number)) for ex in sheets]
    assert {m.exercise.case.number: m.points for m in marked} == EXPECTED_POINTS
    assert {m.exercise.case.number: m.max_points for m in marked} == EXPECTED_MAX
    assert [m.choice_correct for m in marked] == [True, True, False, False, True]
    assert main(["teach", "--answers", str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # text output is wrapped
    assert "Score: 12 of 21 points (57%)." in out
    for ex in sheets:
        assert ex.case.published_rationale[:40] in out  # the published decision is shown
        assert ex.recommendation.summary in out  # the library's reasoning
    assert "What would change it" in out


def test_yaml_answers_with_letters_are_marked_like_rule_ids(
    tmp_path: Path, sheets: list[Exercise], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same answers written as YAML with sheet letters score the same."""
    lines = []
    for number, answer in SCRIPT.items():
        ex = next(e for e in sheets if e.case.number == number)
        letters = [f.key for f in ex.factors if set(f.rules) & set(answer["factors"])]
        lines.append(f"{number}: {{choice: {answer['choice']}, factors: [{', '.join(letters)}]}}")
    path = tmp_path / "answers.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert main(["teach", "--answers", str(path), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Teaching round")
    assert "**Score:** 12 of 21 points (57%)." in out


def test_interactive_mode_asks_again_on_bad_input_and_stops_at_end_of_input(
    sheets: list[Exercise],
) -> None:
    """On a terminal: unknown choices and letters are asked again; EOF ends the round."""
    ex1 = sheets[0]
    right = " ".join(f.key for f in ex1.deciding)
    typed = iter(["maybe", "b", "zz", right, "car-t"])  # patient 2: choice, then EOF

    def ask(prompt: str) -> str:
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    said: list[str] = []
    marked = interactive(sheets, ask=ask, say=said.append)
    assert len(marked) == 1 and marked[0].points == marked[0].max_points == 6
    shown = "\n".join(said)
    assert "unknown factor 'zz'" in shown
    assert "Stopped." in shown and "Total: 6 of 6 points over 1 patient(s)." in shown


def test_bad_answer_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown patients, choices, factors or keys are reported and exit 2."""
    cases = {
        "7: {choice: car_t}": "no patient 7",
        "1: {choice: maybe}": "choice must be",
        "1: {choice: car_t, factors: [zz]}": "unknown factor 'zz'",
        "1: {choice: car_t, why: because}": "unknown keys",
        "[1, 2]": "expected a mapping",
    }
    for text, message in cases.items():
        path = tmp_path / "answers.yaml"
        path.write_text(text)
        assert main(["teach", "--answers", str(path)]) == 2
        assert message in capsys.readouterr().err
    assert main(["teach", "--answers", str(tmp_path / "absent.yaml")]) == 2


def test_teach_without_a_terminal_or_answers_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Under a test runner stdin is not a terminal: teach says what to do instead."""
    assert main(["teach"]) == 2
    assert "--answers" in capsys.readouterr().err


def test_vignettes_are_written_from_the_profile_not_copied(sheets: list[Exercise]) -> None:
    """No run of eight words is shared with the review summaries in published.yaml."""

    def runs(text: str) -> set[tuple[str, ...]]:
        words = re.findall(r"[a-z0-9%.]+", text.lower())
        return {tuple(words[i : i + 8]) for i in range(len(words) - 7)}

    for ex in sheets:
        ours = runs(ex.vignette)
        assert not ours & runs(ex.case.vignette)
        assert not ours & runs(ex.case.published_rationale)
        assert f"{ex.case.profile.age}-year-old" in ex.vignette


def test_every_profile_field_has_a_plain_language_label() -> None:
    """A new profile field needs words in the vocabulary before it reaches a report."""
    assert set(default_rulebook().vocabulary.labels) == set(FIELDS)


def test_exercise_sheets_hide_the_answers(sheets: list[Exercise], tmp_path: Path) -> None:
    """Sheets show the vignette and factors, never rule ids, roles or the published choice."""
    write_sheets(sheets, tmp_path)
    for ex in sheets:
        sheet = (tmp_path / f"patient-{ex.case.number}.md").read_text()
        assert ex.vignette in sheet
        assert all(f"**{f.key}.** {f.text}" in sheet for f in ex.factors)
        assert "deciding (" not in sheet and "distractor" not in sheet
        assert not any(rule in sheet for f in ex.factors for rule in f.rules)
        assert ex.case.published_rationale not in sheet
    key = (tmp_path / "answer-key.md").read_text()
    assert all(rule in key for rules in DECIDING.values() for rule in rules)


def test_exercise_sheets_in_examples_are_current(sheets: list[Exercise], tmp_path: Path) -> None:
    """examples/teaching/ is what `sequencer teach --output examples/teaching` writes."""
    write_sheets(sheets, tmp_path)
    for fresh in sorted(tmp_path.iterdir()):
        kept = TEACHING_DIR / fresh.name
        assert kept.is_file(), f"{kept} missing: run sequencer teach --output examples/teaching"
        assert kept.read_text() == fresh.read_text(), f"{kept} is stale"


def test_example_answers_in_examples_are_valid(sheets: list[Exercise]) -> None:
    """The example answers file in examples/teaching/ reads and marks."""
    answers = answers_from_file(TEACHING_DIR / "answers-example.yaml", sheets)
    assert set(answers) == {1, 2, 3, 4, 5}
    text = feedback([mark(ex, answers[ex.case.number]) for ex in sheets])
    assert "Score:" in text


def test_unanswered_patients_score_nothing(sheets: list[Exercise]) -> None:
    """No answer: no points, every deciding factor missed."""
    result = mark(sheets[1], None)
    assert result.points == 0 and result.missed == sheets[1].deciding
    answered = mark(sheets[1], Answer(choice="car_t"))
    assert answered.points == CHOICE_POINTS


def test_a_malformed_answer_file_raises_its_own_error(tmp_path: Path) -> None:
    """Not a mapping of patient numbers: AnswerFileError, a leaf of SequencerError."""
    from sequencer import AnswerFileError

    path = tmp_path / "answers.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(AnswerFileError, match="patient number"):
        answers_from_file(path, exercises())
