"""A broken rule file fails at load with file:line, the rule id and what is wrong,
never later inside the engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import RULES_DIR

from sequencer import RuleBaseError, load_rulebook

AGE = "considerations/age.yaml"
FIRST_RULE = "older-adult-blinatumomab-active"


def _line_of(root: Path, relative: str, text: str, nth: int = 0) -> int:
    """Return the 1-based line of the nth line containing ``text``."""
    lines = (root / relative).read_text().splitlines()
    return [i for i, line in enumerate(lines, 1) if text in line][nth]


def _line_of(root: Path, relative: str, text: str, nth: int = 0) -> int:
    """Return the 1-based line of the nth line containing ``text``."""
    lines = (root / relative).read_text().splitlines()
    return [i for i, line in enumerate(lines, 1) if text in line][nth]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work in the test's directory, so that its rule base copy is named ``rules/...``
    as given (a rule base directory is shown as the path the user gave)."""
    monkeypatch.chdir(tmp_path)


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(RULES_DIR, tmp_path / "rules")
    return Path("rules")


def _mutate(root: Path, relative: str, old: str, new: str, count: int = 1) -> int:
    """Replace ``old`` by ``new`` in one file; return the 1-based line where ``new`` starts."""
    path = root / relative
    text = path.read_text()
    assert old in text, f"mutation anchor not found: {old!r}"
    text = text.replace(old, new, count)
    path.write_text(text)
    return text[: text.index(new)].count("\n") + 1


def _load_error(root: Path) -> RuleBaseError:
    with pytest.raises(RuleBaseError) as caught:
        load_rulebook(root)
    return caught.value


# Anchors inside the first rule of age.yaml, and faults injected into them.
COND = "      age: {gt: 60}\n    then:\n      - argues: older-adult-tolerance"
EFFECT = "      - argues: older-adult-tolerance\n        strength: moderate\n    rationale: >"
RATIONALE = "    rationale: >\n      Blinatumomab is licensed"
CITES = "    citations: [aldoss2020, kantarjian2016, advani2018]"
FAULTS = [
    (RATIONALE, RATIONALE.replace("rationale", "rationnale"), "unknown key 'rationnale'"),
    (COND, COND.replace("age:", "agee:"), "unknown profile field 'agee' (did you mean 'age'?)"),
    (COND, COND.replace("gt:", "greater:"), "unknown operator 'greater'"),
    (COND, COND.replace("60", "sixty"), "'age' is a number; got 'sixty'"),
    (
        COND,
        COND.replace("age: {gt: 60}", "disease.cns: CNS4"),
        "'disease.cns' takes one of CNS1, CNS2, CNS3, unknown; got 'CNS4'",
    ),
    (
        COND,
        COND.replace("age: {gt: 60}", "disease.cns: {lt: CNS2}"),
        "operator 'lt' does not apply to enum field 'disease.cns'",
    ),
    (EFFECT, EFFECT.replace("argues", "argue"), "each effect starts with one of"),
    (
        EFFECT,
        EFFECT.replace("older-adult-tolerance", "older-adult-tolerence"),
        "then[0]: unknown argument 'older-adult-tolerence'",
    ),
    (
        EFFECT,
        EFFECT.replace("strength: moderate", "strength: moderate\n        favors: car_t"),
        "says favors car_t, but argument 'older-adult-tolerance' favors blinatumomab",
    ),
    (
        COND,
        COND.replace("age: {gt: 60}", "age: {is: unknown}"),
        "may not argue, defeat, defer or exclude: unknown never scores",
    ),
    (
        EFFECT,
        EFFECT.replace("moderate", "huge"),
        "strength: Input should be 'weak', 'moderate' or 'strong'",
    ),
    (CITES, CITES.replace("advani2018", "advani2019"), "citations[2]: unknown source 'advani2019'"),
    (CITES, "    citations: []", "citations: Tuple should have at least 1 item"),
    (
        COND,
        COND.replace("age: {gt: 60}", "concept: made-up-concept"),
        "concept 'made-up-concept' is not derived by any active rule",
    ),
    (
        COND,
        COND.replace("age: {gt: 60}", "concept: [cns-involved, cns-involved]"),
        "concept 'cns-involved' is named twice",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), FAULTS)
def test_rule_fault_names_file_line_and_rule(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    """Each fault is reported as rules/<file>:<line>: rule '<id>': <what is wrong>."""
    root = _copy(tmp_path)
    _mutate(root, AGE, old, new)
    error = _load_error(root)
    assert error.path == f"rules/{AGE}"
    assert error.rule_id == FIRST_RULE
    assert message in str(error)
    assert str(error).startswith(f"rules/{AGE}:{error.line}: rule '{FIRST_RULE}': ")
    # the line points into the first rule, before the next one starts
    first = _line_of(root, AGE, f"id: {FIRST_RULE}")
    next_rule = _line_of(root, AGE, "id: older-adult-car-t-toxicity")
    assert error.line is not None and first <= error.line < next_rule


def test_misspelled_key_points_at_its_own_line(tmp_path: Path) -> None:
    """The reported line is the line of the faulty key itself."""
    root = _copy(tmp_path)
    line = _mutate(
        root,
        AGE,
        "    evidence: prospective\n    when:\n      age: {gt: 60}",
        "    evidense: prospective\n    when:\n      age: {gt: 60}",
    )
    error = _load_error(root)
    assert (error.line, error.rule_id) == (line, FIRST_RULE)
    assert "unknown key 'evidense'" in str(error)


def test_condition_fault_points_at_the_condition_line(tmp_path: Path) -> None:
    """A condition on an unknown field is reported at that condition's line."""
    root = _copy(tmp_path)
    line = _mutate(
        root,
        "considerations/disease-burden.yaml",
        "disease.marrow_blasts_pct: {ge: 50}",
        "disease.marrow_blast_pct: {ge: 50}",
    )
    error = _load_error(root)
    assert (error.line, error.rule_id) == (line, "marrow-blasts-50-or-more")
    assert "unknown profile field 'disease.marrow_blast_pct'" in str(error)


def test_duplicate_rule_id_names_both_places(tmp_path: Path) -> None:
    """Two rules with one id: the second is reported, pointing back at the first."""
    root = _copy(tmp_path)
    first = _line_of(root, AGE, f"- id: {FIRST_RULE}")
    _mutate(root, AGE, "- id: older-adult-car-t-toxicity", f"- id: {FIRST_RULE}")
    second = _line_of(root, AGE, f"- id: {FIRST_RULE}", nth=1)
    error = _load_error(root)
    assert error.rule_id == FIRST_RULE
    assert error.line == second
    assert f"duplicate rule id (first defined at rules/{AGE}:{first})" in str(error)


def test_duplicate_yaml_key_is_rejected_at_its_line(tmp_path: Path) -> None:
    """PyYAML would silently keep the last of two equal keys; the loader refuses."""
    root = _copy(tmp_path)
    line = _mutate(
        root,
        AGE,
        "    evidence: prospective\n",
        "    evidence: prospective\n    evidence: case-report\n",
    )
    error = _load_error(root)
    assert error.line == line + 1
    assert "duplicate key 'evidence'" in str(error)


def test_bad_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    """Unparseable YAML names the file and line."""
    root = _copy(tmp_path)
    _mutate(
        root, AGE, "    title: Over 60, blinatumomab keeps its activity\n", "    title: [unclosed\n"
    )
    error = _load_error(root)
    assert error.path == f"rules/{AGE}"
    assert error.line is not None
    assert "invalid YAML" in str(error)


def test_strength_is_not_tied_to_the_evidence_grade(tmp_path: Path) -> None:
    """A case-report rule may weigh strong (GRADE: strength is not grade); its grade shows."""
    root = _copy(tmp_path)
    text = (root / AGE).read_text()
    start = text.index(f"  - id: {FIRST_RULE}\n")
    head, rule = text[:start], text[start:]
    rule = rule.replace("evidence: prospective", "evidence: case-report", 1)
    rule = rule.replace("strength: moderate", "strength: strong", 1)
    (root / AGE).write_text(head + rule)
    book = load_rulebook(root)
    made = next(r.rule for r in book.rules if r.rule.id == FIRST_RULE)
    assert made.evidence == "case-report"
    assert [e.strength for e in made.then if hasattr(e, "strength")] == ["strong"]


def test_missing_rule_directory_and_files_are_reported(tmp_path: Path) -> None:
    """A missing directory or bibliography is a RuleBaseError, not an OSError."""
    with pytest.raises(RuleBaseError, match="not found"):
        load_rulebook(tmp_path / "nowhere")
    root = _copy(tmp_path)
    (root / "bibliography.yaml").unlink()
    error = _load_error(root)
    assert error.path == "rules/bibliography.yaml"


def test_dangling_alternative_is_rejected(tmp_path: Path) -> None:
    """An effect pointing at an alternative that alternatives.yaml lacks fails at load."""
    root = _copy(tmp_path)
    line = _mutate(
        root,
        "considerations/cd19-status.yaml",
        "- alternative: cd22-car-t-trial",
        "- alternative: cd22-car-t-study",
    )
    error = _load_error(root)
    assert (error.rule_id, error.line) == ("cd19-negative", line)
    assert "unknown alternative 'cd22-car-t-study'" in str(error)


def test_digest_changes_with_any_rule_text(tmp_path: Path) -> None:
    """The digest pins the exact files: editing a rationale changes it."""
    root = _copy(tmp_path)
    before = load_rulebook(root).digest
    _mutate(
        root,
        AGE,
        "Plan for\n      close neurologic monitoring",
        "Plan for\n      careful neurologic monitoring",
    )
    assert load_rulebook(root).digest != before


def test_an_argument_no_rule_makes_is_reported_at_its_line(tmp_path: Path) -> None:
    """Dead knowledge: an argument declared but made by no active rule fails the load."""
    root = _copy(tmp_path)
    line = _mutate(
        root,
        AGE,
        "arguments:\n",
        "arguments:\n  - id: never-made\n    title: An argument nobody makes\n    pro_of: car_t\n",
    )
    error = _load_error(root)
    assert "argument 'never-made' is made by no active rule" in str(error)
    assert error.path == f"rules/{AGE}" and error.line == line + 1


def test_a_one_sided_argument_needs_a_side(tmp_path: Path) -> None:
    """An argument must be a strength (pro_of) or a weakness (con_of) of an option."""
    root = _copy(tmp_path)
    _mutate(root, AGE, "    pro_of: blinatumomab\n    con_of: car_t\n", "")
    error = _load_error(root)
    assert "an argument needs pro_of, con_of or both" in str(error)


def test_a_rule_may_not_name_a_context_outside_the_context_files(tmp_path: Path) -> None:
    """Era- and product-specific rules live in their context's file, not beside the others."""
    root = _copy(tmp_path)
    _mutate(
        root,
        AGE,
        "    evidence: prospective\n",
        "    evidence: prospective\n    context: us-2026\n",
    )
    error = _load_error(root)
    assert "unknown key 'context'" in str(error)


THIRD_OPTION = """    aliases: [c, car_t, cart, car_t_cells, cd19_car_t_cells]
  - id: inotuzumab
    name: Inotuzumab ozogamicin
    short: Inotuzumab
    in_sentence: inotuzumab
    colour: "#2e7d32"
"""


def test_an_effect_naming_an_undeclared_option_fails_at_its_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    made_up = "      - caution: ponatinib\n      - argues: older-adult-tolerance\n"
    line = _mutate(root, AGE, "      - argues: older-adult-tolerance\n", made_up)
    error = _load_error(root)
    assert "unknown option 'ponatinib'" in error.message
    assert error.path == f"rules/{AGE}" and error.line == line
    assert error.rule_id == FIRST_RULE


def test_a_third_option_needs_weakness_only_arguments_to_say_where_they_push(
    tmp_path: Path,
) -> None:
    """With two options a weakness pushes to the other; with three it must say which."""
    root = _copy(tmp_path)
    _mutate(
        root,
        "rulebook.yaml",
        "    aliases: [c, car_t, cart, car_t_cells, cd19_car_t_cells]\n",
        THIRD_OPTION,
    )
    error = _load_error(root)
    assert "must say which option it pushes toward" in error.message
    assert error.path is not None and error.path.startswith("rules/considerations/")


def test_a_profile_field_without_a_label_fails_the_load(tmp_path: Path) -> None:
    """Every field needs words before it reaches a page: rules/vocabulary.yaml is checked."""
    root = _copy(tmp_path)
    _mutate(root, "vocabulary.yaml", "  immune.t_cell_depleted: Markedly low T cells\n", "")
    error = _load_error(root)
    assert "missing immune.t_cell_depleted" in error.message
    assert error.path == "rules/vocabulary.yaml" and error.line is not None


def test_words_for_a_value_the_field_does_not_have_fail_at_their_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    line = _mutate(
        root, "vocabulary.yaml", "    cord: cord blood\n", "    cord_blood: cord blood\n"
    )
    error = _load_error(root)
    assert "transplant.donor has no value 'cord_blood'" in error.message
    assert error.line == line
