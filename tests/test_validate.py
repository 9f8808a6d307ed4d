"""Validation against past decisions: every expect key, the verdict rules, the Wilson
interval, corpus loading (JSON files and board-minutes CSV), and the shipped corpus's floor."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, patched

import sequencer
from sequencer import Rulebook
from sequencer.errors import CorpusError
from sequencer.explain.corpus import ValidationCase, case_from_mapping, load_corpus
from sequencer.explain.corpus_csv import CASE_COLUMNS, csv_header
from sequencer.explain.validation import judge, wilson
from sequencer.model.fields import FIELDS

VALIDATION_DIR = REPO / "examples" / "validation"

# Synthetic profiles (patches over the rule cases' base profile), each chosen for what the
# shipped rule base answers for it; the tests below assert that answer before relying on it.
PROFILES: dict[str, dict[str, Any]] = {
    "base": {},
    "ph": {"disease.ph": "positive"},
    "t315i": {"disease.ph": "positive", "disease.abl1_mutations": ["T315I"]},
    "cd19_negative": {"disease.cd19": "negative"},
    "no_car_t_access": {"access.car_t": "unavailable"},
    "infection": {"contraindications": ["active_infection"]},
    "gvhd": {
        "transplant.prior_allo_hct": True,
        "transplant.months_since_hct": 12,
        "transplant.gvhd": "active",
    },
    "gvhd_on_immunosuppression": {
        "transplant.prior_allo_hct": True,
        "transplant.months_since_hct": 12,
        "transplant.gvhd": "active",
        "transplant.on_immunosuppression": True,
    },
    "cns_unknown": {"disease.cns": None},
    "blin_refractory": {"prior_therapy.blinatumomab": "refractory"},
    "mrd_blasts_unknown": {
        "disease.marrow_blasts_pct": None,
        "disease.mrd_pct": 0.5,
        "transplant.donor": "matched_sibling",
    },
}


def _case(
    profile: str | Mapping[str, Any], expect: Mapping[str, Any], **extra: Any
) -> ValidationCase:
    body = patched(PROFILES[profile]) if isinstance(profile, str) else dict(profile)
    data = {"id": "synthetic", "profile": body, "expect": dict(expect), **extra}
    return case_from_mapping(data, "test")


# key, profile where it holds, profile where it fails, the expectation
KEYS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("preferred", "ph", "cd19_negative", {"preferred": "blinatumomab"}),
    ("preferred", "cd19_negative", "base", {"preferred": None}),
    ("preferred", "base", "ph", {"preferred": "car_t", "close_call_ok": True}),
    ("acceptable", "ph", "blin_refractory", {"acceptable": ["blinatumomab", None]}),
    ("car_t_deferred", "infection", "base", {"car_t_deferred": True}),
    ("car_t_not_eligible", "no_car_t_access", "base", {"car_t_not_eligible": True}),
    ("car_t_eligible", "base", "no_car_t_access", {"car_t_eligible": True}),
    ("blin_deferred", "gvhd_on_immunosuppression", "base", {"blin_deferred": True}),
    ("blin_not_eligible", "cd19_negative", "base", {"blin_not_eligible": True}),
    ("blin_eligible", "base", "cd19_negative", {"blin_eligible": True}),
    ("blin_eligible", "cd19_negative", "base", {"blin_eligible": False}),
    ("all_not_eligible", "cd19_negative", "base", {"all_not_eligible": True}),
    ("alternatives", "cd19_negative", "base", {"alternatives": True}),
    ("alternatives", "base", "cd19_negative", {"alternatives": False}),
    (
        "alternatives_include",
        "cd19_negative",
        "base",
        {"alternatives_include": ["inotuzumab-ozogamicin"]},
    ),
    ("tki_add_on", "ph", "base", {"tki_add_on": "blinatumomab"}),
    ("ponatinib", "t315i", "ph", {"tki_add_on": "blinatumomab", "ponatinib": True}),
    ("caution_on", "base", "cd19_negative", {"caution_on": "car_t"}),
    ("gvhd_both", "gvhd", "base", {"gvhd_both": True}),
    ("missing_includes", "cns_unknown", "base", {"missing_includes": ["disease.cns"]}),
]


@pytest.mark.parametrize(("key", "holds_on", "fails_on", "expect"), KEYS)
def test_every_expect_key_holds_on_one_profile_and_fails_on_another(
    key: str, holds_on: str, fails_on: str, expect: dict[str, Any], rulebook: Rulebook
) -> None:
    """Each expect key is judged: it holds where the answer matches and fails where not."""
    held = judge(_case(holds_on, expect), rulebook)
    failed = judge(_case(fails_on, expect), rulebook)
    assert [c.holds for c in held.checks if c.key == key] and all(
        c.holds for c in held.checks if c.key == key
    ), held.why
    assert not all(c.holds for c in failed.checks if c.key == key)
    assert [c for c in failed.checks if c.key == key]
    assert held.verdict == "concordant"


def test_the_synthetic_profiles_get_the_answers_the_verdict_tests_rely_on(
    rulebook: Rulebook,
) -> None:
    """Base: a close call for blinatumomab; Ph+: a settled one; unknown blasts: provisional."""
    base = sequencer.recommend(patched(PROFILES["base"]), rulebook=rulebook)
    ph = sequencer.recommend(patched(PROFILES["ph"]), rulebook=rulebook)
    mrd = sequencer.recommend(patched(PROFILES["mrd_blasts_unknown"]), rulebook=rulebook)
    assert (base.preferred, base.close_call, base.provisional) == ("blinatumomab", True, False)
    assert (ph.preferred, ph.close_call, ph.provisional) == ("blinatumomab", False, False)
    assert (mrd.preferred, mrd.close_call, mrd.provisional) == ("blinatumomab", False, True)


def test_every_expectation_holding_is_concordant(rulebook: Rulebook) -> None:
    """All checks hold → concordant, and the why says so."""
    result = judge(
        _case("ph", {"preferred": "blinatumomab", "tki_add_on": "blinatumomab"}), rulebook
    )
    assert result.verdict == "concordant"
    assert result.why == "every expectation holds"
    assert result.library_preferred == "blinatumomab"


def test_a_different_choice_on_a_close_call_is_conditional(rulebook: Rulebook) -> None:
    """Only the choice differs and the library flagged a close call → conditional."""
    result = judge(_case("base", {"preferred": "car_t"}), rulebook)
    assert result.verdict == "conditional"
    assert result.close_call


def test_a_different_acceptable_set_on_a_close_call_is_conditional(rulebook: Rulebook) -> None:
    """``acceptable`` failing alone on a close call is also conditional."""
    assert judge(_case("base", {"acceptable": ["car_t"]}), rulebook).verdict == "conditional"


def test_a_different_choice_on_a_provisional_answer_is_conditional(rulebook: Rulebook) -> None:
    """Only the choice differs and the answer is provisional (not a close call) → conditional."""
    result = judge(_case("mrd_blasts_unknown", {"preferred": "car_t"}), rulebook)
    assert result.verdict == "conditional"
    assert result.provisional and not result.close_call


def test_a_different_choice_on_a_settled_answer_is_discordant(rulebook: Rulebook) -> None:
    """The choice differs and the library called it settled → discordant, with its reasons."""
    result = judge(_case("ph", {"preferred": "car_t"}), rulebook)
    assert result.verdict == "discordant"
    assert "not car_t" in result.why
    assert result.deciding and all(d.therapy == "blinatumomab" for d in result.deciding)


def test_a_close_call_does_not_excuse_another_failed_expectation(rulebook: Rulebook) -> None:
    """Choice and another key both fail on a close call → discordant, not conditional."""
    result = judge(_case("base", {"preferred": "car_t", "alternatives": True}), rulebook)
    assert result.verdict == "discordant"


def test_a_failed_key_other_than_the_choice_is_discordant_on_a_close_call(
    rulebook: Rulebook,
) -> None:
    """Only a non-choice key fails (a close call) → discordant."""
    assert judge(_case("base", {"all_not_eligible": True}), rulebook).verdict == "discordant"


@pytest.mark.parametrize(
    ("case", "why"),
    [
        (
            {"profile": patched({"age": "forty"}), "expect": {"preferred": "car_t"}},
            "does not validate",
        ),
        (
            {"profile": patched({}), "expect": {"preferred": "car_t"}, "context": "mars-2099"},
            "mars-2099",
        ),
        ({"profile": patched({}), "expect": {}}, "no expectation"),
        ({"profile": patched({}), "expect": {"close_call_ok": True}}, "close_call_ok only qualify"),
        ({"profile": patched({}), "expect": {"ponatinib": True}}, "ponatinib only qualify"),
        (
            {"profile": patched({}), "expect": {"preferred": "inotuzumab-ozogamicin"}},
            "not an option",
        ),
        (
            {"profile": patched({}), "expect": {"acceptable": ["car_t", "hyper-cvad"]}},
            "hyper-cvad",
        ),
    ],
    ids=[
        "invalid-profile",
        "unknown-context",
        "no-expectation",
        "only-a-qualifier",
        "qualifier-without-its-key",
        "choice-outside",
        "acceptable",
    ],
)
def test_a_case_that_cannot_be_judged_is_not_assessable_with_why(
    case: dict[str, Any], why: str, rulebook: Rulebook
) -> None:
    """Invalid profile, unknown context, nothing checkable, a choice outside the options."""
    result = judge(case_from_mapping({"id": "x", **case}, "test"), rulebook)
    assert result.verdict == "not_assessable"
    assert why in result.why


def test_shares_are_of_the_assessable_cases_only(tmp_path: Path) -> None:
    """A not-assessable case counts in the tally, not in the shares' denominator."""
    for name, profile, expect in [
        ("a", "ph", {"preferred": "blinatumomab"}),
        ("b", "ph", {"preferred": "car_t"}),
        ("c", "base", {}),
    ]:
        body = {"id": name, "profile": patched(PROFILES[profile]), "expect": expect}
        (tmp_path / f"{name}.json").write_text(json.dumps(body))
    report = sequencer.validate([tmp_path])
    assert report.counts == {
        "concordant": 1,
        "conditional": 0,
        "discordant": 1,
        "not_assessable": 1,
    }
    assert (report.assessable, report.concordant.count, report.concordant.of) == (2, 1, 2)
    assert report.rules_behind_discordances


@pytest.mark.parametrize(
    ("count", "total", "low", "high"),
    [(8, 10, 0.490, 0.943), (10, 10, 0.722, 1.0), (0, 10, 0.0, 0.278), (31, 32, 0.843, 0.994)],
)
def test_wilson_interval_matches_known_values(
    count: int, total: int, low: float, high: float
) -> None:
    """The 95% Wilson score interval agrees with published values to three decimals."""
    share = wilson(count, total)
    assert (round(share.low, 3), round(share.high, 3)) == (low, high)
    assert share.share == count / total


def test_wilson_of_no_case_is_zero_without_dividing_by_zero() -> None:
    """0 of 0 gives a zero share and interval, not an error."""
    share = wilson(0, 0)
    assert (share.count, share.of, share.share, share.low, share.high) == (0, 0, 0.0, 0.0, 0.0)


def _write(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_a_duplicated_case_id_names_both_files(tmp_path: Path) -> None:
    """Two files with one id → a problem naming the second file and the first."""
    body = {"id": "same", "profile": patched({}), "expect": {"preferred": "car_t"}}
    _write(tmp_path / "a.json", body)
    _write(tmp_path / "b.json", body)
    with pytest.raises(CorpusError) as caught:
        load_corpus([tmp_path])
    [problem] = caught.value.problems
    assert problem.field == f"{tmp_path / 'b.json'}: id"
    assert str(tmp_path / "a.json") in problem.message


def test_every_problem_of_several_bad_files_is_listed_at_once(tmp_path: Path) -> None:
    """Bad JSON, an unknown expect key, a missing id and a missing file are all reported."""
    good = {"id": "ok", "profile": patched({}), "expect": {"preferred": "car_t"}}
    _write(tmp_path / "a-not-json.json", "{nope")
    _write(tmp_path / "b-typo.json", {**good, "id": "b", "expect": {"prefered": "car_t"}})
    _write(tmp_path / "c-no-id.json", {"profile": patched({}), "expect": {}})
    _write(tmp_path / "d-twice.json", '{"id": "d", "id": "e"}')
    with pytest.raises(CorpusError) as caught:
        load_corpus([tmp_path, tmp_path / "missing.json"])
    fields = [p.field for p in caught.value.problems]
    assert str(tmp_path / "a-not-json.json") in fields
    assert f"{tmp_path / 'b-typo.json'}: expect.prefered" in fields
    assert f"{tmp_path / 'c-no-id.json'}: id" in fields
    assert str(tmp_path / "d-twice.json") in fields
    assert str(tmp_path / "missing.json") in fields


def test_an_empty_directory_is_a_corpus_error(tmp_path: Path) -> None:
    """A corpus with no case is refused rather than reported as 0 of 0."""
    with pytest.raises(CorpusError, match="holds no case"):
        load_corpus([tmp_path])


# --- board-minutes CSV ---------------------------------------------------------------


def _csv(path: Path, rows: list[dict[str, str]], extra: tuple[str, ...] = ()) -> Path:
    import csv

    columns = [*CASE_COLUMNS, *FIELDS, *extra]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _row(**cells: str) -> dict[str, str]:
    base = {
        "case_id": "row",
        "chosen": "blinatumomab",
        "age": "40",
        "ecog": "1",
        "disease.status": "relapsed",
        "disease.cd19": "positive",
        "disease.ph": "negative",
    }
    return {k.replace("__", "."): v for k, v in {**base, **cells}.items()}


def test_csv_cells_become_a_profile_blank_unknown_lists_and_booleans(tmp_path: Path) -> None:
    """Blank = unknown (absent), ``;`` lists, ``none`` = empty list, yes/no booleans."""
    path = _csv(
        tmp_path / "minutes.csv",
        [
            _row(
                case_id="r1",
                **{
                    "disease.ph": "positive",
                    "disease.abl1_mutations": "T315I; E255K",
                    "contraindications": "none",
                    "transplant.prior_allo_hct": "yes",
                    "disease.kmt2a_rearranged": "no",
                    "disease.marrow_blasts_pct": "12.5",
                },
            )
        ],
    )
    [case] = load_corpus([path])
    profile = case.profile
    assert profile["age"] == 40 and isinstance(profile["age"], int)
    assert profile["disease"]["abl1_mutations"] == ["T315I", "E255K"]
    assert profile["contraindications"] == []
    assert profile["transplant"]["prior_allo_hct"] is True
    assert profile["disease"]["kmt2a_rearranged"] is False
    assert profile["disease"]["marrow_blasts_pct"] == 12.5
    assert "cns" not in profile["disease"]
    assert case.expect.preferred == "blinatumomab"
    assert case.origin == f"{path} row 2"


def test_csv_decision_columns_become_the_expectation(tmp_path: Path) -> None:
    """``acceptable`` splits on ``;``, ``chosen`` none → prefers none, close_call_ok yes."""
    path = _csv(
        tmp_path / "m.csv",
        [
            _row(case_id="a", acceptable="car_t; blinatumomab", close_call_ok="yes"),
            _row(case_id="b", chosen="none", meeting_date="2025-03-01", note="held"),
        ],
    )
    first, second = load_corpus([path])
    assert first.expect.acceptable == ["car_t", "blinatumomab"]
    assert first.expect.close_call_ok is True
    assert "preferred" not in first.expect.model_fields_set
    assert second.expect.preferred is None and "preferred" in second.expect.model_fields_set
    assert second.note == "held (board 2025-03-01)"


def test_csv_bad_cells_name_their_row_and_column_all_at_once(tmp_path: Path) -> None:
    """Bad numbers, yes/no cells (profile and close_call_ok), dates and missing ids, together."""
    path = _csv(
        tmp_path / "m.csv",
        [
            _row(case_id="a", age="forty", close_call_ok="maybe"),
            _row(case_id="b", **{"transplant.prior_allo_hct": "maybe"}),
            _row(case_id="", meeting_date="1 March"),
        ],
    )
    with pytest.raises(CorpusError) as caught:
        load_corpus([path])
    fields = [p.field for p in caught.value.problems]
    assert f"{path} row 2: age" in fields
    assert f"{path} row 2: close_call_ok" in fields
    assert f"{path} row 3: transplant.prior_allo_hct" in fields
    assert f"{path} row 4: case_id" in fields
    assert f"{path} row 4: meeting_date" in fields
    assert "forty" in str(caught.value)


def test_csv_unknown_column_is_a_problem(tmp_path: Path) -> None:
    """A column the template does not have is named, not silently ignored."""
    path = _csv(tmp_path / "m.csv", [_row(case_id="a")], extra=("disease.blasts",))
    with pytest.raises(CorpusError) as caught:
        load_corpus([path])
    assert [p.field for p in caught.value.problems] == [f"{path}: disease.blasts"]


def test_csv_column_given_twice_is_a_problem(tmp_path: Path) -> None:
    """A header naming a column twice is refused rather than one cell silently winning."""
    path = _csv(tmp_path / "m.csv", [_row(case_id="a")], extra=("age",))
    with pytest.raises(CorpusError) as caught:
        load_corpus([path])
    assert [p.field for p in caught.value.problems] == [f"{path}: age"]
    assert "twice" in caught.value.problems[0].message


def test_csv_template_header_is_case_columns_then_profile_fields() -> None:
    """The header line: the decision's columns, then every profile field's dotted path."""
    assert csv_header().rstrip("\n").split(",") == [*CASE_COLUMNS, *FIELDS]


def test_shipped_board_minutes_template_parses_to_its_illustrative_rows() -> None:
    """The example CSV's header is the template's and its two rows load as cases."""
    path = VALIDATION_DIR / "board-minutes-template.csv"
    assert path.read_text(encoding="utf-8").splitlines()[0] + "\n" == csv_header()
    cases = load_corpus([path])
    assert len(cases) == 2
    assert all("illustrative" in (c.note or "").lower() for c in cases)


# --- the shipped corpus ----------------------------------------------------------------


def test_shipped_corpus_has_no_not_assessable_case() -> None:
    """Every shipped case loads, validates and is judged (none not assessable)."""
    report = sequencer.validate()
    assert report.counts["not_assessable"] == 0, [
        (c.id, c.why) for c in report.cases if c.verdict == "not_assessable"
    ]


def test_shipped_corpus_stays_above_the_floor() -> None:
    """Concordant + conditional share and case count of the installed corpus ≥ floor.json."""
    floor = json.loads((VALIDATION_DIR / "floor.json").read_text(encoding="utf-8"))
    report = sequencer.validate()
    assert len(report.cases) >= floor["min_cases"]
    share = report.concordant_or_conditional.share
    assert share >= floor["min_concordant_or_conditional"], [
        (c.id, c.verdict, c.why) for c in report.cases if c.verdict == "discordant"
    ]
