"""The plan around the choice (rules/plan.yaml): validated at load like every rule file,
chosen by the recommendation's choice and the steps' conditions, shown in every view."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import RULES_DIR, patient
from rich.console import Console

from sequencer import RuleBaseError, load_rulebook, recommend
from sequencer.model.recommendation import Recommendation
from sequencer.present.console import print_recommendation
from sequencer.present.markdown import markdown_recommendation
from sequencer.present.report import case_report, html_report, markdown_report

PLAN = "plan.yaml"


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(RULES_DIR, tmp_path / "rules")
    return tmp_path / "rules"


def _mutate(root: Path, old: str, new: str) -> int:
    """Replace ``old`` by ``new`` in the plan file; return the line where ``new`` starts."""
    path = root / PLAN
    text = path.read_text()
    assert old in text, f"mutation anchor not found: {old!r}"
    at = text.index(old)
    path.write_text(text.replace(old, new, 1))
    return text[:at].count("\n") + 1


FAULTS = {
    "unknown source": (
        "    citations: [roloff2024, aldoss2020]",
        "    citations: [roloff2024, nobody1999]",
        "car-t-consolidative-transplant",
        "unknown source 'nobody1999'",
    ),
    "unknown option": (
        "    option: car_t\n    when:\n      transplant.candidate: true",
        "    option: car_tee\n    when:\n      transplant.candidate: true",
        "car-t-consolidative-transplant",
        "'car_tee' is not one of",
    ),
    "unknown field in a condition": (
        "      transplant.candidate: true\n    text: >\n      In remission, an allogeneic",
        "      transplant.candidat: true\n    text: >\n      In remission, an allogeneic",
        "car-t-consolidative-transplant",
        "transplant.candidat",
    ),
    "duplicate id": (
        "  - id: car-t-without-transplant",
        "  - id: car-t-infusion",
        "car-t-infusion",
        "defined twice",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_broken_plan_step_fails_at_load_with_file_line_and_step_id(
    fault: str, tmp_path: Path
) -> None:
    """Each fault in plan.yaml stops the load naming the file, the step's line and id."""
    old, new, step, words = FAULTS[fault]
    root = _copy(tmp_path)
    line = _mutate(root, old, new)
    with pytest.raises(RuleBaseError) as caught:
        load_rulebook(root)
    error = caught.value
    assert error.path is not None and error.path.endswith(PLAN), error
    assert error.rule_id == step and words in error.message, error
    assert error.line is not None and line <= error.line <= line + 2, (error.line, line)


def test_an_unknown_key_in_a_plan_step_fails_at_its_line(tmp_path: Path) -> None:
    """A misspelt key (``citation`` for ``citations``) is refused at its line."""
    root = _copy(tmp_path)
    line = _mutate(root, "    citations: [queudeville2023]", "    citation: [queudeville2023]")
    with pytest.raises(RuleBaseError) as caught:
        load_rulebook(root)
    assert caught.value.line == line and "citation" in str(caught.value)


def test_a_rule_base_without_a_plan_loads_and_recommends_no_plan(tmp_path: Path) -> None:
    """The plan file is optional: without one, recommendations carry an empty plan."""
    root = _copy(tmp_path)
    (root / PLAN).unlink()
    book = load_rulebook(root)
    assert book.plan == ()
    assert recommend(patient(2), rulebook=book).plan == []


def _variants() -> list[dict[str, Any]]:
    """The published patients and, for each, the same record with a high marrow burden
    and each answer to transplant candidacy."""
    out = []
    for number in range(1, 6):
        base = patient(number)
        out.append(base)
        for candidate in (True, False, None):
            for blasts in (10, 60):
                varied = {**base, "transplant": {**base["transplant"], "candidate": candidate}}
                disease = {**base["disease"], "status": "relapsed", "marrow_blasts_pct": blasts}
                out.append({**varied, "disease": {**disease, "mrd_pct": None}})
    return out


@pytest.mark.parametrize("profile", _variants())
def test_the_plan_belongs_to_the_choice_and_follows_its_conditions(
    profile: dict[str, Any],
) -> None:
    """Every step is the chosen option's, in phase order; a transplant step appears only
    for a candidate, a no-transplant step only for a patient who is not one, a debulking
    step only with 50% blasts or more; nothing chosen, no plan."""
    rec = recommend(profile)
    if rec.preferred is None:
        assert rec.plan == []
        return
    assert rec.plan and all(s.option == rec.preferred for s in rec.plan)
    phases = [s.phase for s in rec.plan]
    assert phases == sorted(phases, key=("bridge", "definitive", "consolidation").index)
    assert [s.phase for s in rec.plan].count("definitive") == 1
    rules = {s.rule for s in rec.plan}
    candidate = profile["transplant"]["candidate"]
    assert bool(rules & {"car-t-consolidative-transplant", "blinatumomab-then-transplant"}) is (
        candidate is True
    )
    assert bool(rules & {"car-t-without-transplant", "blinatumomab-without-transplant"}) is (
        candidate is False
    )
    blasts = profile["disease"].get("marrow_blasts_pct")
    high = blasts is not None and blasts >= 50
    debulk = {"car-t-bridge-inotuzumab-high-burden", "blinatumomab-debulk-high-burden"}
    assert bool(rules & debulk) is high
    assert all(s.citations for s in rec.plan)


def test_the_plan_round_trips_through_json() -> None:
    """A recommendation with a plan validates against its own model from JSON."""
    rec = recommend(patient(2))
    assert rec.plan
    assert Recommendation.model_validate_json(rec.model_dump_json()) == rec


@pytest.mark.parametrize("number", [1, 2])
def test_every_view_shows_the_plan_with_its_references(number: int) -> None:
    """Console, Markdown, the Markdown and HTML reports name the plan, each step's text
    (its start) and rule id."""
    report = case_report(patient(number))
    rec = report.recommendation
    out = io.StringIO()
    print_recommendation(rec, Console(file=out, width=400, color_system=None))
    views = {
        "console": out.getvalue(),
        "markdown": markdown_recommendation(rec),
        "report.md": markdown_report(report),
        "report.html": html_report(report),
    }
    for view, text in views.items():
        assert "The plan around" in text, view
        for step in rec.plan:
            assert step.rule in text and step.text[:40] in text, (view, step.rule)


def test_the_fhir_guidance_response_notes_each_plan_step_on_its_request_group() -> None:
    """The GuidanceResponse's RequestGroup carries one note per plan step, in order."""
    from sequencer.interop.fhir_out import guidance_response

    rec = recommend(patient(2))
    group = next(
        r for r in guidance_response(rec)["contained"] if r["resourceType"] == "RequestGroup"
    )
    notes = [n["text"] for n in group["note"] if n["text"].startswith("Plan (")]
    assert len(notes) == len(rec.plan)
    assert all(step.rule in note for step, note in zip(rec.plan, notes, strict=True))
