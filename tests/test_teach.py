"""Teaching: exercises from any case, honest statements, marking, feedback, sheets."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser import CHROMIUM, png_size, screenshot
from conftest import REPO

from sequencer import default_rulebook
from sequencer.api import fired_rules
from sequencer.cli import main
from sequencer.decide.decision import quick_key
from sequencer.decide.plans import plans_of
from sequencer.explain.casebook import gather, literature_cases
from sequencer.explain.deciding import NEITHER, NO_PREFERENCE, NOT_YET
from sequencer.explain.teach import (
    CHOICE_POINTS,
    Answer,
    Exercise,
    answers_from_file,
    exercises,
    mark,
)
from sequencer.model.fields import FIELDS, flatten
from sequencer.present.phrases import summary_words
from sequencer.present.teaching import key_view, sheet_view, write_sheets
from sequencer.present.teaching_feedback import feedback
from sequencer.present.teaching_html import html_answer_key, html_sheet
from sequencer.present.teaching_prompt import interactive
from sequencer.present.teaching_words import statement_words

TEACHING_DIR = REPO / "examples" / "teaching"
LITERATURE = yaml.safe_load((REPO / "examples" / "literature" / "cases.yaml").read_text())["cases"]

# Worked by hand from the rule base (us-2020 scores in the README's what-if table): the
# arguments and standings without which the choice would change, alone or once their
# companions are gone. Patient 4's early post-transplant relapse pulls toward blinatumomab,
# so it never decides the choice of CAR T cells: it is taught as the authors' hindsight.
DECIDING = {
    1: {
        "fast-bridge-to-transplant",
        "low-burden-suits-blinatumomab",
        "older-adult-tolerance",
        "trial-slot-delay",
    },
    2: {"disease-outside-the-marrow"},
    3: {
        "durability-without-transplant",
        "own-t-cells-collectable",
        "ph-positive-ponatinib-refractory",
    },
    4: {"blinatumomab-retreatment", "durability-without-transplant"},
    5: {"cd19-negative"},
}
SET_ASIDE = {3: {"tki-partner"}}

# A scripted learner, by argument and rule ids so the test does not depend on lettering.
SCRIPT = {
    1: {"choice": "blinatumomab", "factors": sorted(DECIDING[1])},  # 2 + 4 = 6 of 6
    2: {"choice": "car_t", "factors": ["disease-outside-the-marrow", "fast-bridge-to-transplant"]},
    3: {  # wrong choice: 0 + 1 + 1 of 2 + 3 + 1
        "choice": "blinatumomab",
        "factors": ["own-t-cells-collectable"],
        "set_aside": ["tki-partner"],
    },
    # patient 4 left unanswered: 0
    5: {"choice": "neither", "factors": ["cd19-negative"]},  # 2 + 1
}
EXPECTED_POINTS = {1: 6, 2: 2, 3: 2, 4: 0, 5: 3}
EXPECTED_MAX = {1: 6, 2: 3, 3: 6, 4: 4, 5: 3}


@pytest.fixture(scope="module")
def sheets() -> list[Exercise]:
    return exercises()


@pytest.fixture(scope="module")
def everything() -> list[Exercise]:
    return exercises(gather(["published", "literature"]))


def _by_ref(ex: Exercise, ref: str) -> str:
    return next(f.key for f in ex.factors if f.ref == ref or ref in f.rules)


def test_deciding_statements_are_the_hand_worked_ones(sheets: list[Exercise]) -> None:
    """Each patient's deciding statements and set-aside arguments are as worked by hand."""
    for ex in sheets:
        assert {f.ref for f in ex.deciding} == DECIDING[ex.case.number], ex.case.number
        assert {f.ref for f in ex.set_aside} == SET_ASIDE.get(ex.case.number, set())
        assert ex.max_points == CHOICE_POINTS + len(ex.deciding) + len(ex.set_aside)


def _answer(preferred: str | None, statuses: tuple[str, ...]) -> str:
    """The learner's choice from a quick decision key (no blocking facts in these cases)."""
    if preferred is not None:
        return preferred
    if set(statuses) <= {"not_eligible"}:
        return NEITHER
    return NO_PREFERENCE if "alternative" in statuses else NOT_YET


def test_deciding_statements_change_the_choice_when_their_rules_do_not_fire(
    everything: list[Exercise],
) -> None:
    """Cross-check by another path (the rule base's quick decision key on fewer fired
    rules): a deciding argument, taken away alone or with its witnesses, changes the choice
    to the one named; with the witnesses alone gone the choice holds."""
    book = default_rulebook()
    plans = plans_of(book)
    checked = 0
    for ex in everything:
        if ex.kind != "quiz":
            continue
        fired = fired_rules(ex.case.profile, rulebook=book, context=ex.case.context)
        letters = {f.key: f for f in ex.factors}
        for f in ex.deciding:
            assert (f.without is not None) or (f.together and f.then is not None), f.ref
            group = [f, *(letters[k] for k in f.together)]
            if any(g.kind != "argument" or plans_of_any(plans, g.rules) for g in group):
                continue  # a rule that also changes a standing: not the argument alone
            others = {r for g in group[1:] for r in g.rules}
            assert _answer(*quick_key(book, fired - others)) == ex.answer, (ex.case.key, f.ref)
            after = _answer(*quick_key(book, fired - others - set(f.rules)))
            assert after == (f.then if f.together else f.without), (ex.case.key, f.ref)
            checked += 1
    assert checked >= 20


def plans_of_any(plans: dict[str, Any], rules: tuple[str, ...]) -> bool:
    """Whether any of ``rules`` changes a standing."""
    return any(plans[r].changes_standing for r in rules)


def test_no_exercise_gives_full_marks_for_ticking_every_true_statement(
    everything: list[Exercise], tmp_path: Path
) -> None:
    """Every quiz has true statements that did not decide: ticking all never scores full."""
    teacher = tmp_path / "mine.json"
    teacher.write_text((REPO / "examples" / "patients" / "patient-2.json").read_text())
    quizzes = [ex for ex in [*everything, *exercises(gather([teacher]))] if ex.kind == "quiz"]
    assert len(quizzes) >= 10
    for ex in quizzes:
        every = tuple(f.key for f in ex.factors)
        for answer in (
            Answer(choice=ex.answer, factors=every),
            Answer(choice=ex.answer, set_aside=every),
        ):
            assert mark(ex, answer).points < ex.max_points, ex.case.key
        assert any(f.role == "not_deciding" and not f.neutral for f in ex.factors)
        right = Answer(
            choice=ex.answer,
            factors=tuple(f.key for f in ex.deciding),
            set_aside=tuple(f.key for f in ex.set_aside),
        )
        assert mark(ex, right).points == ex.max_points


def test_every_statement_is_true_of_the_patient(everything: list[Exercise]) -> None:
    """Arguments were made, standings and cautions fired, plain facts are the profile's."""
    book = default_rulebook()
    for ex in everything:
        fired = fired_rules(ex.case.profile, rulebook=book, context=ex.case.context)
        made = {a.id for a in ex.recommendation.arguments}
        facts = flatten(ex.case.profile)
        for f in ex.factors:
            if f.kind == "fact":
                assert facts[f.ref] is not None
                said = book.vocabulary.label(f.ref) in f.text
                assert said or f.text.startswith(("The ", "There "))
            else:
                assert set(f.rules) <= fired, (ex.case.key, f.ref)
            if f.kind == "argument":
                assert f.ref in made or set(f.rules) & fired


def test_patient_4s_lesson_is_taught_in_hindsight_and_not_penalised(
    sheets: list[Exercise],
) -> None:
    """Relapse soon after transplant and the manufacturing wait did not decide the choice
    of CAR T cells; ticking them costs nothing and the feedback gives the authors' hindsight."""
    ex = next(e for e in sheets if e.case.number == 4)
    lesson = [f for f in ex.factors if f.hindsight is not None]
    assert {f.ref for f in lesson} >= {"early-post-transplant-relapse"}
    assert all(not f.deciding and f.neutral for f in lesson)
    answer = Answer(
        choice="car_t",
        factors=tuple(sorted([*(f.key for f in ex.deciding), *(f.key for f in lesson)])),
    )
    result = mark(ex, answer)
    assert result.points == ex.max_points
    assert {f.key for f in result.spared} == {f.key for f in lesson}
    text = " ".join(feedback([result]).split())
    assert "In hindsight:" in text and "24 of 78" in text
    assert "Not counted against you" in text


def test_every_literature_case_yields_an_exercise_or_a_discussion_case(
    everything: list[Exercise],
) -> None:
    """All literature cases are offered; quizzes take the clinicians' choice as the answer;
    the case the rules tie on is a discussion case and scores nothing."""
    literature = [ex for ex in everything if ex.case.source == "literature"]
    assert [ex.case.key for ex in literature] == [c["id"] for c in LITERATURE]
    for ex, case in zip(literature, LITERATURE, strict=True):
        assert ex.kind in ("quiz", "discussion")
        if ex.kind == "quiz":
            assert ex.answer == case["clinicians_chose"]
            assert ex.deciding
        else:
            assert ex.max_points == 0
    tie = next(ex for ex in literature if ex.case.key.startswith("declines-transfusion"))
    assert tie.kind == "discussion" and tie.discussion == "tie"
    assert tie.case.documented_difference
    assert mark(tie, Answer(choice="car_t")).points == 0


def test_teacher_cases_without_a_published_decision(tmp_path: Path) -> None:
    """A teacher's profiles: decided ones are quizzes on the rules' choice; provisional ones
    and ties are discussion cases; a case file whose choice the rules miss is one too."""
    first = LITERATURE[0]  # provisional: CNS status and more not known
    (tmp_path / "a.json").write_text(json.dumps(first["profile"]))
    decided = json.loads((REPO / "examples" / "patients" / "patient-1.json").read_text())
    decided["contraindications"] = []  # assessed: nothing left that could turn the choice
    (tmp_path / "b.json").write_text(json.dumps(decided))
    found = exercises(gather([tmp_path]))
    by_key = {ex.case.key: ex for ex in found}
    assert by_key["a"].kind == "discussion" and by_key["a"].discussion == "provisional"
    assert by_key["b"].kind == "quiz" and by_key["b"].answer == "blinatumomab"
    assert by_key["b"].case.published_choice is None
    other = [dict(c) for c in LITERATURE if c["id"] == "no-car-t-access"]
    other[0]["clinicians_chose"] = "car_t"
    file = tmp_path / "cases.yaml"
    file.write_text(yaml.safe_dump({"cases": other}))
    differs = exercises(literature_cases(file, source="teacher"))[0]
    assert differs.kind == "discussion" and differs.discussion == "differs"


def test_a_case_waiting_for_a_fact_is_a_not_yet_quiz(tmp_path: Path) -> None:
    """CD19 not reported: the rules make no choice yet; 'not yet' is the right answer,
    the missing fact decided it, and the feedback says how to establish it."""
    profile = json.loads((REPO / "examples" / "patients" / "patient-1.json").read_text())
    profile["disease"]["cd19"] = None
    (tmp_path / "cd19.json").write_text(json.dumps(profile))
    ex = exercises(gather([tmp_path / "cd19.json"], context="us-2020"))[0]
    assert ex.kind == "quiz" and ex.answer == NOT_YET
    assert [f.ref for f in ex.deciding] == ["cd19-unknown"]
    answers = tmp_path / "answers.yaml"
    answers.write_text(f"cd19: {{choice: not yet, factors: [{ex.deciding[0].key}]}}\n")
    marked = mark(ex, answers_from_file(answers, [ex])[1])
    assert marked.choice_correct and marked.points == ex.max_points
    text = " ".join(feedback([marked]).split())
    assert "Before choosing: - Establish CD19 on the current blasts: CD19 expression" in text
    assert "Before choosing" in html_answer_key([ex])


def test_a_directory_with_a_published_file_keeps_its_decisions(tmp_path: Path) -> None:
    """A teacher's copy of the published patients reads like the shipped one."""
    shutil.copytree(REPO / "examples" / "patients", tmp_path / "mine")
    found = gather([tmp_path / "mine"])
    assert [c.published_choice for c in found] == [c.published_choice for c in gather()]
    assert found[3].hindsight is not None


def test_teach_marks_answers_for_the_cases_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--cases combines sources; answers name cases by number or key."""
    path = tmp_path / "answers.yaml"
    path.write_text("no-car-t-access: {choice: b}\n")
    assert main(["teach", "--cases", "literature", "--answers", str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Case 3: A case from the literature" in out and "Score: 2 of" in out
    assert main(["teach", "--cases", str(tmp_path / "absent"), "--answers", str(path)]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "x", "age": 300}')
    assert main(["teach", "--cases", str(bad), "--answers", str(path)]) == 2
    assert "age" in capsys.readouterr().err


def test_teaching_flow_runs_end_to_end_with_scripted_answers_and_scores_correctly(
    tmp_path: Path, sheets: list[Exercise], capsys: pytest.CaptureFixture[str]
) -> None:
    """Scripted answers (JSON, by id) are marked as worked out by hand: 13 of 22 points."""
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({str(k): v for k, v in SCRIPT.items()}))
    answers = answers_from_file(path, sheets)
    marked = [mark(ex, answers.get(ex.case.number)) for ex in sheets]
    assert {m.exercise.case.number: m.points for m in marked} == EXPECTED_POINTS
    assert {m.exercise.case.number: m.max_points for m in marked} == EXPECTED_MAX
    assert [m.choice_correct for m in marked] == [True, True, False, False, True]
    assert main(["teach", "--answers", str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # text output is wrapped
    assert "Score: 13 of 22 points (59%)." in out
    for ex in sheets:
        assert ex.case.published_rationale[:40] in out  # the published decision is shown
        assert summary_words(ex.recommendation.summary) in out  # the rules' reasoning
    assert "What would change it" in out


def test_yaml_answers_with_letters_are_marked_like_ids(
    tmp_path: Path, sheets: list[Exercise], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same answers written as YAML with sheet letters score the same."""
    lines = []
    for number, answer in SCRIPT.items():
        ex = next(e for e in sheets if e.case.number == number)
        factors = [_by_ref(ex, r) for r in answer["factors"]]
        aside = [_by_ref(ex, r) for r in answer.get("set_aside", [])]
        lines.append(
            f"{number}: {{choice: {answer['choice']}, factors: [{', '.join(factors)}], "
            f"set_aside: [{', '.join(aside)}]}}"
        )
    path = tmp_path / "answers.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert main(["teach", "--answers", str(path), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Teaching round")
    assert "**Score:** 13 of 22 points (59%)." in out


def test_feedback_explains_each_statement_in_words_with_rule_ids_only_for_the_curious(
    everything: list[Exercise],
) -> None:
    """Rule ids appear only on the 'For the curious' line; every statement has words."""
    book = default_rulebook()
    ids = sorted({r.id for r in book.active}, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, ids)) + r")(?![\w-])")
    for ex in everything:
        text = feedback([mark(ex, Answer(choice=ex.answer))], "markdown")
        for line in text.splitlines():
            if "For the curious" in line:
                assert any(r in line for f in ex.factors for r in f.rules) or not ex.factors
                continue
            assert not pattern.search(line), (ex.case.key, line)
        for f in ex.factors:
            assert statement_words(ex, f)
            if f.deciding and f.kind == "argument":
                assert f.citations and f.why and f.why in statement_words(ex, f)


def test_interactive_mode_asks_again_on_bad_input_and_stops_at_end_of_input(
    sheets: list[Exercise],
) -> None:
    """On a terminal: unknown choices and letters are asked again; EOF ends the round."""
    right = " ".join(f.key for f in sheets[0].deciding)
    typed = iter(["maybe", "b", "zz", right, "none", "car-t"])  # patient 2: choice, then EOF

    def ask(prompt: str) -> str:
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    said: list[str] = []
    marked = interactive(sheets, ask=ask, say=said.append)
    assert len(marked) == 1 and marked[0].points == marked[0].max_points == 6
    shown = "\n".join(said)
    assert "unknown statement 'zz'" in shown
    assert "Stopped." in shown and "Total: 6 of 6 points over 1 case(s)." in shown


def test_bad_answer_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown patients, choices, statements or keys are reported and exit 2."""
    cases = {
        "7: {choice: car_t}": "no patient 7",
        "nobody: {choice: car_t}": "not a patient number or case key",
        "1: {choice: maybe}": "choice must be",
        "1: {choice: car_t, factors: [zz]}": "unknown statement 'zz'",
        "1: {choice: car_t, factors: [a], set_aside: [a]}": "both deciding and set aside",
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


def test_vignettes_are_written_from_the_profile_not_copied(everything: list[Exercise]) -> None:
    """No run of eight words is shared with the publications' summaries."""

    def runs(text: str) -> set[tuple[str, ...]]:
        words = re.findall(r"[a-z0-9%.]+", text.lower())
        return {tuple(words[i : i + 8]) for i in range(len(words) - 7)}

    for ex in everything:
        ours = runs(ex.vignette)
        assert not ours & runs(ex.case.vignette)
        assert not ours & runs(ex.case.published_rationale)
        assert f"{ex.case.profile.age}-year-old" in ex.vignette


def test_every_profile_field_has_a_plain_language_label() -> None:
    """A new profile field needs words in the vocabulary before it reaches a report."""
    assert set(default_rulebook().vocabulary.labels) == set(FIELDS)


def test_hindsight_notes_cite_known_sources_and_concern_a_statement(
    sheets: list[Exercise],
) -> None:
    """Each hindsight note is paraphrased data with known sources, and lands on a statement."""
    book = default_rulebook()
    noted = [ex for ex in sheets if ex.case.hindsight is not None]
    assert {ex.case.number for ex in noted} >= {4}
    for ex in noted:
        note = ex.case.hindsight
        assert note is not None and set(note.citations) <= set(book.sources)
        assert any(f.hindsight is note for f in ex.factors), ex.case.number


def test_exercise_sheets_hide_the_answers(everything: list[Exercise], tmp_path: Path) -> None:
    """Sheets (Markdown and HTML) show the vignette and statements, never rule ids, roles
    or the published decision."""
    write_sheets(everything, tmp_path)
    ids = {r for ex in everything for f in ex.factors for r in f.rules}
    for ex in everything:
        stem = (
            ex.case.key if ex.case.source == "published" else f"case-{ex.case.number}-{ex.case.key}"
        )
        for sheet in (
            (tmp_path / f"{stem}.md").read_text(),
            (tmp_path / f"{stem}.html").read_text(),
        ):
            assert all(f.text.replace("'", "&#39;") in sheet or f.text in sheet for f in ex.factors)
            assert "did not decide" not in sheet and "Decided it:" not in sheet
            assert not any(re.search(rf"(?<![\w-]){re.escape(r)}(?![\w-])", sheet) for r in ids)
            assert ex.case.published_rationale[:60] not in sheet
    key = (tmp_path / "answer-key.md").read_text()
    assert all(rule in key for rules in DECIDING.values() for rule in rules if "-" in rule)
    for ex in everything:  # the views a web page would serve: the student's has no answers
        student = json.dumps(sheet_view(ex, len(everything)))
        assert not any(re.search(rf"(?<![\w-]){re.escape(r)}(?![\w-])", student) for r in ids)
        roles = [x["role"] for x in key_view(ex)["statements"]]
        assert roles.count("decided it") == len(ex.deciding)
        assert json.loads(json.dumps(key_view(ex)))["max_points"] == ex.max_points


def test_html_pages_are_self_contained_and_escape_everything(
    tmp_path: Path, everything: list[Exercise]
) -> None:
    """No scripts or fetched resources; a hostile case file's text comes out escaped."""
    hostile = [dict(LITERATURE[2])]
    hostile[0]["id"] = "x"
    hostile[0]["summary"] = "<script>alert(1)</script> **bold** [link](http://evil)"
    file = tmp_path / "cases.yaml"
    file.write_text(yaml.safe_dump({"cases": hostile}))
    ex = exercises(literature_cases(file, source="teacher"))[0]
    pages = [html_sheet(ex, 1), html_answer_key([ex, *everything[:2]])]
    for page in pages:
        assert page.startswith("<!DOCTYPE html>")
        assert '"Times New Roman"' in page  # the shipped style sheet, not escaped
        assert "<script" not in page and "<link" not in page and " src=" not in page
        assert "href" not in page and "<a " not in page
    assert "&lt;script&gt;" in pages[1]
    out = feedback([mark(ex, Answer(choice="b"))], "markdown")
    assert "<script>" not in out and r"\<script\>" in out and r"\*\*bold\*\*" in out


def test_exercise_sheets_in_examples_are_current(
    everything: list[Exercise], tmp_path: Path
) -> None:
    """examples/teaching/ is what `make teaching` writes (published and literature cases)."""
    write_sheets(everything, tmp_path)
    for fresh in sorted(tmp_path.iterdir()):
        kept = TEACHING_DIR / fresh.name
        assert kept.is_file(), f"{kept} missing: run make teaching"
        assert kept.read_text() == fresh.read_text(), f"{kept} is stale: run make teaching"


def test_example_answers_in_examples_are_valid(sheets: list[Exercise]) -> None:
    """The example answers file in examples/teaching/ reads and marks."""
    answers = answers_from_file(TEACHING_DIR / "answers-example.yaml", sheets)
    assert set(answers) == {1, 2, 3, 4, 5}
    text = feedback([mark(ex, answers[ex.case.number]) for ex in sheets])
    assert "Score:" in text


def test_unanswered_patients_score_nothing(sheets: list[Exercise]) -> None:
    """No answer: no points, every deciding statement missed."""
    result = mark(sheets[1], None)
    assert result.points == 0 and result.missed == sheets[1].deciding
    answered = mark(sheets[1], Answer(choice="car_t"))
    assert answered.points == CHOICE_POINTS
    assert mark(sheets[4], Answer(choice=NEITHER)).points == CHOICE_POINTS


def test_a_malformed_answer_file_raises_its_own_error(tmp_path: Path) -> None:
    """Not a mapping of patient numbers: AnswerFileError, a leaf of SequencerError."""
    from sequencer import AnswerFileError

    path = tmp_path / "answers.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(AnswerFileError, match="case number"):
        answers_from_file(path, exercises())


@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="needs Debian's chromium at /usr/bin/chromium (CI installs it, and fails without it)",
)
def test_a_printable_sheet_renders_in_headless_chromium(tmp_path: Path) -> None:
    """A real browser renders patient 4's sheet offline to a non-blank screenshot."""
    shot = tmp_path / "sheet.png"
    screenshot((TEACHING_DIR / "patient-4.html").as_uri(), shot, 1000, 1100)
    assert png_size(shot) == (1000, 1100)
    assert shot.stat().st_size > 40_000  # a blank page compresses to a few kilobytes


def test_docs_screenshot_of_a_sheet_is_in_the_repository() -> None:
    """docs/teaching-patient-4.png is the docs' picture of a printable sheet (docs/teaching.md)."""
    assert png_size(REPO / "docs" / "teaching-patient-4.png") == (1000, 1100)
