"""Case reports a tumor board can put on the screen or print.

``case_report(profile)`` evaluates a patient once (``recommend()`` and ``what_if()``);
``html_report()`` renders it with the Jinja2 templates the board's page shares
(``present/templates/``, view built by ``present.case_view``) and ``markdown_report()``
writes it as Markdown. The HTML page prints on two pages: the decision, the options
with their arguments and cautions, and the missing facts that could flip the choice on
the first; what would change it (facts the board can establish apart from facts that
cannot change), the patient and the complete references on the second. On screen it
also shows the chart of what each rule added and every rule behind the choice.

The HTML page is self-contained: inline CSS, inline SVG, no scripts, no fonts, images
or style sheets fetched from anywhere; the only outside links are DOI and PubMed
references. Every piece of text is escaped (patient ids are data, never markup), and
no field is shown by its dotted path (``present.templating``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

from markupsafe import Markup

from sequencer.api import ProfileInput, default_rulebook, recommend_effective
from sequencer.errors import UsageError
from sequencer.explain.whatif import what_if
from sequencer.explain.whatif_model import WhatIf
from sequencer.knowledge.contexts import apply_context
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import Source
from sequencer.knowledge.vocabulary import Vocabulary
from sequencer.model.parsing import parse_profile
from sequencer.model.profile import PatientProfile
from sequencer.model.recommendation import Citation, Option, Recommendation
from sequencer.present.case_view import CaseView, DecisionRecord, case_view
from sequencer.present.markdown import (
    markdown_arguments,
    markdown_cautions,
    markdown_option_table,
    markdown_plan,
    markdown_reasons,
)
from sequencer.present.phrases import (
    ReferencePart,
    number_references,
    plan_heading,
    reference_links,
    review_note,
    standing_words,
    summary_words,
    weight_legend,
    weight_words,
)
from sequencer.present.templating import plain_words, render
from sequencer.present.whatif_views import markdown_whatif, md_escape

__all__ = [
    "ABOUT_WHAT",
    "PAPERS",
    "CaseReport",
    "DecisionRecord",
    "about_note",
    "case_report",
    "html_report",
    "markdown_report",
    "report_css",
    "report_view",
]

SCORE_ITEMS_IN_REPORT = 6


@dataclass(frozen=True)
class CaseReport:
    """One patient evaluated for a report: the profile, the recommendation, the what-ifs."""

    profile: PatientProfile
    effective: PatientProfile
    setting: str
    recommendation: Recommendation
    whatif: WhatIf
    colours: dict[str, str]
    vocabulary: Vocabulary
    weights: Mapping[str, int]
    sources: Mapping[str, Source] = field(default_factory=dict)
    review_label: str | None = None


def case_report(
    profile: ProfileInput, *, context: str | None = None, rulebook: Rulebook | None = None
) -> CaseReport:
    """Evaluate ``profile`` for a report (the profile parsed and the context applied
    once). Raises as ``recommend()`` does."""
    book = rulebook or default_rulebook()
    parsed = parse_profile(profile)
    ctx = book.context(context)
    effective, derivations = apply_context(ctx, parsed)
    rec = recommend_effective(effective, ctx, derivations, rulebook=book)
    return CaseReport(
        profile=parsed,
        effective=effective,
        setting=ctx.title,
        recommendation=rec,
        whatif=what_if(parsed, rulebook=book, context=context, base=rec),
        colours={o.id: o.colour for o in book.options},
        vocabulary=book.vocabulary,
        weights=book.weights,
        sources=book.sources,
        review_label=book.review.ref_label,
    )


MARKDOWN_REFERENCE_ORDER: tuple[ReferencePart, ...] = (
    "reasons",
    "add_ons",
    "cautions",
    "alternatives",
    "derived",
    "plan",
)
"""The order the Markdown report numbers references in: its reading order."""


# --- HTML -------------------------------------------------------------------------------

_CSS = "\n" + (resources.files("sequencer.present") / "report.css").read_text(encoding="utf-8")
"""The report's style sheet, inlined into every page (no external assets)."""

PAPERS = ("A4", "letter")
"""Paper sizes a report can be laid out for (``@page size``); none means the printer's."""


def report_css() -> str:
    """The report's style sheet (the board's page serves it too)."""
    return _CSS


ABOUT_WHAT = "intended use, inputs, evidence, developer, funding, validation, limitations"
"""What the transparency document holds, as the reports' footers say it."""


def about_note(about_url: str | None = None) -> str:
    """Where to read the transparency document, in words (Markdown code marks): at
    ``about_url`` when the report is served, else by ``sequencer about`` or in the
    project's docs/ABOUT.md (a report written to a file cannot rely on a server)."""
    if about_url is not None:
        return f"About this decision support ({ABOUT_WHAT}): {about_url}."
    return (
        f"About this decision support ({ABOUT_WHAT}): `sequencer about` prints it for "
        "this rule base; the sequencer project keeps it as docs/ABOUT.md."
    )


def report_view(
    report: CaseReport,
    decision: DecisionRecord | None = None,
    limit_scores: int | None = None,
    merge: bool = False,
) -> CaseView:
    """The templates' view of ``report`` (with the board's ``decision`` if recorded);
    ``limit_scores`` caps the what-if changes that move only the weights, per part;
    ``merge`` joins a field's changes with the same result into one item."""
    return case_view(
        recommendation=report.recommendation,
        whatif=report.whatif,
        vocabulary=report.vocabulary,
        facts=report.vocabulary.known_facts(report.effective),
        unknown=report.vocabulary.relevant_unknowns(report.effective),
        vignette=report.vocabulary.vignette(report.effective, report.setting),
        colours=report.colours,
        weights=report.weights,
        sources=report.sources,
        review_label=report.review_label,
        limit_scores=limit_scores,
        merge=merge,
        decision=decision,
    )


def html_report(
    report: CaseReport,
    about_url: str | None = None,
    *,
    show_id: bool = True,
    decision: DecisionRecord | None = None,
    prepared: str | None = None,
    paper: str | None = None,
) -> str:
    """Return the case report as one self-contained HTML page that prints on two pages:
    the decision and its reasons on the first, what would change it, the patient and the
    references on the second. Its footer links the transparency document at
    ``about_url`` (when served) or says where to read it.

    ``show_id=False`` leaves the patient id out (it is often a record number);
    ``decision`` is the board's recorded decision; ``prepared`` is the date printed
    (default: today, UTC); ``paper`` (``A4`` or ``letter``) sets the printed page size.
    Raises ``UsageError`` for another paper size.
    """
    if paper is not None and paper not in PAPERS:
        raise UsageError(f"paper must be one of {', '.join(PAPERS)}; got {paper!r}")
    view = report_view(report, decision, SCORE_ITEMS_IN_REPORT, merge=True)
    return render(
        report.vocabulary,
        "report.html",
        v=view,
        css=Markup(_CSS),
        paper=paper,
        show_id=show_id,
        prepared=prepared or datetime.datetime.now(datetime.UTC).date().isoformat(),
        interactive=False,
        about_url=about_url,
        about_what=ABOUT_WHAT,
    )


# --- Markdown and text ---------------------------------------------------------------


def markdown_report(report: CaseReport) -> str:
    """Return the case report as Markdown (same sections as the HTML page, no chart)."""
    rec = report.recommendation
    voc = report.vocabulary
    refs = number_references(rec, MARKDOWN_REFERENCE_ORDER)

    def cites(citations: Sequence[Citation]) -> str:
        return " [" + ", ".join(str(n) for n in refs.numbers(citations)) + "]"

    out = [
        f"# Case report: {md_escape(rec.patient_id)}",
        "",
        f"_Decision support, not an order._ Regulatory context `{rec.context.name}`: "
        f"{rec.context.title} (as of {rec.context.as_of}).",
        "",
        "## Recommendation",
        "",
        f"**{summary_words(rec.summary)}**",
        "",
    ]

    def added(option: Option) -> str:
        parts = [
            f"{r.rule} +{r.weight}"
            if r.effect == "favors"
            else f"{r.rule} ({r.effect.replace('_', ' ')})"
            for r in rec.reasons
            if r.therapy == option.therapy and (r.effect != "favors" or r.status == "counted")
        ]
        return ", ".join(f"`{p}`" for p in parts) or "-"

    out += markdown_option_table(
        rec,
        [
            ("Rank", lambda rank_no, _: str(rank_no)),
            ("Option", lambda _, option: option.name),
            ("Status", lambda _, option: standing_words(rec, option)),
            ("Weight of arguments", lambda _, option: weight_words(option)),
            ("What added to it", lambda _, option: added(option)),
        ],
        lambda add_on: cites(add_on.citations),
    )
    out += ([""] if out[-1] else []) + [f"_{weight_legend(report.weights)}_"]
    out += ["", "## The patient", "", voc.vignette(report.effective, report.setting), ""]
    out += ["| Fact | Value |", "|---|---|"]
    for _, name, value in voc.known_facts(report.effective):
        out.append(f"| {name} | {md_escape(value)} |")
    unknown = voc.relevant_unknowns(report.effective)
    if unknown:
        out += ["", "**Not known:** " + ", ".join(voc.label(f) for f in unknown) + "."]
    for d in rec.context.derived:
        out += ["", f"_{d.text}_{cites(d.citations)}"]
    out += ["", "## Arguments for, against and set aside", "", *markdown_arguments(rec, cites)]
    out += ["", "## The rules behind them", "", *markdown_reasons(rec, cites)]
    if rec.plan:
        out += ["", f"## {plan_heading(rec)}", "", *markdown_plan(rec, cites)]
    if rec.warnings:
        out += ["", "## Cautions", "", *markdown_cautions(rec, cites)]
    if rec.missing:
        out += ["", "## Missing facts that matter", ""]
        for fact in rec.missing:
            flag = (
                " **(blocks the choice)**"
                if fact.blocking
                else (" **(could flip)**" if fact.could_flip else "")
            )
            out.append(f"- {voc.label(fact.field)}{flag}: {fact.text}")
    out += ["", markdown_whatif(report.whatif, heading="##", limit_scores=SCORE_ITEMS_IN_REPORT)]
    if rec.alternatives:
        out += ["## Alternatives", ""]
        for alt in rec.alternatives:
            target = f" ({alt.target})" if alt.target else ""
            out.append(f"- **{alt.name}**{target}{cites(alt.citations)}: {alt.text}")
        out.append("")
    out += ["## References", ""]
    for number, citation in enumerate(refs.order.values(), start=1):
        links = [f"[{text}]({url})" for text, url in reference_links(citation)]
        out.append(f"{number}. {citation.label}." + (" " + " · ".join(links) if links else ""))
    out += [
        "",
        f"_Rule base {rec.rulebook.name} {rec.rulebook.version}, {rec.rulebook.digest}; "
        f"context {rec.context.name}. {review_note(rec.rulebook)} {rec.notice}_",
        "",
        about_note(),
        "",
    ]
    return plain_words("\n".join(out), voc)
