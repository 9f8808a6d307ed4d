"""The transparency document: every source attribute of 45 CFR 170.315(b)(11)(iv)(A)
answered from rules/about.yaml and the rule base, the committed docs/ABOUT.md kept equal
to what the generator gives, `sequencer about`, GET /about served for real, and the
reports pointing at it."""

from __future__ import annotations

import ast
import html
import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, RULES_DIR, patient
from served import call, running_server
from test_report import ALLOWED_LINKS, _parse

from sequencer import RuleBaseError, default_rulebook, load_rulebook
from sequencer.cli.main import main
from sequencer.explain.published import load_cases, replay
from sequencer.model.fields import FIELDS
from sequencer.present.about import about_document
from sequencer.present.about_model import AboutDocument
from sequencer.present.about_views import html_about, markdown_about
from sequencer.present.report import case_report, html_report, markdown_report

DATA_CATEGORIES = {
    "race": "(A)(5)",
    "ethnicity": "(A)(6)",
    "language": "(A)(7)",
    "sexual-orientation": "(A)(8)",
    "gender-identity": "(A)(9)",
    "sex": "(A)(10)",
    "date-of-birth": "(A)(11)",
    "social-determinants": "(A)(12)",
    "health-status-assessments": "(A)(13)",
}


@pytest.fixture(scope="module")
def doc() -> AboutDocument:
    return about_document(default_rulebook())


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(RULES_DIR, root)
    return root


def _mutate(root: Path, old: str, new: str) -> int:
    """Replace the first ``old`` by ``new`` in about.yaml; return the 1-based line where
    the replacement starts."""
    path = root / "about.yaml"
    text = path.read_text()
    assert old in text, f"anchor not found: {old!r}"
    path.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1


def _load_error(root: Path) -> RuleBaseError:
    with pytest.raises(RuleBaseError) as caught:
        load_rulebook(root)
    return caught.value


# --- the document -----------------------------------------------------------------------


def test_docs_about_is_what_the_generator_gives(doc: AboutDocument) -> None:
    """docs/ABOUT.md is generated (`make about`); a change of the rule base, about.yaml or
    the cases without regenerating it fails here."""
    committed = (REPO / "docs" / "ABOUT.md").read_text(encoding="utf-8")
    assert committed == markdown_about(doc), "docs/ABOUT.md is stale: run `make about`"


def test_every_evidence_based_attribute_of_the_regulation_is_answered(
    doc: AboutDocument,
) -> None:
    """(A)(1) to (A)(13) in order, each answered; the regulation cited as verified."""
    assert [a.paragraph for a in doc.attributes] == [f"(A)({n})" for n in range(1, 14)]
    assert all(len(a.answer.split()) >= 5 for a in doc.attributes)
    assert "45 CFR 170.315(b)(11)(iv)(A)" in doc.regulation
    assert "89 FR 1192" in doc.regulation and "HTI-1" in doc.regulation
    by_id = {a.id: a for a in doc.attributes}
    assert {k: by_id[k].paragraph for k in DATA_CATEGORIES} == DATA_CATEGORIES
    for category in ("race", "ethnicity", "language", "sexual-orientation", "gender-identity"):
        assert by_id[category].used is False and by_id[category].rules == []
    assert by_id["sex"].used is False and by_id["social-determinants"].used is False
    age = by_id["date-of-birth"]
    assert age.used is True and age.fields == ["age"]
    assert "older-adult-blinatumomab-active" in age.rules
    assert by_id["health-status-assessments"].fields == ["ecog"]
    assert by_id["citation"].answer.startswith("Aldoss I, Forman SJ")
    assert "No funding source is recorded" in by_id["funding"].answer
    assert f"Version {default_rulebook().version} was released on" in by_id["dates"].answer


def test_a_category_marked_not_used_has_no_profile_field_at_all(doc: AboutDocument) -> None:
    """ "Not used" is checked against the profile itself, not taken on trust: no field's
    name speaks of these categories, and no input falls under one of them."""
    words = ("race", "ethnic", "language", "sex", "gender", "orientation", "birth", "social")
    assert not [f for f in FIELDS if any(w in f for w in words)]
    unused = {a.id for a in doc.attributes if a.used is False}
    assert unused >= {"race", "ethnicity", "language", "sex", "social-determinants"}
    assert not [i.field for i in doc.inputs if i.attribute in unused]


def _when_keys(node: Any) -> set[str]:
    """The profile fields a raw ``when`` mapping names (any/all nested; not concepts)."""
    if isinstance(node, Mapping):
        out: set[str] = set()
        for key, value in node.items():
            if key in ("any", "all"):
                for item in value:
                    out |= _when_keys(item)
            elif key != "concept":
                out.add(str(key))
        return out
    return set()


def test_every_input_lists_exactly_the_rules_whose_conditions_name_it(
    doc: AboutDocument,
) -> None:
    """Computed, and checked here against the rules' own `when` text."""
    book = default_rulebook()
    assert [i.field for i in doc.inputs] == list(FIELDS)
    for item in doc.inputs:
        naming = [r.id for r in book.active_in(doc.context) if item.field in _when_keys(r.when)]
        assert item.rules == naming, item.field
        assert item.label and item.label != item.field


def test_evidence_base_is_the_bibliography_with_grades(doc: AboutDocument) -> None:
    book = default_rulebook()
    assert [s.key for s in doc.sources] == list(book.sources)
    assert {s.key: s.grade for s in doc.sources} == {k: v.kind for k, v in book.sources.items()}
    active = book.active_in(doc.context)
    assert sum(g.rules for g in doc.grades) == len(active)
    expert = next(g for g in doc.grades if g.grade == "expert-opinion")
    assert expert.rules == sum(r.evidence == "expert-opinion" for r in active)
    for source in doc.sources:
        assert source.cited_by == [r.id for r in active if source.key in r.citations]


def test_validation_counts_come_from_replaying_the_cases(doc: AboutDocument) -> None:
    results = replay(load_cases())
    v = doc.validation
    assert v.published_total == len(results) == 5
    assert v.published_agree == sum(r.agrees for r in results)
    literature = yaml.safe_load((REPO / "examples/literature/cases.yaml").read_text())["cases"]
    assert v.literature_total == len(literature)
    differs = [c for c in literature if "library_differs" in c]
    assert v.literature_agree == len(literature) - len(differs)
    assert v.literature_as_documented == len(differs)
    assert v.rules_with_cases == v.active_rules


def test_a_rule_change_that_breaks_a_published_patient_shows_in_the_counts(
    tmp_path: Path,
) -> None:
    """Nothing is written down: narrow the rule behind published patient 5's 'neither'
    (CD19-negative disease) so that it cannot fire for her, and the document counts one
    disagreement and names it among the limitations."""
    root = _copy(tmp_path)
    path = root / "considerations" / "cd19-status.yaml"
    text = path.read_text()
    anchor = "    when:\n      disease.cd19: negative\n"
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + "      age: {gt: 119}\n", 1))
    changed = about_document(load_rulebook(root))
    assert changed.validation.published_agree == 4
    assert [x for x in changed.computed_limitations if x.startswith("Published patient 5")]
    assert "| published | patient 5 | `us-2020` |" in markdown_about(changed)


def test_properties_named_are_exactly_the_property_tests(doc: AboutDocument) -> None:
    """about.yaml names tests/test_properties.py's tests, no more and no fewer."""
    tree = ast.parse((REPO / "tests" / "test_properties.py").read_text())
    defined = [
        n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    ]
    assert sorted(p.test for p in doc.validation.properties) == sorted(defined)


def test_the_shipped_version_has_a_release_date(doc: AboutDocument) -> None:
    """Bumping rulebook.yaml's version without a release in about.yaml fails here."""
    assert doc.revisions.current_release is not None
    assert doc.revisions.releases[0].version == doc.rulebook.version


def test_limitations_are_stated_and_computed(doc: AboutDocument) -> None:
    assert len(doc.stated_limitations) >= 3
    assert any("expert opinion" in x for x in doc.computed_limitations)
    for rule in doc.coverage.never_decide:
        assert default_rulebook().rule(rule).decisive
    never = doc.coverage.never_fire + doc.coverage.never_decide
    assert all(any(r in x for x in doc.computed_limitations) for r in never)


def test_a_rule_base_without_about_yaml_says_what_is_not_stated(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "about.yaml").unlink()
    bare = about_document(load_rulebook(root))
    assert bare.attributes == [] and bare.intended_use.startswith("Not stated")
    assert bare.validation.published_total == 5  # computed parts still computed
    assert "Not stated" in markdown_about(bare)


def test_the_digest_covers_about_yaml(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _mutate(root, "It informs a decision", "It informs a decision only")
    assert load_rulebook(root).digest != default_rulebook().digest


# --- a broken about.yaml fails at load -------------------------------------------------

# (what to change, into what, what the error says, the text on the line it must name:
# None for the changed line itself)
FAULTS = [
    ("funding: >-", "fundng: >-", "unknown key 'fundng'", None),
    ("fields: [ecog]", "fields: [ecgo]", "unknown profile field 'ecgo'", None),
    ("fields: [ecog]", "fields: []", "profile field 'ecog' is neither", "clinical_inputs: ["),
    ("fields: [age]", "fields: [age, disease.cns]", "profile field 'disease.cns' is both", None),
    ("  - version: 0.3.0\n", "  - version: 9.0.0\n", "newer than the rule base's own", None),
    ("    date: 2026-11-21", "    date: 2027-01-01", "releases are listed newest first", None),
    ("    paragraph: (A)(6)", "    paragraph: (A)(5)", "is given twice", None),
    (
        "    asks: Use of sex\n    fields: []\n",
        "    asks: Use of sex\n    fields: []\n    answr: x\n",
        "unknown key 'answr'",
        "    answr: x",
    ),
]


@pytest.mark.parametrize(("old", "new", "says", "at"), FAULTS, ids=[f[2] for f in FAULTS])
def test_a_broken_about_yaml_fails_the_load_with_file_and_line(
    tmp_path: Path, old: str, new: str, says: str, at: str | None
) -> None:
    root = _copy(tmp_path)
    line = _mutate(root, old, new)
    if at is not None:
        lines = (root / "about.yaml").read_text().splitlines()
        line = next(n for n, text in enumerate(lines, 1) if text.startswith(at))
    error = _load_error(root)
    assert error.path is not None and error.path.endswith("about.yaml")
    assert says in error.message, error.message
    assert error.line is not None and abs(error.line - line) <= 1, (error.line, line)


def test_an_attribute_answered_by_its_section_takes_no_fields(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _mutate(
        root,
        "  - id: funding\n    paragraph: (A)(3)\n",
        "  - id: funding\n    paragraph: (A)(3)\n    fields: []\n",
    )
    assert "answered by its own section" in _load_error(root).message


# --- the views --------------------------------------------------------------------------


def test_html_about_is_self_contained_and_escapes_every_value(doc: AboutDocument) -> None:
    hostile = doc.model_copy(
        update={
            "intended_use": '<script>alert("x")</script>',
            "intended_users": ["<img src=x onerror=alert(1)>"],
        }
    )
    page = html_about(hostile)
    parsed = _parse(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert "link" not in parsed.tags and "iframe" not in parsed.tags
    assert html.escape('<script>alert("x")</script>', quote=True) in page
    for tag, name, value in parsed.links:
        assert name == "href" and tag == "a", (tag, name, value)
        assert value.startswith(ALLOWED_LINKS), value
    text = " ".join(parsed.text)
    for heading in ("Source attributes", "Inputs", "Evidence base", "Validation"):
        assert heading in text
    assert "Known limitations" in text and "Release and revision dates" in text


def test_markdown_names_every_attribute_and_input(doc: AboutDocument) -> None:
    page = markdown_about(doc)
    for attribute in doc.attributes:
        assert f"| {attribute.paragraph} | {attribute.asks} |" in page
    for field in FIELDS:
        assert f"| `{field}` |" in page


def test_cli_about_prints_markdown_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["about"]) == 0
    assert capsys.readouterr().out == markdown_about(about_document(default_rulebook()))
    assert main(["about", "--format", "json", "--context", "us-2020"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["context"] == "us-2020" and data["format"] == 1
    assert AboutDocument.model_validate(data) == about_document(default_rulebook(), "us-2020")
    assert main(["about", "--context", "eu-1999"]) == 2
    assert "eu-1999" in capsys.readouterr().err


def test_a_report_written_to_a_file_says_where_to_read_the_document() -> None:
    built = case_report(patient(1))
    page = html_report(built)
    assert "<code>sequencer about</code>" in page and "docs/ABOUT.md" in page
    assert 'href="/about"' not in page
    assert "`sequencer about`" in markdown_report(built)
    assert 'href="/about"' in html_report(built, about_url="/about")


# --- served for real ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    audit = f"sqlite:///{tmp_path_factory.mktemp('audit') / 'audit.sqlite3'}"
    with running_server("--audit", audit) as base:
        yield base


def test_about_is_served_as_html_and_as_json(server: str, doc: AboutDocument) -> None:
    status, headers, body = call(f"{server}/about")
    assert status == 200 and headers["content-type"].startswith("text/html")
    page = body.decode()
    _parse(page)
    assert "45 CFR 170.315(b)(11)(iv)(A)" in page and doc.rulebook.digest in page
    for url, extra in (
        (f"{server}/about", {"Accept": "application/json"}),
        (f"{server}/about?format=json", {}),
    ):
        status, headers, body = call(url, headers=extra)
        assert status == 200 and headers["content-type"].startswith("application/json")
        assert AboutDocument.model_validate_json(body) == doc
    status, _, body = call(f"{server}/about?format=json&context=us-2020")
    assert status == 200 and json.loads(body)["context"] == "us-2020"


def test_about_refuses_an_unknown_format_or_context(server: str) -> None:
    assert call(f"{server}/about?format=xml")[0] == 422
    status, _, body = call(f"{server}/about?context=eu-1999")
    assert status == 404 and json.loads(body)["known"] == ["us-2020", "us-2026"]


def test_a_served_report_links_the_served_document(server: str) -> None:
    profile = json.dumps(patient(4)).encode()
    status, _, body = call(f"{server}/report", profile, "POST")
    assert status == 200
    links = {value for _, name, value in _parse(body.decode()).links if name == "href"}
    assert "/about" in links
