"""Case reports a tumor board can put on the screen or print, and what-if views.

``case_report(profile)`` evaluates a patient once (``recommend()`` and ``what_if()``)
and ``html_report()`` / ``markdown_report()`` turn that into one page: the profile in
plain language, the ranked options, an SVG chart of what each rule added to each
option, cautions, missing facts, what would change the decision, numbered references
with DOI and PubMed links, the rule base's version and digest, the regulatory context
and the decision-support notice.

The HTML page is self-contained: inline CSS, inline SVG, no scripts, no fonts, images
or style sheets fetched from anywhere; the only outside links are DOI and PubMed
references. Every piece of text is escaped (patient ids are data, never markup). Large
type and black on white suit a projector; a print style sheet suits paper.

The what-if list is drawn by ``sequencer.present.whatif_views`` (also ``sequencer whatif``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from sequencer.api import ProfileInput, default_rulebook, effective_profile, recommend
from sequencer.explain.whatif import Change, WhatIf, what_if
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.vocabulary import Vocabulary
from sequencer.model.parsing import parse_profile
from sequencer.model.profile import PatientProfile
from sequencer.model.recommendation import Citation, Recommendation
from sequencer.present.chart import bar_chart
from sequencer.present.markdown import markdown_arguments, markdown_cautions, markdown_reasons
from sequencer.present.phrases import (
    STATUS_WORDS,
    Refs,
    grouped_warnings,
    option_arguments,
    option_names,
    product_citations,
    product_line,
    reason_effect,
    review_note,
)
from sequencer.present.phrases import html_text as _e
from sequencer.present.whatif_views import (
    change_groups,
    markdown_whatif,
    md_escape,
    narrowed,
    result_words,
    unchanged_unknowns,
)

__all__ = [
    "ABOUT_WHAT",
    "CaseReport",
    "about_note",
    "case_report",
    "html_report",
    "markdown_report",
    "reference_links",
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


def case_report(
    profile: ProfileInput, *, context: str | None = None, rulebook: Rulebook | None = None
) -> CaseReport:
    """Evaluate ``profile`` for a report. Raises as ``recommend()`` does."""
    book = rulebook or default_rulebook()
    parsed = parse_profile(profile)
    effective, ctx, _ = effective_profile(parsed, rulebook=book, context=context)
    rec = recommend(parsed, rulebook=book, context=context)
    return CaseReport(
        profile=parsed,
        effective=effective,
        setting=ctx.title,
        recommendation=rec,
        whatif=what_if(parsed, rulebook=book, context=context, base=rec),
        colours={o.id: o.colour for o in book.options},
        vocabulary=book.vocabulary,
    )


def reference_links(citation: Citation) -> list[tuple[str, str]]:
    """The reference's links as (text, address): its DOI, then its PubMed record."""
    links = []
    if citation.doi:
        links.append((f"doi:{citation.doi}", f"https://doi.org/{citation.doi}"))
    if citation.pmid:
        links.append((f"PMID {citation.pmid}", f"https://pubmed.ncbi.nlm.nih.gov/{citation.pmid}/"))
    return links


def _number_references(rec: Recommendation) -> Refs:
    """Number every citation the recommendation carries, in reading order."""
    refs = Refs()
    for reason in rec.reasons:
        refs.numbers(reason.citations)
    for option in rec.options:
        for add_on in option.add_ons:
            refs.numbers(add_on.citations)
    for warning in rec.warnings:
        refs.numbers(warning.citations)
    for alt in rec.alternatives:
        refs.numbers(alt.citations)
    for derived in rec.context.derived:
        refs.numbers(derived.citations)
    return refs


# --- HTML -------------------------------------------------------------------------------

_CSS = "\n" + (resources.files("sequencer.present") / "report.css").read_text(encoding="utf-8")
"""The report's style sheet, inlined into every page (no external assets)."""


def _cites(refs: Refs, citations: Sequence[Citation]) -> str:
    links = [f'<a href="#ref-{n}">{n}</a>' for n in refs.numbers(citations)]
    return f' <span class="small">[{", ".join(links)}]</span>' if links else ""


def _html_change(change: Change, w: WhatIf) -> str:
    tag = {
        "flips_preferred": '<span class="tag flip">flips the choice</span>',
        "flips_eligibility": '<span class="tag flip">eligibility</span>',
        "changes_scores": '<span class="tag">scores</span>',
    }.get(change.kind, "")
    also = (
        ' <span class="small">(same for ' + _e(" / ".join(change.same_as_text)) + ")</span>"
        if change.same_as
        else ""
    )
    result = _e(result_words(change, w))
    moved = [s for s in change.rules if s.decisive]
    rules = "; ".join(
        f'<span class="rule">{_e(s.rule)}</span> {"fires" if s.fires else "stops"} ({_e(s.effect)})'
        for s in moved
    )
    lines = [
        f"{tag}<strong>{_e(change.label)}: {_e(change.from_text)} → {_e(change.to_text)}</strong>"
        f"{also}: {result}."
    ]
    if rules:
        lines.append(f'<br><span class="small">{"Rules: " + rules}.</span>')
    if change.lead and narrowed(change):
        keep = ", ".join(f'<span class="rule">{_e(r)}</span>' for r in change.lead)
        lines.append(f'<br><span class="small">Why not more: the lead rests on {keep}.</span>')
    for note in change.derived:
        lines.append(f'<br><span class="small">{_e(note)}.</span>')
    return "<li>" + "".join(lines) + "</li>"


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


def _html_about_note(about_url: str | None) -> str:
    """``about_note`` as an HTML paragraph, the address a link."""
    where = (
        f'<a href="{_e(about_url)}">{_e(about_url)}</a>.'
        if about_url is not None
        else "<code>sequencer about</code> prints it for this rule base; the sequencer "
        "project keeps it as docs/ABOUT.md."
    )
    return f'<p class="about">About this decision support ({_e(ABOUT_WHAT)}): {where}</p>'


def html_report(report: CaseReport, about_url: str | None = None) -> str:
    """Return the case report as one self-contained HTML page; its footer links the
    transparency document at ``about_url`` (when served) or says where to read it."""
    rec, w = report.recommendation, report.whatif
    voc = report.vocabulary
    refs = _number_references(rec)
    pid = _e(rec.patient_id)
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Case report: {pid}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        '<p class="kicker">sequencer case report: decision support, not an order</p>',
        f"<h1>Patient {pid}</h1>",
        f'<p class="meta">Regulatory context: <strong>{_e(rec.context.title)}</strong> '
        f"(<code>{_e(rec.context.name)}</code>, as of {_e(rec.context.as_of)}). "
        f"Rule base <code>{_e(rec.rulebook.name)}</code> {_e(rec.rulebook.version)}.</p>",
        "</header>",
    ]
    # decision
    out += [
        '<section class="decision" aria-labelledby="h-decision">',
        '<h2 id="h-decision">Recommendation</h2>',
        f'<p class="summary">{_e(rec.summary)}</p>',
        "<table><thead><tr><th>Rank</th><th>Option</th><th>Status</th><th>Score</th>"
        "<th>Cautions</th><th>Add-ons</th></tr></thead><tbody>",
    ]
    for rank_no, option in enumerate(rec.options, start=1):
        out.append(
            f'<tr><td class="num">{rank_no}</td><td>{_e(option.name)}</td>'
            f'<td class="status-{_e(option.status)}">{_e(STATUS_WORDS[option.status])}</td>'
            f'<td class="num">{option.score}</td><td class="num">{len(option.warnings)}</td>'
            f'<td class="num">{len(option.add_ons)}</td></tr>'
        )
    out.append("</tbody></table>")
    if rec.close_call:
        out.append("<p><strong>Close call:</strong> the rules barely separate the options.</p>")
    flips = w.flips()
    if flips:
        named = "; ".join(f"{c.label}: {c.from_text} → {c.to_text}" for c in flips[:3])
        more = f" and {len(flips) - 3} more" if len(flips) > 3 else ""
        out.append(
            f"<p><strong>Single changes that would flip it:</strong> {_e(named)}{more} "
            '(<a href="#h-whatif">all what-ifs</a>).</p>'
        )
    else:
        out.append("<p><strong>No single change of fact would flip it.</strong></p>")
    for option in rec.options:
        for add_on in option.add_ons:
            out.append(
                f"<p>Add-on with {_e(option.name)}: <strong>{_e(add_on.name)}</strong>. "
                f"{_e(add_on.text)}{_cites(refs, add_on.citations)}</p>"
            )
    out.append("</section>")
    # arguments, option by option
    out += [
        '<section aria-labelledby="h-arguments">',
        '<h2 id="h-arguments">Arguments for, against and set aside</h2>',
    ]
    for option in rec.options:
        out.append(
            f"<h3>{_e(option.name)}: {_e(STATUS_WORDS[option.status])}, score {option.score}</h3>"
        )
        if option.deferred_until:
            out.append(f"<p>Deferred until {_e(option.deferred_until)}.</p>")
        if option.products:
            out.append('<ul class="products">')
            for product in option.products:
                safety = (
                    f'<br><span class="small">{_e(product.safety)}'
                    f"{_cites(refs, product.citations)}</span>"
                    if product.safety
                    else ""
                )
                out.append(
                    f"<li>Product {_e(product_line(product))}"
                    f"{_cites(refs, product_citations(product))}{safety}</li>"
                )
            out.append("</ul>")
        lines = option_arguments(rec, option)
        if not lines:
            out.append("<p>No argument for or against it.</p>")
            continue
        out.append("<ul>")
        for line in lines:
            aside = "".join(
                f"<br><em>Set aside:</em> {_e(s.text)}{_cites(refs, s.citations)}"
                for s in line.argument.set_aside_by
            )
            out.append(
                f'<li class="arg-{_e(line.side.replace(" ", "-"))}"><strong>{_e(line.side)}:'
                f"</strong> {_e(line.argument.title)} "
                f'<span class="small">({_e(line.words)}; <span class="rule">'
                f"{_e(line.argument.rule)}</span>)</span>"
                f"{_cites(refs, line.argument.citations)}{aside}</li>"
            )
        out.append("</ul>")
    out.append("</section>")
    # chart
    out += [
        '<section aria-labelledby="h-chart">',
        '<h2 id="h-chart">What pushed toward each option</h2>',
        "<figure>",
        bar_chart(rec, report.colours),
        '<figcaption class="small">Each bar is one counted argument, through its strongest '
        "rule; its length is its weight (weak 1, moderate 2, strong 3). Arguments set aside "
        "and weaker rules making the same argument add nothing; cautions and missing facts "
        "never add points; an option that is not eligible or deferred cannot be chosen now "
        "whatever its score.</figcaption>",
        "</figure>",
        "</section>",
    ]
    # profile
    out += [
        '<section aria-labelledby="h-profile">',
        '<h2 id="h-profile">The patient</h2>',
        f"<p>{_e(voc.vignette(report.effective, report.setting))}</p>",
        "<table><thead><tr><th>Fact</th><th>Value</th></tr></thead><tbody>",
    ]
    derived = {d.field: d for d in rec.context.derived}
    for field, name, value in voc.known_facts(report.effective):
        note = " (derived from the regulatory context)" if field in derived else ""
        out.append(f"<tr><td>{_e(name)}</td><td>{_e(value)}{_e(note)}</td></tr>")
    out.append("</tbody></table>")
    for d in rec.context.derived:
        out.append(f'<p class="small">{_e(d.text)}{_cites(refs, d.citations)}</p>')
    out.append("</section>")
    # reasons
    out += [
        '<section aria-labelledby="h-why">',
        '<h2 id="h-why">The rules behind them</h2>',
        "<ul>",
    ]
    option_name = option_names(rec)
    for reason in rec.reasons:
        what = reason_effect(reason, option_name)
        out.append(
            f"<li><strong>{_e(reason.title)}</strong> "
            f'<span class="small">(<span class="rule">{_e(reason.rule)}</span>; {_e(what)}; '
            f"evidence: {_e(reason.evidence)})</span>{_cites(refs, reason.citations)}"
            f"<br>{_e(reason.text)}</li>"
        )
    if not rec.reasons:
        out.append("<li>No rule favors either option or rules one out.</li>")
    out += ["</ul>", "</section>"]
    # cautions
    if rec.warnings:
        out += ['<section aria-labelledby="h-cautions">', '<h2 id="h-cautions">Cautions</h2>']
        out.append("<ul>")
        for names, warning in grouped_warnings(rec):
            out.append(
                f"<li><strong>{_e(names)}: {_e(warning.title)}</strong> "
                f'<span class="small">(<span class="rule">{_e(warning.rule)}</span>)</span>'
                f"{_cites(refs, warning.citations)}<br>{_e(warning.text)}</li>"
            )
        out += ["</ul>", "</section>"]
    # missing
    if rec.missing:
        out += [
            '<section aria-labelledby="h-missing">',
            '<h2 id="h-missing">Missing facts that matter</h2>',
            '<p class="small">Those that could change the decision come first.</p>',
            "<ul>",
        ]
        for fact in rec.missing:
            tags = ""
            if fact.blocking:
                tags += '<span class="tag flip">blocks the choice</span>'
            elif fact.could_flip:
                tags += '<span class="tag flip">could flip</span>'
            out.append(
                f"<li>{tags}<strong>{_e(voc.label(fact.field))}</strong> "
                f"<code>{_e(fact.field)}</code>: {_e(fact.text)}</li>"
            )
        out += ["</ul>", "</section>"]
    # what-if
    out += [
        '<section aria-labelledby="h-whatif">',
        '<h2 id="h-whatif">What would change the decision</h2>',
        '<p class="small">One fact changed at a time, everything else as above.</p>',
    ]
    groups = change_groups(w, SCORE_ITEMS_IN_REPORT)
    for group in groups:
        out.append(f"<h3>{_e(group.heading)}</h3><ol>")
        out += [_html_change(c, w) for c in group.shown]
        out.append("</ol>")
        if group.hidden:
            out.append(
                f'<p class="small">{group.hidden} more score changes: '
                "<code>sequencer whatif</code> lists them all.</p>"
            )
    if not groups:
        out.append("<p>No single change of fact would change the decision or the scores.</p>")
    unchanged = unchanged_unknowns(w)
    if unchanged:
        out.append(
            "<p><strong>Unknown facts that would change nothing:</strong> "
            + _e("; ".join(unchanged))
            + ".</p>"
        )
    out.append("</section>")
    # alternatives
    if rec.alternatives:
        out += [
            '<section aria-labelledby="h-alt">',
            '<h2 id="h-alt">Alternatives</h2>',
            "<ul>",
        ]
        for alt in rec.alternatives:
            target = f" ({_e(alt.target)})" if alt.target else ""
            out.append(
                f"<li><strong>{_e(alt.name)}</strong>{target}{_cites(refs, alt.citations)}"
                f"<br>{_e(alt.text)}</li>"
            )
        out += ["</ul>", "</section>"]
    # references
    out += [
        '<section aria-labelledby="h-refs">',
        '<h2 id="h-refs">References</h2>',
        '<ol class="refs small">',
    ]
    for number, citation in enumerate(refs.order.values(), start=1):
        links = [
            f'<a class="ext" href="{_e(url)}">{_e(text)}</a>'
            for text, url in reference_links(citation)
        ]
        suffix = " " + " · ".join(links) if links else ""
        out.append(f'<li id="ref-{number}">{_e(citation.label)}.{suffix}</li>')
    out += ["</ol>", "</section>"]
    # footer
    out += [
        "<footer>",
        f'<p class="notice">{_e(rec.notice)}</p>',
        f"<p>Rule base <code>{_e(rec.rulebook.name)}</code> version "
        f"{_e(rec.rulebook.version)}, digest <code>{_e(rec.rulebook.digest)}</code>. "
        f"Regulatory context <code>{_e(rec.context.name)}</code>: {_e(rec.context.title)} "
        f"(as of {_e(rec.context.as_of)}).</p>",
        f'<p class="review">{_e(review_note(rec.rulebook))}</p>',
        _html_about_note(about_url),
        "</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(out) + "\n"


# --- Markdown and text ---------------------------------------------------------------


def markdown_report(report: CaseReport) -> str:
    """Return the case report as Markdown (same sections as the HTML page, no chart)."""
    rec = report.recommendation
    voc = report.vocabulary
    refs = _number_references(rec)

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
        f"**{rec.summary}**",
        "",
        "| Rank | Option | Status | Score | What added to it |",
        "|---|---|---|---|---|",
    ]
    for rank_no, option in enumerate(rec.options, start=1):
        parts = [
            f"{r.rule} +{r.weight}"
            if r.effect == "favors"
            else f"{r.rule} ({r.effect.replace('_', ' ')})"
            for r in rec.reasons
            if r.therapy == option.therapy and (r.effect != "favors" or r.status == "counted")
        ]
        out.append(
            f"| {rank_no} | {option.name} | {STATUS_WORDS[option.status]} | {option.score} | "
            f"{', '.join(f'`{p}`' for p in parts) or '-'} |"
        )
    out.append("")
    for option in rec.options:
        for add_on in option.add_ons:
            out.append(
                f"- Add-on with {option.name}: **{add_on.name}**{cites(add_on.citations)}: "
                f"{add_on.text}"
            )
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
            out.append(f"- {voc.label(fact.field)} (`{fact.field}`){flag}: {fact.text}")
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
    return "\n".join(out)
