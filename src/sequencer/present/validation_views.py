"""A validation report as text, Markdown and a printable HTML page (the JSON is the
report model's own dump)."""

from __future__ import annotations

from sequencer.explain.corpus_impact import CorpusImpact
from sequencer.explain.validation import CaseResult, Share, ValidationReport
from sequencer.knowledge.rulebook import Rulebook
from sequencer.present.markdown import escape_markdown
from sequencer.present.templating import plain_words, render
from sequencer.present.terminal import printable

__all__ = [
    "html_validation",
    "markdown_corpus_impact",
    "markdown_validation",
    "share_text",
    "text_validation",
]


def share_text(share: Share) -> str:
    """``"30 of 32 (93.8%, 95% CI 79.9-98.3%)"``."""
    if not share.of:
        return "no assessable case"
    return (
        f"{share.count} of {share.of} ({share.share:.1%}, 95% CI "
        f"{share.low * 100:.1f}-{share.high * 100:.1f}%)"
    )


def _deciding(case: CaseResult) -> str:
    return "; ".join(
        f"{d.title} ({d.rule}{f', +{d.weight}' if d.weight else ''})" for d in case.deciding
    )


def text_validation(report: ValidationReport, rulebook: Rulebook) -> str:
    """The report for a terminal: figures, then every case that is not concordant with
    why (and, for a discordance, the arguments that decided it); user text escaped."""
    words = rulebook.vocabulary
    lines = [
        f"Validation against past decisions: {report.rulebook}",
        "  " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.counts.items()),
        f"  Concordant: {share_text(report.concordant)}",
        f"  Concordant or conditional: {share_text(report.concordant_or_conditional)}",
    ]
    if report.rules_behind_discordances:
        lines.append(
            "  Rules behind most discordances: "
            + ", ".join(f"{rule} ({count})" for rule, count in report.rules_behind_discordances)
        )
    for case in report.cases:
        if case.verdict == "concordant":
            continue
        lines.append("")
        verdict = case.verdict.replace("_", " ").upper()
        lines.append(f"{verdict}: {case.id} (chosen: {case.chosen or 'not stated'})")
        if case.library_summary:
            lines.append(f"  The library: {plain_words(case.library_summary, words)}")
        lines.append(f"  Why: {plain_words(case.why, words)}")
        if case.verdict == "discordant" and case.deciding:
            lines.append(f"  Decided by: {_deciding(case)}")
    return printable("\n".join(lines)) + "\n"


def markdown_validation(report: ValidationReport, rulebook: Rulebook) -> str:
    """The report as Markdown: figures, rules behind discordances, a table of every case."""
    words = rulebook.vocabulary
    md = escape_markdown
    out = [
        "# Validation against past decisions",
        "",
        f"Rule base {md(report.rulebook)}.",
        "",
        "| Judged | Cases |",
        "|---|---|",
        *(f"| {k.replace('_', ' ')} | {v} |" for k, v in report.counts.items()),
        "",
        f"- Concordant: {share_text(report.concordant)}",
        f"- Concordant or conditional: {share_text(report.concordant_or_conditional)}",
        "",
    ]
    if report.rules_behind_discordances:
        out += ["## Rules behind most discordances", ""]
        out += [f"- `{rule}`: {count}" for rule, count in report.rules_behind_discordances]
        out.append("")
    out += [
        "## Cases",
        "",
        "| Case | Judged | Chosen | The library | Why |",
        "|---|---|---|---|---|",
    ]
    for case in report.cases:
        why = plain_words(case.why, words)
        if case.verdict == "discordant" and case.deciding:
            why += f" Decided by: {_deciding(case)}"
        summary = plain_words(case.library_summary or "", words)
        out.append(
            f"| {md(case.id)} | {case.verdict.replace('_', ' ')} | {md(case.chosen or '')} "
            f"| {md(summary)} | {md(why)} |"
        )
    return "\n".join(out) + "\n"


def html_validation(report: ValidationReport, rulebook: Rulebook) -> str:
    """The report as a self-contained, printable HTML page (autoescaped)."""
    return render(rulebook.vocabulary, "validation.html", report=report, share=share_text)


def markdown_corpus_impact(found: CorpusImpact) -> str:
    """A rule-base change's effect on the validation corpus, as a Markdown section:
    concordance before and after, and the cases whose verdict moved."""
    md = escape_markdown
    out = [
        f"## Validation corpus ({found.cases} past decisions)",
        "",
        "| | Before | After |",
        "|---|---|---|",
        f"| Concordant | {share_text(found.concordant_before)} "
        f"| {share_text(found.concordant_after)} |",
        f"| Concordant or conditional | {share_text(found.concordant_or_conditional_before)} "
        f"| {share_text(found.concordant_or_conditional_after)} |",
        "",
    ]
    if not found.moved:
        return "\n".join([*out, "No case's verdict moves."]) + "\n"
    out += ["| Case | Before | After | Why, after |", "|---|---|---|---|"]
    out += [
        f"| {md(m.id)} | {m.before.replace('_', ' ')} | {m.after.replace('_', ' ')} "
        f"| {md(m.why_after)} |"
        for m in found.moved
    ]
    return "\n".join(out) + "\n"
