"""Decision sensitivity: single-fact changes, checked against hand-worked examples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import PATIENTS_DIR, RULES_DIR, patched, patient
from hypothesis import given, settings

from sequencer import default_rulebook, load_rulebook, parse_profile, recommend
from sequencer.api import effective_profile
from sequencer.cli import main
from sequencer.explain.published import load_cases
from sequencer.explain.whatif import candidate_values, outcome, vary, what_if
from sequencer.explain.whatif_model import KIND_ORDER, Change, WhatIf
from sequencer.model.fields import flatten
from sequencer.testing import profiles

US_2020 = "us-2020"  # the review's context, as replay and teaching use it


def _change(w: WhatIf, field: str, value: Any) -> Change:
    found = [c for c in w.changes if c.field == field and value in (c.to_value, *c.same_as)]
    assert len(found) == 1, f"{field} -> {value!r}: {[c.text for c in found]}"
    return found[0]


def test_patient_1_cns2_narrows_the_lead_but_does_not_flip_and_says_why() -> None:
    """Patient 1 with CNS2: CAR T 0 -> 3 (one strong argument, as the review weighs CNS
    involvement) and blinatumomab 6 -> 5 (a low marrow burden is no longer low burden)."""
    w = what_if(patient(1), context=US_2020)
    assert w.baseline.preferred == "blinatumomab"
    assert w.baseline.scores == {"blinatumomab": 6, "car_t": 0}
    cns2 = _change(w, "disease.cns", "CNS2")
    assert cns2.from_value == "CNS1" and cns2.same_as == ["CNS3"]
    assert cns2.kind == "changes_scores"
    assert cns2.outcome.preferred == "blinatumomab"
    assert cns2.outcome.scores == {"blinatumomab": 5, "car_t": 3}
    assert {(s.rule, s.fires) for s in cns2.rules if s.decisive} == {
        ("cns-involvement", True),
        ("marrow-blasts-below-50", False),
    }
    # why not: the three counted arguments that keep blinatumomab ahead (2 + 2 + 1 = 5)
    assert set(cns2.lead) == {
        "older-adult-blinatumomab-active",
        "bridge-to-transplant-with-donor",
        "car-t-trial-slot-needed",
    }
    assert "Not enough to change the choice" in cns2.text
    assert "lead 6 → 2" in cns2.text


def test_patient_1_cns2_in_todays_context_keeps_blinatumomab_ahead() -> None:
    """Today (approved CAR T, no trial-slot point) CNS2 leaves blinatumomab ahead 4 vs 3,
    a close call: age and the sibling donor against CSF disease blinatumomab does not reach."""
    cns2 = _change(what_if(patient(1)), "disease.cns", "CNS2")
    assert cns2.outcome.preferred == "blinatumomab"
    assert cns2.outcome.scores == {"blinatumomab": 4, "car_t": 3}
    assert cns2.outcome.close_call


def test_patient_1_only_failure_or_cd19_loss_flips_the_choice_and_no_access_flips_eligibility() -> (
    None
):
    """Patient 1 leads by 6: only blinatumomab failure, CD19 loss or an uncontrolled
    infection (both wait) changes the choice; no access drops CAR T."""
    w = what_if(patient(1), context=US_2020)
    flips = [c for c in w.changes if c.kind == "flips_preferred"]
    assert [(c.field, c.to_value) for c in flips] == [
        ("prior_therapy.blinatumomab", "refractory"),
        ("disease.cd19", "negative"),
        ("contraindications", ["active_infection"]),
    ]
    assert flips[0].outcome.preferred == "car_t"
    assert flips[1].outcome.choice == "neither"
    assert flips[2].outcome.choice == "not-now"
    eligibility = [c for c in w.changes if c.kind == "flips_eligibility"]
    assert [(c.field, c.to_value) for c in eligibility] == [("access.car_t", "unavailable")]
    assert eligibility[0].from_context  # the trial-only access was derived from us-2020
    assert eligibility[0].outcome.eligible == ["blinatumomab"]


def test_patient_2_without_the_past_cns_relapse_prefers_blinatumomab() -> None:
    """Patient 2: CAR T 3 (the past CNS relapse, strong) vs 2; without it 0 vs 2 (MRD under
    0.1% weighs for neither option)."""
    w = what_if(patient(2), context=US_2020)
    assert w.baseline.scores == {"blinatumomab": 2, "car_t": 3}
    change = _change(w, "disease.cns_relapse_history", False)
    assert change.kind == "flips_preferred"
    assert change.outcome.preferred == "blinatumomab"
    assert change.outcome.scores == {"blinatumomab": 2, "car_t": 0}
    assert {s.rule for s in change.rules if not s.fires} == {"cns-relapse-history"}


def test_crossing_a_label_age_rederives_access_and_says_so() -> None:
    """Patient 2 at 26 in us-2020: trial only, +1 blinatumomab, a 3-3 tie."""
    change = _change(what_if(patient(2), context=US_2020), "age", 26)
    assert change.kind == "flips_preferred"
    assert change.outcome.choice == "no-preference"
    assert change.outcome.scores == {"blinatumomab": 3, "car_t": 3}
    assert change.derived and "clinical trial only" in change.derived[0]
    assert "car-t-trial-slot-needed" in {s.rule for s in change.rules if s.fires}


def test_unknown_fields_report_what_every_value_would_do() -> None:
    """Patient 3's unknown CNS status: CNS2/CNS3 add 3 for CAR T, CNS1 changes nothing."""
    w = what_if(patient(3), context=US_2020)
    items = w.for_field("disease.cns")
    tried = {v for c in items for v in (c.to_value, *c.same_as)}
    assert tried == {"CNS1", "CNS2", "CNS3"}
    assert all(c.was_unknown and c.from_value == "unknown" for c in items)
    assert _change(w, "disease.cns", "CNS1").kind == "no_change"
    assert _change(w, "disease.cns", "CNS3").outcome.scores == {"blinatumomab": 1, "car_t": 6}


def test_knowing_patient_3_can_be_transplanted_would_flip_to_blinatumomab() -> None:
    """Patient 3's published choice rests on an uncertain second transplant: a planned
    one sets the durability argument aside (and makes the bridge argument)."""
    change = _change(what_if(patient(3), context=US_2020), "transplant.candidate", True)
    assert change.kind == "flips_preferred"
    assert change.outcome.scores == {"blinatumomab": 3, "car_t": 2}


def test_patient_5_only_cd19_expression_would_change_anything() -> None:
    """CD19-negative disease: no other single fact makes an option eligible."""
    w = what_if(patient(5), context=US_2020)
    decisive = [c for c in w.changes if c.kind != "no_change"]
    assert [(c.field, c.to_value, c.same_as) for c in decisive] == [
        ("disease.cd19", "positive", ["dim"])
    ]
    assert decisive[0].outcome.preferred == "car_t"


def test_contradictory_changes_are_skipped_with_the_reason() -> None:
    """Patient 3 'never transplanted' contradicts his months since transplant."""
    w = what_if(patient(3), context=US_2020)
    skipped = {(s.field, s.to_value): s.reason for s in w.skipped}
    assert "months_since_hct" in skipped["transplant.prior_allo_hct", False]


def test_items_are_ordered_by_what_they_do() -> None:
    """Choice flips, then eligibility flips, then score changes, then unknowns that do nothing."""
    for number in range(1, 6):
        kinds = [KIND_ORDER[c.kind] for c in what_if(patient(number), context=US_2020).changes]
        assert kinds == sorted(kinds)


def test_score_changes_that_narrow_the_lead_come_before_those_that_widen_it() -> None:
    """Within score changes, the closer a change brings the other option, the earlier it is."""
    w = what_if(patient(1), context=US_2020)
    gaps = [
        c.outcome.scores["blinatumomab"] - c.outcome.scores["car_t"]
        for c in w.changes
        if c.kind == "changes_scores"
    ]
    assert gaps == sorted(gaps)


def test_numeric_candidates_sit_either_side_of_the_rule_thresholds() -> None:
    """Marrow blasts are tried at 49/50 (ge/lt 50), 4.9/5 (ge 5), 5/5.1 (gt 5) and 75/76."""
    book = load_rulebook(RULES_DIR)
    ctx = book.context(US_2020)
    values = candidate_values(book, "disease.marrow_blasts_pct", None, ctx)
    assert set(values) == {4.9, 5, 5.1, 49, 50, 75, 76}
    months = candidate_values(book, "transplant.months_since_hct", None, ctx)
    assert set(months) == {5.9, 6, 11, 12}


def test_thresholds_are_read_from_the_rule_base_not_hard_coded(tmp_path: Path) -> None:
    """Moving the 50% blast threshold to 40% in the YAML moves the candidates with it."""
    root = tmp_path / "rules"
    shutil.copytree(RULES_DIR, root)
    path = root / "considerations" / "disease-burden.yaml"
    text = path.read_text()
    path.write_text(text.replace("{ge: 50}", "{ge: 40}").replace("lt: 50}", "lt: 40}"))
    book = load_rulebook(root)
    values = candidate_values(book, "disease.marrow_blasts_pct", None, book.context())
    assert {39, 40} <= set(values) and 49 not in values and 50 not in values
    w = what_if(patched({"disease.marrow_blasts_pct": 30}), rulebook=book)
    assert any(c.field == "disease.marrow_blasts_pct" and c.to_value == 40 for c in w.changes)


@pytest.mark.parametrize("number", range(1, 6))
def test_every_item_is_what_recommend_answers_for_the_changed_profile(number: int) -> None:
    """The reference-evaluator shortcut gives recommend()'s answer, value for value."""
    case = next(c for c in load_cases() if c.number == number)
    w = what_if(case.profile, context=case.context)
    assert w.baseline == outcome(recommend(case.profile, context=case.context), default_rulebook())
    for change in w.changes:
        for value in (change.to_value, *change.same_as):
            got = outcome(
                recommend(vary(case.profile, change.field, value), context=case.context),
                default_rulebook(),
            )
            if change.kind == "no_change":  # merged: nothing that can matter differs
                assert (got.choice, got.eligible, got.close_call) == (
                    w.baseline.choice,
                    w.baseline.eligible,
                    w.baseline.close_call,
                )
                assert all(got.scores[t] == w.baseline.scores[t] for t in got.eligible)
            else:
                assert got == change.outcome, (change.field, value)


@settings(max_examples=40)
@given(profiles())
def test_could_flip_never_misses_a_fact_that_flips(profile: Any) -> None:
    """A missing fact not marked could_flip has no value that changes choice or eligibility."""
    rec = recommend(profile)
    quiet = {m.field for m in rec.missing if not m.could_flip}
    if not quiet:
        return
    for change in what_if(profile).changes:
        if change.field in quiet:
            assert change.kind not in ("flips_preferred", "flips_eligibility"), change.text


def test_missing_facts_that_could_flip_come_first() -> None:
    """Patient 4 (a close call): tempo, candidacy, Ph, ECOG and the unassessed
    contraindications (a refusal of blood products weighs against CAR T cells) first;
    CNS facts after. Marrow blasts no longer turn it: with the CSF and extramedullary
    sites unknown, a low marrow count is not taken as low burden."""
    rec = recommend(patient(4), context=US_2020)
    order = [(m.field, m.could_flip) for m in rec.missing]
    flags = [flag for _, flag in order]
    assert flags == sorted(flags, reverse=True)
    assert {f for f, flag in order if flag} == {
        "disease.rapidly_progressing",
        "transplant.candidate",
        "disease.ph",
        "ecog",
        "contraindications",
    }
    assert rec.provisional and set(rec.provisional_on) == {f for f, flag in order if flag}


def test_blocking_facts_lead_the_missing_list() -> None:
    """An unknown CD19 status blocks the choice and is listed first."""
    rec = recommend({"id": "sparse"})
    assert rec.missing[0].field == "disease.cd19"
    assert rec.missing[0].blocking and rec.missing[0].could_flip


def test_missing_fact_could_flip_is_an_added_field_with_a_default() -> None:
    """The output shape only grows: could_flip defaults to false and round-trips."""
    from sequencer.model.recommendation import MissingFact

    fact = MissingFact(field="age", text="Age is missing.", rules=["age-unknown"])
    assert fact.could_flip is False
    dumped = recommend(patient(3)).model_dump(mode="json")
    assert all("could_flip" in m for m in dumped["missing"])


def test_vary_refuses_a_contradictory_change() -> None:
    """vary() validates: MRD-only status with 10% blasts is a ProfileError."""
    from sequencer import ProfileError

    with pytest.raises(ProfileError):
        vary(parse_profile(patient(1)), "disease.status", "mrd_positive")


def test_what_if_sees_the_profile_as_recommend_does() -> None:
    """The from-values are those of the effective profile (context-derived access)."""
    w = what_if(patient(1), context=US_2020)
    effective, _, _ = effective_profile(patient(1), context=US_2020)
    facts = flatten(effective)
    for change in w.changes:
        current = facts[change.field]
        assert change.from_value == (list(current) if isinstance(current, tuple) else current)


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_whatif_command_prints_each_format(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`sequencer whatif FILE --format F` works on an example patient."""
    path = PATIENTS_DIR / "patient-1.json"
    assert main(["whatif", str(path), "--format", fmt, "--context", US_2020]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        parsed = WhatIf.model_validate(json.loads(out))
        assert parsed == what_if(path.read_text(), context=US_2020)
    else:
        assert "Not enough to change the choice" in out or "Why not more" in out
        # rule ids: in Markdown (for rule authors) and only with --show-rules in text
        assert ("cns-involvement" in out) == (fmt == "markdown")
        if fmt == "text":
            title = default_rulebook().rule("cns-involvement").title
            assert " ".join(title.split()[:2]) in out


def test_whatif_text_names_rules_by_id_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    """`whatif --show-rules` prints rule ids; without it, the text has none."""
    path = str(PATIENTS_DIR / "patient-1.json")
    assert main(["whatif", path, "--context", US_2020, "--show-rules"]) == 0
    assert "cns-involvement" in capsys.readouterr().out
    assert main(["whatif", path, "--context", US_2020]) == 0
    assert "cns-involvement" not in capsys.readouterr().out


def test_whatif_command_rejects_bad_input_with_exit_2(tmp_path: Path) -> None:
    """An invalid profile or an unreadable file exits 2 without a traceback."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(patched({"disease.cns": "CNS9"})))
    assert main(["whatif", str(bad)]) == 2
    assert main(["whatif", str(tmp_path / "absent.json")]) == 2
    assert main(["whatif", str(PATIENTS_DIR / "patient-1.json"), "--context", "mars"]) == 2


def test_each_recommendation_gets_its_own_missing_list() -> None:
    """The ordered missing facts are remembered per fired set, but never shared as a list."""
    first = recommend(patient(4))
    first.missing.clear()
    assert recommend(patient(4)).missing


def test_a_given_recommendation_is_used_not_made_again() -> None:
    """what_if(base=rec) gives what what_if makes itself; a base for another patient,
    context or rule base is refused."""
    from sequencer import UsageError

    profile = (PATIENTS_DIR / "patient-4.json").read_text()
    rec = recommend(profile, context=US_2020)
    assert what_if(profile, context=US_2020, base=rec) == what_if(profile, context=US_2020)
    with pytest.raises(UsageError, match="another patient, context or rule base"):
        what_if(profile, base=rec)  # made in us-2020, asked in the default context
