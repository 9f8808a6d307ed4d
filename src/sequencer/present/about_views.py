"""The transparency document rendered: Markdown (``sequencer about``, ``docs/ABOUT.md``)
and one self-contained HTML page (``GET /about``: inline CSS, no scripts, the only outside
links DOI and PubMed records, every value escaped)."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources

from sequencer.present.about_model import (
    NOT_STATED,
    AboutDocument,
    AttributeAnswer,
    CaseResult,
)
from sequencer.present.phrases import html_text as _e

__all__ = ["html_about", "markdown_about"]


def _yes_no(answer: AttributeAnswer) -> str:
    if answer.used is None:
        return ""
    return "**Used.** " if answer.used else "**Not used.** "


def _strip_used(answer: AttributeAnswer) -> str:
    """The answer without a leading 'Not used.' (the views say it themselves)."""
    text = answer.answer
    return text[len("Not used. ") :] if text.startswith("Not used. ") else text


def _count(n: int, one: str, many: str | None = None) -> str:
    """``1 rule``, ``3 rules``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _rules_md(rules: Iterable[str]) -> str:
    listed = list(rules)
    return ", ".join(f"`{r}`" for r in listed) if listed else "none"


def _case_md(c: CaseResult) -> str:
    verdict = (
        "agrees"
        if c.agrees
        else ("differs, as documented" if c.documented_difference else "differs")
    )
    return f"| {c.source} | {c.case} | `{c.context}` | {c.expected} | {c.library} | {verdict} |"


def markdown_about(doc: AboutDocument) -> str:
    """Return the transparency document as Markdown."""
    rb, v, r = doc.rulebook, doc.validation, doc.revisions
    out = [
        f"# About this decision support: {rb.title}",
        "",
        f"Rule base `{rb.name}` {rb.version} ({rb.digest}); regulatory context "
        f"`{doc.context}`: {doc.context_title}. Generated from the rule base by "
        "`sequencer about`; do not edit by hand.",
        "",
        f"_{doc.notice}_",
        "",
        "## The regulation",
        "",
        doc.regulation,
        "",
        doc.regulation_scope,
        "",
        "## Intended use",
        "",
        doc.intended_use,
        "",
        f"**Decision-making role.** {doc.decision_role}",
        "",
        "**Intended users.**",
        "",
        *[f"- {u}" for u in doc.intended_users],
        "",
        f"**Patient population.** {doc.patient_population}",
        "",
        "**Cautioned uses.** Do not apply it to, or use it for:",
        "",
        *[f"- {u}" for u in doc.cautioned_uses],
        "",
        "## Source attributes",
        "",
        "| Paragraph | Attribute | Answer |",
        "|---|---|---|",
    ]
    for a in doc.attributes:
        answer = _yes_no(a) + _strip_used(a)
        if a.fields:
            answer += f" Fields: {_rules_md(a.fields)}; read by {_count(len(a.rules), 'rule')}."
        out.append(f"| {a.paragraph} | {a.asks} | {answer} |")
    out += [
        "",
        "## Developer and funding",
        "",
        f"**Developer.** {doc.developer}. {doc.developer_translation} {doc.developer_contact}",
        "",
        f"**Funding.** {doc.funding}",
        "",
        "## Inputs",
        "",
        "Every field of the patient profile (format v1), the source attribute it falls "
        f"under, and the active rules of `{doc.context}` whose conditions read it. "
        f"{doc.inputs_text}",
        "",
        "| Field | Meaning | Attribute | Rules reading it |",
        "|---|---|---|---|",
    ]
    for f in doc.inputs:
        extra = " (also: the context derives CAR T-cell access from it)" if f.derives_access else ""
        out.append(
            f"| `{f.field}` | {f.label} | {f.attribute or 'clinical'} | "
            f"{len(f.rules)}{extra}: {_rules_md(f.rules)} |"
        )
    out += [
        "",
        "## Evidence base",
        "",
        f"The rule base encodes {doc.review}, and cites {len(doc.sources)} sources. Each "
        "rule is graded by the kind of evidence behind it; each source by its own kind.",
        "",
        "| Evidence grade | Active rules | Sources |",
        "|---|---|---|",
        *[f"| {g.grade} | {g.rules} | {g.sources} |" for g in doc.grades],
        "",
    ]
    for s in doc.sources:
        links = [f"doi:{s.doi}" if s.doi else "", f"PMID {s.pmid}" if s.pmid else ""]
        ids = "; ".join(x for x in links if x)
        out.append(
            f"- **{s.key}** ({s.grade}): {s.citation}."
            + (f" {ids}." if ids else "")
            + (
                f" Cited by {_count(len(s.cited_by), 'active rule')}: {_rules_md(s.cited_by)}."
                if s.cited_by
                else f" Cited by no active rule of `{doc.context}`."
            )
        )
    out += [
        "",
        "## Release and revision dates",
        "",
        next(a.answer for a in doc.attributes if a.id == "dates")
        if any(a.id == "dates" for a in doc.attributes)
        else NOT_STATED,
        "",
        "| Version | Released | Changes |",
        "|---|---|---|",
        *[f"| {e.version} | {e.date} | {e.changes} |" for e in r.releases],
        "",
        f"Clinical sign-off: the rule base was {r.rule_base_sign_off}; {r.signed_rules} "
        f"active rules are signed off, {r.unsigned_rules} are not"
        + (f"; the earliest review falls due {r.earliest_due}." if r.earliest_due else "."),
        "",
    ]
    if r.revised_rules:
        out += [
            "Revised rules (their version): "
            + ", ".join(f"`{k}` ({n})" for k, n in r.revised_rules.items())
            + ".",
            "",
        ]
    out += [
        "## Validation",
        "",
        v.method,
        "",
        f"Replayed now: **{v.published_agree} of {v.published_total}** published patients "
        f"come out as published; **{v.literature_agree} of {v.literature_total}** literature "
        f"cases reach the clinicians' choice, and {v.literature_as_documented} "
        f"{'differs' if v.literature_as_documented == 1 else 'differ'} as documented. "
        f"{v.rules_with_cases} of the {v.active_rules} active rules of "
        f"`{doc.context}` have cases on which they must fire and stay silent.",
        "",
        "| Source | Case | Context | Expected | The rules give | |",
        "|---|---|---|---|---|---|",
        *[_case_md(c) for c in v.cases],
        "",
        "Properties checked over generated profiles (`tests/test_properties.py`):",
        "",
        *[f"- `{p.test}`: {p.pins}" for p in v.properties],
        "",
        f"**Not done.** {v.not_done}",
        "",
        "## Known limitations",
        "",
        *[f"- {x}" for x in doc.stated_limitations],
        *[f"- {x}" for x in doc.computed_limitations],
        "",
        "## Where to read this",
        "",
        doc.where_to_read,
        "",
    ]
    return "\n".join(out)


_CSS = "\n" + (resources.files("sequencer.present") / "report.css").read_text(encoding="utf-8")


def _rules_html(rules: Iterable[str]) -> str:
    listed = list(rules)
    if not listed:
        return "none"
    return ", ".join(f'<span class="rule">{_e(x)}</span>' for x in listed)


def html_about(doc: AboutDocument) -> str:
    """Return the transparency document as one self-contained HTML page (inline CSS, no
    scripts; the only outside links are DOI and PubMed records). Every value is escaped."""
    rb, v, r = doc.rulebook, doc.validation, doc.revisions
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>About: {_e(rb.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        '<p class="kicker">sequencer: about this decision support</p>',
        f"<h1>{_e(rb.title)}</h1>",
        f'<p class="meta">Rule base <code>{_e(rb.name)}</code> {_e(rb.version)}, digest '
        f"<code>{_e(rb.digest)}</code>. Regulatory context <code>{_e(doc.context)}</code>: "
        f"{_e(doc.context_title)}.</p>",
        f'<p class="notice">{_e(doc.notice)}</p>',
        "</header>",
        '<section aria-labelledby="h-reg"><h2 id="h-reg">The regulation</h2>',
        f"<p>{_e(doc.regulation)}</p><p>{_e(doc.regulation_scope)}</p></section>",
        '<section aria-labelledby="h-use"><h2 id="h-use">Intended use</h2>',
        f"<p>{_e(doc.intended_use)}</p>",
        f"<p><strong>Decision-making role.</strong> {_e(doc.decision_role)}</p>",
        "<p><strong>Intended users.</strong></p><ul>",
        *[f"<li>{_e(u)}</li>" for u in doc.intended_users],
        "</ul>",
        f"<p><strong>Patient population.</strong> {_e(doc.patient_population)}</p>",
        "<p><strong>Cautioned uses.</strong> Do not apply it to, or use it for:</p><ul>",
        *[f"<li>{_e(u)}</li>" for u in doc.cautioned_uses],
        "</ul></section>",
        '<section aria-labelledby="h-attr"><h2 id="h-attr">Source attributes</h2>',
        "<table><thead><tr><th>Paragraph</th><th>Attribute</th><th>Answer</th></tr></thead><tbody>",
    ]
    for a in doc.attributes:
        used = (
            ""
            if a.used is None
            else ("<strong>Used.</strong> " if a.used else "<strong>Not used.</strong> ")
        )
        fields = (
            f' <span class="small">Fields: {_rules_html(a.fields)}; read by '
            f"{_count(len(a.rules), 'rule')}.</span>"
            if a.fields
            else ""
        )
        out.append(
            f"<tr><td>{_e(a.paragraph)}</td><td>{_e(a.asks)}</td>"
            f"<td>{used}{_e(_strip_used(a))}{fields}</td></tr>"
        )
    out += [
        "</tbody></table></section>",
        '<section aria-labelledby="h-dev"><h2 id="h-dev">Developer and funding</h2>',
        f"<p><strong>Developer.</strong> {_e(doc.developer)}. {_e(doc.developer_translation)} "
        f"{_e(doc.developer_contact)}</p>",
        f"<p><strong>Funding.</strong> {_e(doc.funding)}</p></section>",
        '<section aria-labelledby="h-inputs"><h2 id="h-inputs">Inputs</h2>',
        f"<p>Every field of the patient profile (format v1), the source attribute it falls "
        f"under, and the active rules of <code>{_e(doc.context)}</code> whose conditions read "
        f"it. {_e(doc.inputs_text)}</p>",
        "<table><thead><tr><th>Field</th><th>Meaning</th><th>Attribute</th>"
        "<th>Rules reading it</th></tr></thead><tbody>",
    ]
    for f in doc.inputs:
        extra = " (also: the context derives CAR T-cell access from it)" if f.derives_access else ""
        out.append(
            f"<tr><td><code>{_e(f.field)}</code></td><td>{_e(f.label)}</td>"
            f"<td>{_e(f.attribute or 'clinical')}</td>"
            f'<td><span class="num">{len(f.rules)}</span>{_e(extra)}'
            f'<br><span class="small">{_rules_html(f.rules)}</span></td></tr>'
        )
    out += [
        "</tbody></table></section>",
        '<section aria-labelledby="h-evidence"><h2 id="h-evidence">Evidence base</h2>',
        f"<p>The rule base encodes {_e(doc.review)}, and cites {len(doc.sources)} sources.</p>",
        "<table><thead><tr><th>Evidence grade</th><th>Active rules</th><th>Sources</th></tr>"
        "</thead><tbody>",
        *[
            f'<tr><td>{_e(g.grade)}</td><td class="num">{g.rules}</td>'
            f'<td class="num">{g.sources}</td></tr>'
            for g in doc.grades
        ],
        '</tbody></table><ol class="refs small">',
    ]
    for s in doc.sources:
        links = []
        if s.doi:
            links.append(
                f'<a class="ext" href="{_e("https://doi.org/" + s.doi)}">doi:{_e(s.doi)}</a>'
            )
        if s.pmid:
            links.append(
                f'<a class="ext" href="{_e("https://pubmed.ncbi.nlm.nih.gov/" + s.pmid + "/")}">'
                f"PMID {_e(s.pmid)}</a>"
            )
        suffix = (" " + " · ".join(links)) if links else ""
        out.append(
            f'<li id="src-{_e(s.key)}"><strong>{_e(s.key)}</strong> ({_e(s.grade)}): '
            f"{_e(s.citation)}.{suffix}<br>"
            + (
                f"Cited by {_count(len(s.cited_by), 'active rule')}: {_rules_html(s.cited_by)}."
                if s.cited_by
                else f"Cited by no active rule of <code>{_e(doc.context)}</code>."
            )
            + "</li>"
        )
    dates = next((a.answer for a in doc.attributes if a.id == "dates"), NOT_STATED)
    out += [
        "</ol></section>",
        '<section aria-labelledby="h-dates"><h2 id="h-dates">Release and revision dates</h2>',
        f"<p>{_e(dates)}</p>",
        "<table><thead><tr><th>Version</th><th>Released</th><th>Changes</th></tr></thead><tbody>",
        *[
            f"<tr><td>{_e(e.version)}</td><td>{_e(e.date)}</td><td>{_e(e.changes)}</td></tr>"
            for e in r.releases
        ],
        "</tbody></table>",
        f"<p>Clinical sign-off: the rule base was {_e(r.rule_base_sign_off)}; "
        f"{r.signed_rules} active rules are signed off, {r.unsigned_rules} are not"
        + (f"; the earliest review falls due {_e(r.earliest_due)}." if r.earliest_due else ".")
        + "</p>",
    ]
    if r.revised_rules:
        out.append(
            '<p class="small">Revised rules (their version): '
            + ", ".join(
                f'<span class="rule">{_e(k)}</span> ({n})' for k, n in r.revised_rules.items()
            )
            + ".</p>"
        )
    out += [
        "</section>",
        '<section aria-labelledby="h-valid"><h2 id="h-valid">Validation</h2>',
        f"<p>{_e(v.method)}</p>",
        f"<p>Replayed now: <strong>{v.published_agree} of {v.published_total}</strong> published "
        f"patients come out as published; <strong>{v.literature_agree} of "
        f"{v.literature_total}</strong> literature cases reach the clinicians' choice, and "
        f"{v.literature_as_documented} "
        f"{'differs' if v.literature_as_documented == 1 else 'differ'} as documented. "
        f"{v.rules_with_cases} of the "
        f"{v.active_rules} active rules of <code>{_e(doc.context)}</code> have cases on which "
        "they must fire and stay silent.</p>",
        "<table><thead><tr><th>Source</th><th>Case</th><th>Context</th><th>Expected</th>"
        "<th>The rules give</th><th></th></tr></thead><tbody>",
    ]
    for c in v.cases:
        verdict = (
            "agrees"
            if c.agrees
            else ("differs, as documented" if c.documented_difference else "differs")
        )
        out.append(
            f"<tr><td>{_e(c.source)}</td><td>{_e(c.case)}</td><td><code>{_e(c.context)}</code>"
            f"</td><td>{_e(c.expected)}</td><td>{_e(c.library)}</td><td>{_e(verdict)}</td></tr>"
        )
    out += [
        "</tbody></table>",
        "<p>Properties checked over generated profiles "
        "(<code>tests/test_properties.py</code>):</p>",
        "<ul>",
        *[f'<li><span class="rule">{_e(p.test)}</span>: {_e(p.pins)}</li>' for p in v.properties],
        "</ul>",
        f"<p><strong>Not done.</strong> {_e(v.not_done)}</p></section>",
        '<section aria-labelledby="h-limits"><h2 id="h-limits">Known limitations</h2><ul>',
        *[f"<li>{_e(x)}</li>" for x in doc.stated_limitations],
        *[f"<li>{_e(x)}</li>" for x in doc.computed_limitations],
        "</ul></section>",
        f"<footer><p>{_e(doc.where_to_read)}</p></footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(out) + "\n"
