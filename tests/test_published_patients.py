"""The review's five patients come out as published, through general rules, with
every reason cited to the review."""

from __future__ import annotations

import pytest
from conftest import patient

from sequencer import Recommendation, recommend
from sequencer.explain.published import library_choice, load_cases

PUBLISHED = {1: "blinatumomab", 2: "car_t", 3: "car_t", 4: "car_t", 5: "neither"}
CONTEXT = {c.number: c.context for c in load_cases()}


def as_published(number: int) -> Recommendation:
    """The patient's recommendation in the review's own regulatory context."""
    return recommend(patient(number), context=CONTEXT[number])


def counted(rec: Recommendation, therapy: str) -> set[str]:
    """Ids of the counted arguments favoring ``therapy``."""
    return {a.id for a in rec.arguments if a.status == "counted" and a.favors == therapy}


def test_published_file_lists_the_five_patients_with_their_choices() -> None:
    """published.yaml carries the five cases and the choices the review reports."""
    cases = load_cases()
    assert {c.number: c.published_choice for c in cases} == PUBLISHED


@pytest.mark.parametrize("number", sorted(PUBLISHED))
def test_patient_comes_out_as_published(number: int) -> None:
    """In the review's context, the library's preferred option is the published one."""
    rec = as_published(number)
    assert library_choice(rec) == PUBLISHED[number]


@pytest.mark.parametrize("number", sorted(PUBLISHED))
def test_every_reason_and_warning_is_cited_and_the_review_is_among_them(number: int) -> None:
    """Nothing in a published patient's rationale is uncited; the review is cited."""
    rec = as_published(number)
    items = [*rec.reasons, *rec.warnings]
    assert items
    for item in items:
        assert item.text.strip() and item.citations
        assert all(c.label for c in item.citations)
    cited = {c.key for item in items for c in item.citations}
    assert "aldoss2020" in cited


def test_patient_1_blinatumomab_for_speed_to_sibling_transplant_low_burden_and_age() -> None:
    """Patient 1: blinatumomab, for the review's reasons, by a clear margin."""
    rec = as_published(1)
    assert counted(rec, "blinatumomab") == {
        "fast-bridge-to-transplant",
        "low-burden-suits-blinatumomab",
        "older-adult-tolerance",
        "trial-slot-delay",
    }
    assert counted(rec, "car_t") == set()
    # the review does not report her infections; an uncontrolled one would make both wait
    assert not rec.close_call and list(rec.provisional_on) == ["contraindications"]
    assert "older-adult-car-t-toxicity" in {w.rule for w in rec.warnings}
    car_t = next(o for o in rec.options if o.therapy == "car_t")
    assert {"older-adult-tolerance", "trial-slot-delay"} <= set(car_t.arguments_against)


def test_patient_2_car_t_for_cns_relapse_history() -> None:
    """Patient 2: CAR T cells, decided by the past CNS relapse (MRD under 0.1%: neither)."""
    rec = as_published(2)
    cns = next(a for a in rec.arguments if a.id == "disease-outside-the-marrow")
    assert cns.status == "counted" and cns.rule == "cns-relapse-history"
    assert counted(rec, "car_t") == {"disease-outside-the-marrow"}
    assert counted(rec, "blinatumomab") == {"fast-bridge-to-transplant"}
    blin = next(o for o in rec.options if o.therapy == "blinatumomab")
    assert "disease-outside-the-marrow" in blin.arguments_against


def test_patient_3_car_t_for_late_relapse_off_immunosuppression() -> None:
    """Patient 3: CAR T cells, as T-cell collection is feasible after a late relapse;
    the TKI pairing is set aside because the leukemia resisted ponatinib."""
    rec = as_published(3)
    assert {"own-t-cells-collectable", "durability-without-transplant"} <= counted(rec, "car_t")
    tki = next(a for a in rec.arguments if a.id == "tki-partner")
    assert tki.status == "set_aside" and tki.weight == 0
    assert [s.rule for s in tki.set_aside_by] == ["ph-positive-ponatinib-refractory"]
    assert not rec.close_call


def test_patient_4_car_t_with_the_three_published_warnings() -> None:
    """Patient 4: CAR T cells in 2020, warned about early relapse, GVHD flare and the
    wait, with the early relapse on immunosuppression weighing against them."""
    rec = as_published(4)
    assert rec.preferred == "car_t" and rec.close_call
    car_t_warnings = {w.rule for w in rec.warnings if w.therapy == "car_t"}
    assert "early-relapse-after-hct" in car_t_warnings
    assert "immunosuppression-after-hct" in car_t_warnings  # GVHD flare off immunosuppression
    assert "car-t-manufacturing-wait" in car_t_warnings
    assert {"blinatumomab-retreatment", "durability-without-transplant"} <= counted(rec, "car_t")
    assert "early-post-transplant-relapse" in counted(rec, "blinatumomab")
    assert rec.provisional and "transplant.candidate" in rec.provisional_on


def test_patient_4_today_defers_car_t_until_immunosuppression_is_withdrawn() -> None:
    """In today's context the trial criteria defer CAR T cells for patient 4: 3 months
    after transplant, on immunosuppression. Not never: the deferral says what lifts it."""
    rec = recommend(patient(4), context="us-2026")
    car_t = next(o for o in rec.options if o.therapy == "car_t")
    assert car_t.status == "deferred"
    # three months after transplant: FELIX's criterion is met, ZUMA-3's washout is not
    assert set(car_t.deferred_by) == {"car-t-on-immunosuppression"}
    assert car_t.deferred_until and "immunosuppression" in car_t.deferred_until
    assert rec.preferred == "blinatumomab"
    assert "inotuzumab-ozogamicin" in {a.id for a in rec.alternatives}


def test_patient_5_neither_with_cd22_directed_alternatives() -> None:
    """Patient 5: CD19-negative, so neither option; CD22-directed therapy suggested."""
    rec = as_published(5)
    assert rec.preferred is None
    assert {o.status for o in rec.options} == {"not_eligible"}
    alternatives = {a.id for a in rec.alternatives}
    assert {"inotuzumab-ozogamicin", "cd22-car-t-trial"} <= alternatives
    assert {a.target for a in rec.alternatives} >= {"CD22"}
    assert all(r.rule == "cd19-negative" for r in rec.reasons if r.effect == "not_eligible")


def test_the_replay_says_why_today_differs() -> None:
    """Where today's choice differs from the published era's, the replay says why:
    patient 4's CAR T cells are deferred by today's trial criteria."""
    from sequencer.explain.published import replay
    from sequencer.present.markdown import markdown_replay

    page = markdown_replay(replay(load_cases()))
    row = next(line for line in page.splitlines() if line.startswith("| 4 |"))
    assert "because CD19 CAR T cells deferred until" in row
    assert "immunosuppression" in row
    unchanged = next(line for line in page.splitlines() if line.startswith("| 2 |"))
    assert "because" not in unchanged


def test_every_changed_today_row_says_what_moved_and_no_closed_option_shows_a_weight() -> None:
    """Each replay row where something moved says what moved (standings or arguments), an
    unchanged row says nothing more, a close call today is named as one, and an option
    that cannot be given shows its standing, not a weight that decides nothing."""
    from sequencer.explain.published import replay
    from sequencer.present.phrases import today_cell

    for r in replay(load_cases()):
        cell = today_cell(r)
        moved = "; choice changed)" in cell or "; same choice, the weights moved)" in cell
        assert ("; because " in cell) is moved, cell
        assert (", close call (" in cell) is r.today.close_call, cell
        for option in r.today.options:
            short = r.rulebook.option_short[option.therapy]
            if option.status == "not_eligible":
                assert f"{short} not eligible" in cell and f"{short} {option.score}" not in cell


def test_the_replay_says_the_choice_held_where_only_the_weights_moved() -> None:
    """Patient 1's choice is blinatumomab then and today: the Today column says the
    choice held and the weights moved, never that it changed; patient 4's did change."""
    from sequencer.explain.published import replay
    from sequencer.present.phrases import today_cell

    cells = {r.case.profile.id: today_cell(r) for r in replay(load_cases())}
    first = cells["aldoss2020-patient-1"]
    assert "same choice, the weights moved" in first and "choice changed" not in first
    assert "; choice changed)" in cells["aldoss2020-patient-4"]


def _views(number: int, context: str | None = None) -> dict[str, str]:
    """Patient ``number``'s recommendation in every view: JSON summary, console text,
    Markdown, the Markdown and HTML case reports, the CDS card's summary line."""
    import io

    from rich.console import Console

    from sequencer import default_rulebook
    from sequencer.present.console import print_recommendation
    from sequencer.present.markdown import markdown_recommendation
    from sequencer.present.phrases import card_summary
    from sequencer.present.report import case_report, html_report, markdown_report

    report = case_report(patient(number), context=context)
    rec = report.recommendation
    out = io.StringIO()
    print_recommendation(rec, Console(file=out, width=200, color_system=None))
    return {
        "json": rec.model_dump(mode="json")["summary"],
        "console": out.getvalue(),
        "markdown": markdown_recommendation(rec),
        "report.md": markdown_report(report),
        "report.html": html_report(report),
        "card": card_summary(rec, default_rulebook()),
    }


def test_an_option_that_is_only_what_is_left_is_the_only_option_now_not_preferred() -> None:
    """Patient 4 today: blinatumomab is chosen only because CAR T cells wait; every view
    calls it the only option now, none calls it preferred, and its status value stays
    ``preferred`` (a contract)."""
    rec = recommend(patient(4))
    assert rec.preferred == "blinatumomab"
    assert {o.therapy: o.status for o in rec.options}["blinatumomab"] == "preferred"
    for view, text in _views(4).items():
        assert "only option now" in text, view
        # the reports' what-if sections speak of hypothetical choices; the standing is
        # what must not read as a preference
        for preference in ("Prefer", "| preferred |", ">preferred<", "Blinatumomab: preferred"):
            assert preference not in text, (view, preference)
    for view in ("json", "console", "markdown", "card"):
        assert "prefer" not in _views(4)[view].lower(), view


def test_a_real_preference_is_still_called_one() -> None:
    """Patient 1 has two options open: its summary prefers one by the weight of
    arguments, and no view calls it the only option."""
    for view, text in _views(1).items():
        assert "only option" not in text, view
    assert _views(1)["json"].startswith("Prefer Blinatumomab: weight of arguments ")


def test_a_not_eligible_option_shows_no_weight_in_any_view() -> None:
    """Patient 5 (CD19-negative): CAR T cells carry 3 points of arguments, but no view
    shows a weight for an option that cannot be given."""
    rec = recommend(patient(5))
    car_t = next(o for o in rec.options if o.therapy == "car_t")
    assert car_t.status == "not_eligible" and car_t.score > 0  # the field stays (contract)
    views = _views(5)
    assert f"weight of arguments {car_t.score}" not in views["console"]
    assert f"| {car_t.score} |" not in views["markdown"]
    assert f"| {car_t.score} |" not in views["report.md"]
    assert "not eligible, weight" not in views["report.html"]
    assert f"{car_t.name}: weight of arguments" not in views["report.html"]
    for view in ("console", "markdown", "report.md", "report.html"):
        assert f"to {car_t.name}]" not in views[view] and "+2 to" not in views[view], view
        assert f"no weight: {car_t.name} not eligible" in views[view], view


def test_with_no_option_eligible_no_missing_fact_that_cannot_change_it_is_listed() -> None:
    """Patient 5: CD19-negative disease rules both options out; the facts her record
    lacks cannot change that, so none is listed as missing (she listed 9 before)."""
    rec = recommend(patient(5))
    assert all(m.could_flip or m.blocking for m in rec.missing)
    assert rec.missing == [] and not rec.provisional and rec.provisional_on == []


def test_missing_facts_that_change_only_weights_stay_listed_while_an_option_is_open() -> None:
    """Where an option can still be given (patient 3), facts that move only the weights
    stay listed: the filter applies only when nothing is eligible."""
    rec = recommend(patient(3))
    assert any(not m.could_flip for m in rec.missing)


@pytest.mark.parametrize("number", [1, 2])
def test_a_never_transplanted_patient_reads_a_transplant_not_a_further_one(number: int) -> None:
    """Patients 1 and 2 have had no transplant: their vignette says a transplant is
    planned (not a further one) and does not ask for the last transplant's donor or
    its GVHD."""
    from sequencer import default_rulebook
    from sequencer.present.report import case_report

    report = case_report(patient(number))
    text = default_rulebook().vocabulary.vignette(report.effective, None)
    assert "There has been no allogeneic transplant. A transplant is planned" in text
    assert "further transplant" not in text
    assert "donor of the last transplant" not in text and "GVHD" not in text


def test_a_transplanted_patient_still_reads_a_further_transplant() -> None:
    """A patient relapsing after a transplant with another planned reads 'a further
    transplant', and the last transplant's donor is still asked for."""
    from sequencer import default_rulebook
    from sequencer.model.parsing import parse_profile

    profile = dict(patient(1))
    profile["transplant"] = {**profile["transplant"], "prior_allo_hct": True}
    text = default_rulebook().vocabulary.vignette(parse_profile(profile), None)
    assert "A further transplant is planned" in text
    assert "donor of the last transplant" in text
