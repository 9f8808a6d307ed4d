"""The case report on paper and in words: two printed pages (A4 and Letter) for every
published patient and literature case, the decision on the first and the references on
the second; no field shown by its dotted path; references complete; the patient id a
label that can be hidden; weights explained; the board's decision printed."""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser import CHROMIUM, need, png_size, print_to_pdf
from conftest import PATIENTS_DIR, REPO, patched, patient
from pypdf import PdfReader

from sequencer import default_rulebook
from sequencer.model.fields import FIELDS
from sequencer.present.case_view import NO_IDENTIFIER
from sequencer.present.phrases import summary_words, weight_legend
from sequencer.present.report import (
    DecisionRecord,
    case_report,
    html_report,
    markdown_report,
)
from sequencer.present.templating import plain_words
from sequencer.service.decisions import FREE_TEXT_LIMITS

LITERATURE = yaml.safe_load((REPO / "examples" / "literature" / "cases.yaml").read_text())["cases"]
CASES: list[tuple[str, dict[str, Any], str | None]] = [
    (f"patient-{n}", json.loads((PATIENTS_DIR / f"patient-{n}.json").read_text()), "us-2020")
    for n in range(1, 6)
] + [(str(c["id"]), c["profile"], None) for c in LITERATURE]
DOTTED = sorted(f for f in FIELDS if "." in f)
DECISION = DecisionRecord(
    chosen="Blinatumomab",
    follows=False,
    reason="The patient prefers the other option",
    comment="Wants to avoid the manufacturing wait <b>now</b>",
    meeting_date="2026-11-27",
    signed_by="Dr A. Chair & Dr B. Member",
    recorded_at="2026-11-27T10:00:00Z",
    rulebook_version="0.3.0",
    advice="CD19 CAR T cells",
)


class _Text(HTMLParser):
    """The text a reader sees (not tags, attributes, styles or scripts)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(page: str) -> str:
    """The visible text of an HTML page, as one string."""
    parser = _Text()
    parser.feed(page)
    return " ".join(parser.parts)


def raw_paths(text: str) -> list[str]:
    """The dotted field paths that appear in ``text``."""
    return [f for f in DOTTED if re.search(rf"(?<![\w.]){re.escape(f)}(?!\w)", text)]


@pytest.mark.parametrize("paper", ["A4", "letter"])
@pytest.mark.parametrize(("name", "profile", "context"), CASES, ids=[c[0] for c in CASES])
def test_each_case_prints_on_two_pages_decision_first_references_second(
    tmp_path: Path, name: str, profile: dict[str, Any], context: str | None, paper: str
) -> None:
    built = case_report(profile, context=context)
    page = tmp_path / f"{name}.html"
    page.write_text(html_report(built, paper=paper))
    pdf = tmp_path / f"{name}.pdf"
    print_to_pdf(page, pdf)
    pages = [p.extract_text() for p in PdfReader(pdf).pages]
    assert len(pages) == 2, [len(p) for p in pages]
    first, second = (" ".join(p.split()) for p in pages)
    assert "Recommendation" in first and "Arguments for, against and set aside" in first
    assert " ".join(summary_words(built.recommendation.summary).split())[:60] in first
    assert second.startswith("What would change the decision")
    assert "References" in second and "References" not in first
    # the page size was honoured: A4 is 595 x 842 points, Letter 612 x 792
    box = PdfReader(pdf).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (
        (595, 842) if paper == "A4" else (612, 792)
    )


@pytest.mark.parametrize("paper", ["A4", "letter"])
@pytest.mark.parametrize("number", range(1, 6))
def test_a_recorded_decision_is_printed_on_the_first_page(
    tmp_path: Path, number: int, paper: str
) -> None:
    page = tmp_path / "case.html"
    built = case_report(patient(number), context="us-2020")
    page.write_text(html_report(built, decision=DECISION, paper=paper))
    pdf = tmp_path / "case.pdf"
    print_to_pdf(page, pdf)
    pages = [" ".join(p.extract_text().split()) for p in PdfReader(pdf).pages]
    assert len(pages) == 2
    assert "The board's decision" in pages[0] and "overrides the advice" in pages[0]
    assert "Dr A. Chair & Dr B. Member" in pages[0] and "2026-11-27" in pages[0]


def _longest(words: str, key: str, end: str = "") -> str:
    """``words`` repeated, then ``end``: exactly the length the decision form accepts for
    ``key``."""
    limit = FREE_TEXT_LIMITS[key] - len(end)
    return (words * (limit // len(words) + 1))[:limit] + end


LONGEST_DECISION = DecisionRecord(
    chosen=_longest("Inotuzumab ozogamicin with mini-HyperCVD, then MUD HCT; ", "other_therapy"),
    follows=False,
    reason=max(dict(default_rulebook().vocabulary.override_reasons).values(), key=len),
    comment=_longest(
        "MDT: bridge with INO-VATE-style dosing, re-stage MRD (NGS, 10^-6) at WEEK 4; "
        "REVISIT CAR T if CD19+ and GVHD-free. ",
        "comment",
        " SEE THE MINUTES.",
    ),
    meeting_date="2026-11-27",
    signed_by=_longest("Dr MAXIMILIAN WOLFGANG MONTGOMERY-WHITWORTH (chair); ", "signed_by"),
    recorded_at="2026-11-27T10:00:00Z",
    rulebook_version="0.3.0",
    advice="CD19 CAR T cells",
)
"""The longest decision the page accepts (wide capitals, the longest override reason)."""


@pytest.mark.parametrize("paper", ["A4", "letter"])
@pytest.mark.parametrize(("name", "profile", "context"), CASES, ids=[c[0] for c in CASES])
def test_the_longest_decision_the_page_accepts_still_prints_on_two_pages(
    tmp_path: Path, name: str, profile: dict[str, Any], context: str | None, paper: str
) -> None:
    """Patient 4 on Letter is the fullest first page: the therapy and the signer print in
    full, the comment its first line with a pointer to where it is kept in full."""
    d = LONGEST_DECISION
    assert d.comment is not None
    page = tmp_path / "case.html"
    shown = html_report(case_report(profile, context=context), decision=d, paper=paper)
    page.write_text(shown)
    assert d.comment in visible_text(shown)  # in full on screen
    pdf = tmp_path / "case.pdf"
    print_to_pdf(page, pdf)
    # NFKC undoes the PDF's ligatures (fi, ff); a hyphen at a line end leaves "- "
    pages = [
        " ".join(unicodedata.normalize("NFKC", p.extract_text()).split())
        for p in PdfReader(pdf).pages
    ]
    assert len(pages) == 2, [len(p) for p in pages]
    first = pages[0].replace("- ", "-")
    assert "The board's decision" in first and "first line only on paper" in first
    for whole in (d.chosen, d.signed_by, d.reason or ""):
        assert " ".join(whole.split()).replace("- ", "-") in first, whole
    assert d.comment[:40] in first and "SEE THE MINUTES" not in " ".join(pages)


def test_what_the_board_typed_is_escaped_on_the_report() -> None:
    page = html_report(case_report(patient(4), context="us-2020"), decision=DECISION)
    assert "<b>now</b>" not in page and "&lt;b&gt;now&lt;/b&gt;" in page
    assert "Dr A. Chair &amp; Dr B. Member" in page


@pytest.mark.parametrize(("name", "profile", "context"), CASES, ids=[c[0] for c in CASES])
def test_no_field_is_shown_by_its_dotted_path(
    name: str, profile: dict[str, Any], context: str | None
) -> None:
    built = case_report(profile, context=context)
    assert raw_paths(visible_text(html_report(built))) == []
    assert raw_paths(markdown_report(built)) == []


def test_a_choice_blocked_on_an_unknown_fact_names_it_by_its_label() -> None:
    built = case_report(patched({"disease.cd19": "unknown"}))
    assert built.recommendation.summary.startswith("No choice yet")
    text = " ".join(visible_text(html_report(built)).split())
    assert raw_paths(text) == []
    assert "blocks the choice CD19 on the current blasts" in text


def test_a_dotted_path_in_any_sentence_is_shown_by_its_label() -> None:
    """The templates' safety net: a path that reaches a page in some rule's or
    library's sentence is replaced by the field's label (lower-cased mid-sentence)."""
    voc = default_rulebook().vocabulary
    assert plain_words("first establish disease.cd19 now", voc) == (
        "first establish CD19 on the current blasts now"
    )
    assert plain_words("disease.rapidly_progressing: unknown", voc) == (
        "Rapidly progressing (cannot wait weeks): unknown"
    )
    assert plain_words("rule disease-cd19-dim and x.disease.cd19y", voc) == (
        "rule disease-cd19-dim and x.disease.cd19y"
    )


def test_the_patient_id_is_a_label_that_can_be_hidden() -> None:
    built = case_report(patched({"id": "MRN-0012345"}))
    shown = html_report(built)
    assert "<h1>Tumor board case report</h1>" in shown
    assert 'Patient id: <strong class="patient-id">MRN-0012345</strong>' in shown
    hidden = html_report(built, show_id=False)
    assert "MRN-0012345" not in hidden and "Patient id hidden" in hidden


@pytest.mark.parametrize(("name", "profile", "context"), CASES, ids=[c[0] for c in CASES])
def test_weights_are_explained_as_weight_of_arguments_never_as_a_score(
    name: str, profile: dict[str, Any], context: str | None
) -> None:
    page = html_report(case_report(profile, context=context))
    legend = weight_legend(default_rulebook().weights)
    assert ">Weight of arguments</th>" in page and legend in page
    assert "not its expected benefit" in legend
    text = visible_text(page[: page.index('class="page2"')])
    assert re.search(r"\bscores?\b", text) is None, text[:300]


@pytest.mark.parametrize(("name", "profile", "context"), CASES, ids=[c[0] for c in CASES])
def test_every_reference_is_complete_or_says_why_not(
    name: str, profile: dict[str, Any], context: str | None
) -> None:
    """Authors, title, journal and year as the bibliography has them; the DOI or PMID
    where verified, else the mark that points to why there is none."""
    sources = default_rulebook().sources
    page = html_report(case_report(profile, context=context))
    refs = page[page.index('id="h-refs"') :]
    items = re.findall(r'<li id="ref-\d+" data-source="([^"]+)">(.*?)</li>', refs, re.S)
    assert items
    text = visible_text(refs)
    for key, item in items:
        source = sources[key]
        words = visible_text(item)
        for part in (source.authors, source.title, source.journal, str(source.year)):
            if part:
                assert " ".join(part.split()) in " ".join(words.split()), (key, part)
        if source.doi:
            assert f"https://doi.org/{source.doi}" in item
        if source.pmid:
            assert f"https://pubmed.ncbi.nlm.nih.gov/{source.pmid}/" in item
        if not source.doi and not source.pmid:
            assert "no DOI or PMID†" in words
        if source.authors is None or source.title is None:
            assert source.note and " ".join(source.note.split())[:40] in " ".join(words.split())
    if "no DOI or PMID†" in text:
        assert NO_IDENTIFIER in " ".join(text.split())


@pytest.mark.parametrize(("name", "profile", "context"), CASES, ids=[c[0] for c in CASES])
def test_values_are_shown_in_words_not_as_codes(
    name: str, profile: dict[str, Any], context: str | None
) -> None:
    """No snake_case value code (``declines_transfusion``) reaches the reader."""
    text = visible_text(html_report(case_report(profile, context=context)))
    assert re.findall(r"\b[a-z0-9]+_[a-z0-9_]+\b", text) == []


def test_the_weights_legend_is_built_from_the_rule_base_scoring() -> None:
    book = default_rulebook()
    shipped = ", ".join(f"{s} {w}" for s, w in book.weights.items())
    assert f"({shipped})" in weight_legend(book.weights)
    assert "(weak 2, moderate 5, strong 9)" in weight_legend(
        {"strong": 9, "weak": 2, "moderate": 5}
    )
    page = html_report(case_report(patient(1)))
    assert f"its length is its weight ({shipped})" in page


def test_the_printed_report_image_in_docs_is_the_first_page_chromium_prints(
    tmp_path: Path,
) -> None:
    """docs/report-printed-patient-4.png is made by printing to PDF and rasterizing page 1
    (docs/screenshots.py), not by a print-style screen capture that runs past page 1."""
    need(CHROMIUM)
    spec = importlib.util.spec_from_file_location("screenshots", REPO / "docs" / "screenshots.py")
    assert spec and spec.loader
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    page = tmp_path / "case.html"
    page.write_text(html_report(case_report(patient(4), context="us-2020"), paper="A4"))
    shot = tmp_path / "first.png"
    tool.printed_first_page(page, shot)
    a4_at_150_dpi = (round(210 / 25.4 * 150), round(297 / 25.4 * 150))
    assert png_size(shot) == a4_at_150_dpi == (1240, 1754)
    assert png_size(REPO / "docs" / "report-printed-patient-4.png") == a4_at_150_dpi
