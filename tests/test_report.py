"""The case report: one self-contained page that parses, cites and escapes."""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import CHROMIUM, png_size, screenshot
from conftest import PATIENTS_DIR, REPO, patched, patient
from markupsafe import escape

from sequencer.cli import main
from sequencer.model.recommendation import Citation, Recommendation
from sequencer.present.report import case_report, html_report, markdown_report

ALLOWED_LINKS = ("https://doi.org/", "https://pubmed.ncbi.nlm.nih.gov/")
VOID = {"meta", "br", "rect", "line", "link", "img", "input", "hr", "col", "area", "source"}


class _Page(HTMLParser):
    """Collects tags, links and text, and checks that elements nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.links: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("href", "src", "xlink:href", "action", "poster") and value is not None:
                self.links.append((tag, name, value))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert not parser.problems, parser.problems
    assert parser.stack == [], parser.stack
    return parser


def _citations(rec: Recommendation) -> dict[str, Citation]:
    found: dict[str, Citation] = {}
    for item in [*rec.reasons, *rec.warnings, *rec.alternatives, *rec.context.derived]:
        found.update({c.key: c for c in item.citations})
    for option in rec.options:
        for add_on in option.add_ons:
            found.update({c.key: c for c in add_on.citations})
    return found


@pytest.mark.parametrize("number", range(1, 6))
def test_html_report_parses_and_contains_every_cited_reference(number: int) -> None:
    """Each cited source is listed once, with its DOI and PubMed links where known."""
    built = case_report(patient(number), context="us-2020")
    page = html_report(built)
    parsed = _parse(page)
    text = " ".join(parsed.text)
    cited = _citations(built.recommendation)
    assert cited
    hrefs = {value for _, name, value in parsed.links if name == "href"}
    for citation in cited.values():
        assert html.unescape(html.escape(citation.label)) in text
        if citation.doi:
            assert f"https://doi.org/{citation.doi}" in hrefs
        if citation.pmid:
            assert f"https://pubmed.ncbi.nlm.nih.gov/{citation.pmid}/" in hrefs
    assert page.count('<li id="ref-') == len(cited)


@pytest.mark.parametrize("number", range(1, 6))
def test_html_report_fetches_nothing_and_links_only_to_doi_and_pubmed(number: int) -> None:
    """No scripts, style sheets, images or fonts from outside; in-page anchors allowed."""
    page = html_report(case_report(patient(number)))
    parsed = _parse(page)
    assert "script" not in parsed.tags and "link" not in parsed.tags
    assert "iframe" not in parsed.tags and "img" not in parsed.tags
    for tag, name, value in parsed.links:
        assert name == "href" and tag == "a", (tag, name, value)
        assert value.startswith("#") or value.startswith(ALLOWED_LINKS), value
    assert "url(http" not in page and "@import" not in page


def test_html_report_has_every_section_the_board_needs() -> None:
    """Profile, options, chart, cautions, missing facts, what-ifs, references, audit, notice."""
    built = case_report(patient(4), context="us-2020")
    page = html_report(built)
    rec = built.recommendation
    for heading in (
        "Recommendation",
        "What pushed toward each option",
        "The patient",
        "Arguments for, against and set aside",
        "The rules behind them",
        "Missing facts that matter",
        "What would change the decision",
        "References",
    ):
        assert f">{heading}</h2>" in page, heading
    assert "<svg" in page and "@media print" in page
    assert rec.rulebook.digest in page and rec.rulebook.version in page
    assert escape(rec.context.title) in page and "us-2020" in page
    assert escape(rec.notice) in page
    assert "could flip" in page
    # cautions stand beside the option they concern; shared ones once, below both
    assert ">Cautions for CD19 CAR T cells</h4>" in page
    assert ">Cautions for more than one option</h3>" in page
    gvhd_flare = "Relapse within 12 months of transplant, CAR T-cell collection and GVHD flare"
    car_t = page[page.index('id="opt-car_t"') : page.index('id="opt-blinatumomab"')]
    assert gvhd_flare in car_t


def test_svg_chart_draws_one_bar_per_rule_contribution() -> None:
    """Every counted argument is a titled bar (subsumed and set-aside rules are not);
    the option totals are in the chart text."""
    built = case_report(patient(2), context="us-2020")
    page = html_report(built)
    chart = page[page.index("<svg") : page.index("</svg>")]
    counted = [r for r in built.recommendation.reasons if r.status == "counted"]
    assert counted
    for reason in counted:
        assert f"<title>{reason.rule}: +{reason.weight}</title>" in chart
    for reason in built.recommendation.reasons:
        if reason.status in ("subsumed", "set_aside"):
            assert f"<title>{reason.rule}: +" not in chart
    for option in built.recommendation.options:
        assert f"weight of arguments {option.score}</text>" in chart


@pytest.mark.parametrize(
    "patient_id", ["<script>alert(1)</script>", 'x" onload="y', "a & b <i>c</i>"]
)
def test_user_text_is_escaped_everywhere(patient_id: str) -> None:
    """A patient id is data, never markup, in the title, the heading and the what-ifs."""
    page = html_report(case_report(patched({"id": patient_id})))
    assert patient_id not in page
    assert escape(patient_id) in page
    parsed = _parse(page)
    assert "script" not in parsed.tags and "i" not in parsed.tags


def test_patient_1_report_shows_why_cns2_would_not_flip_it() -> None:
    """The what-if section names the rules that keep blinatumomab ahead of CNS2."""
    page = html_report(case_report(patient(1), context="us-2020"))
    section = page[page.index('id="h-whatif"') : page.index('id="h-refs"')]
    assert "CNS2" in section and "Why not more" in section
    assert "bridge-to-transplant-with-donor" in section


def test_markdown_report_lists_the_same_references_and_what_ifs() -> None:
    """The Markdown report carries the references with links, and the what-if list."""
    built = case_report(patient(3), context="us-2020")
    text = markdown_report(built)
    for citation in _citations(built.recommendation).values():
        assert citation.label in text
        if citation.doi:
            assert f"(https://doi.org/{citation.doi})" in text
    assert "## Would change the preferred option" in text
    assert built.recommendation.rulebook.digest in text


def test_report_command_writes_html_and_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sequencer report FILE --output PATH` writes the page; without it, prints it."""
    out = tmp_path / "report.html"
    path = PATIENTS_DIR / "patient-4.json"
    assert main(["report", str(path), "--format", "html", "--output", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(path), "--format", "markdown", "--context", "us-2020"]) == 0
    assert capsys.readouterr().out.startswith("# Case report: aldoss2020-patient-4")


def test_report_command_bad_input_exits_2_without_traceback(tmp_path: Path) -> None:
    """Invalid profiles, unreadable files and unwritable outputs are exit 2."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(patched({"age": 7})))
    result = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "report", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and "age" in result.stderr
    assert "Traceback" not in result.stderr
    good = PATIENTS_DIR / "patient-1.json"
    assert main(["report", str(good), "--output", str(tmp_path / "no" / "such" / "dir.html")]) == 2


@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="needs Debian's chromium at /usr/bin/chromium (CI installs it, and fails without it)",
)
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    """A real browser renders the page offline to a full-size, non-blank screenshot."""
    page = tmp_path / "report.html"
    page.write_text(html_report(case_report(patient(4), context="us-2020")))
    shot = tmp_path / "report.png"
    screenshot(page.as_uri(), shot, 1280, 2000)
    assert shot.is_file()
    assert png_size(shot) == (1280, 2000)
    assert shot.stat().st_size > 50_000  # a blank page compresses to a few kilobytes


def test_docs_screenshot_of_patient_4_is_in_the_repository() -> None:
    """docs/report-patient-4.png is the docs' picture of the report (docs/teaching.md)."""
    assert png_size(REPO / "docs" / "report-patient-4.png") == (1280, 2000)
