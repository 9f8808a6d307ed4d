"""Markdown pages: a recommendation, the published patients' replay, the rule base
and its catalogue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sequencer.explain.published import Replay
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import (
    Favors,
)
from sequencer.knowledge.vocabulary import effect_summary
from sequencer.model.recommendation import (
    AddOnSuggestion,
    Citation,
    Option,
    Recommendation,
)
from sequencer.present.phrases import (
    PHASE_WORDS,
    Refs,
    context_products,
    grouped_warnings,
    option_arguments,
    option_names,
    plan_heading,
    product_citations,
    product_line,
    reason_effect,
    review_note,
    status_label,
    summary_words,
    today_cell,
    weight_clause,
    weight_legend,
    weight_words,
)

if TYPE_CHECKING:
    from sequencer.explain.cohort import Coverage
    from sequencer.explain.impact import Impact

__all__ = [
    "escape_markdown",
    "markdown_arguments",
    "markdown_brief",
    "markdown_catalogue",
    "markdown_cautions",
    "markdown_coverage",
    "markdown_impact",
    "markdown_option_table",
    "markdown_reasons",
    "markdown_recommendation",
    "markdown_replay",
    "markdown_rules",
]


def escape_markdown(text: str) -> str:
    """Escape Markdown's inline specials in caller-supplied text (patient ids, messages
    quoting a record)."""
    return "".join(f"\\{ch}" if ch in "\\`*_[]<>#|!" else ch for ch in text)


_md = escape_markdown


def markdown_reasons(rec: Recommendation, cite: Callable[[Sequence[Citation]], str]) -> list[str]:
    """Return Markdown bullets for every reason: title, rule, effect, evidence, text.

    ``cite`` turns a reason's citations into the text placed after it (``" [1, 2]"``).
    """
    out = []
    option_name = option_names(rec)
    for reason in rec.reasons:
        what = reason_effect(reason, option_name)
        out.append(
            f"- **{reason.title}** (`{reason.rule}`; {what}; evidence: {reason.evidence})"
            f"{cite(reason.citations)}  "
        )
        out.append(f"  {reason.text}")
    return out


def markdown_arguments(rec: Recommendation, cite: Callable[[Sequence[Citation]], str]) -> list[str]:
    """Return Markdown, option by option: its standing, then its arguments for, against
    and set aside (with what set them aside)."""
    out: list[str] = []
    for option in rec.options:
        standing = status_label(rec, option)
        out.append(f"- **{option.name}**: {standing}{weight_clause(option)}")
        if option.deferred_until:
            out.append(f"  - deferred until {option.deferred_until}")
        for product in option.products:
            held = product_citations(product)
            out.append(f"  - product {_md(product_line(product))}{cite(held) if held else ''}")
        lines = option_arguments(rec, option)
        if not lines:
            out.append("  - no argument for or against it")
        for line in lines:
            out.append(
                f"  - {line.side}: {line.argument.title} ({line.words}; "
                f"`{line.argument.rule}`){cite(line.argument.citations)}"
            )
            for s in line.argument.set_aside_by:
                out.append(f"    - {s.text}{cite(s.citations)}")
    return out


def markdown_plan(rec: Recommendation, cite: Callable[[Sequence[Citation]], str]) -> list[str]:
    """Return the plan around the choice as Markdown items: phase, text, rule, evidence
    and citations (none without a plan)."""
    return [
        f"- **{PHASE_WORDS[s.phase]}**: {_md(s.text)} (`{s.rule}`; {s.evidence}){cite(s.citations)}"
        for s in rec.plan
    ]


def markdown_cautions(rec: Recommendation, cite: Callable[[Sequence[Citation]], str]) -> list[str]:
    """Return Markdown bullets for every cautioning rule, once, with the options it concerns."""
    out = []
    for names, warning in grouped_warnings(rec):
        serious = "**Serious:** " if warning.severity == "serious" else ""
        out.append(
            f"- {serious}{names}: **{warning.title}** (`{warning.rule}`){cite(warning.citations)}  "
        )
        out.append(f"  {warning.text}")
    return out


OptionColumn = tuple[str, Callable[[int, Option], str]]
"""A column of the options table: its heading, and its cell from (rank, option)."""


def markdown_option_table(
    rec: Recommendation,
    columns: Sequence[OptionColumn],
    add_on_note: Callable[[AddOnSuggestion], str],
) -> list[str]:
    """Return the options as Markdown lines: a table (one row per option, in rank
    order, with ``columns``), a blank line, then a bullet per add-on (its name, then
    ``add_on_note``: its rule or reference numbers, then its text)."""
    out = ["| " + " | ".join(h for h, _ in columns) + " |", "|" + "---|" * len(columns)]
    for rank_no, option in enumerate(rec.options, start=1):
        out.append("| " + " | ".join(cell(rank_no, option) for _, cell in columns) + " |")
    out.append("")
    for option in rec.options:
        for add_on in option.add_ons:
            out.append(
                f"- Add-on with {option.name}: **{add_on.name}**{add_on_note(add_on)}: "
                f"{add_on.text}"
            )
    return out


def markdown_recommendation(rec: Recommendation, heading: str = "#") -> str:
    """Return a Markdown page for one recommendation, references numbered."""
    refs = Refs()
    out = [
        f"{heading} Recommendation for {_md(rec.patient_id)}",
        "",
        f"**{summary_words(rec.summary)}**",
        "",
    ]
    out += markdown_option_table(
        rec,
        [
            ("Option", lambda _, option: option.name),
            ("Status", lambda _, option: status_label(rec, option)),
            ("Weight of arguments", lambda _, option: weight_words(option)),
            ("Reasons", lambda _, option: ", ".join(f"`{r}`" for r in option.reasons) or "-"),
        ],
        lambda add_on: f" (`{add_on.rule}`) {refs.cite(add_on.citations)}",
    )
    out += ([""] if out[-1] else []) + [f"_{weight_legend({})}_"]

    def cite(citations: Sequence[Citation]) -> str:
        return " " + refs.cite(citations)

    out += ["", f"{heading}# Arguments, option by option", "", *markdown_arguments(rec, cite)]
    out += ["", f"{heading}# The rules behind them", "", *markdown_reasons(rec, cite)]
    if rec.plan:
        out += ["", f"{heading}# {plan_heading(rec)}", "", *markdown_plan(rec, cite)]
    if rec.warnings:
        out += ["", f"{heading}# Cautions", "", *markdown_cautions(rec, cite)]
    if rec.missing:
        out += ["", f"{heading}# Missing facts that matter", ""]
        for fact in rec.missing:
            out.append(f"- `{fact.field}`: {fact.text}")
    if rec.alternatives:
        out += ["", f"{heading}# Alternatives", ""]
        for alt in rec.alternatives:
            target = f" ({alt.target})" if alt.target else ""
            out.append(f"- **{alt.name}**{target} {refs.cite(alt.citations)}: {alt.text}")
    out += ["", f"{heading}# References", "", *refs.lines(), ""]
    out.append(
        f"_Rule base {rec.rulebook.name} {rec.rulebook.version}, {rec.rulebook.digest}. "
        f"{review_note(rec.rulebook)} {rec.notice}_"
    )
    return "\n".join(out) + "\n"


def markdown_brief(rec: Recommendation, book: Rulebook) -> str:
    """Return a short Markdown account of a recommendation for a decision-support card:
    the choice, each option's arguments, the cautions, the unknown facts that could
    change it (with how to establish them), the references and the rule base."""
    refs = Refs()

    def cite(citations: Sequence[Citation]) -> str:
        return " " + refs.cite(citations)

    out = [f"**{_md(summary_words(rec.summary))}**", "", *markdown_arguments(rec, cite)]
    if rec.warnings:
        out += ["", "**Cautions**", "", *markdown_cautions(rec, cite)]
    flips = [m for m in rec.missing if m.could_flip or m.blocking]
    if flips:
        out += ["", "**Unknown, and could change the choice**", ""]
        for fact in flips:
            how = book.vocabulary.establish.get(fact.field)
            out.append(
                f"- {book.vocabulary.label(fact.field)}: {fact.text}"
                + (f" (establish: {how.how})" if how else "")
            )
    out += ["", "**References**", "", *refs.lines(), ""]
    out.append(
        f"_Rule base {rec.rulebook.name} {rec.rulebook.version} ({rec.rulebook.digest}), "
        f"context {rec.context.name}. {rec.notice}_"
    )
    return "\n".join(out) + "\n"


def markdown_replay(results: list[Replay]) -> str:
    """Return a Markdown page replaying published cases beside the library's answers."""
    review = results[0].rulebook.review.short if results else "the review"
    out = [f"# The published patients of {review}, replayed", ""]
    if results:
        out += [
            f"Replayed in context `{results[0].case.context}`; the last column shows the "
            f"same patient in today's context (`{results[0].today.context.name}`).",
            "",
        ]
    out += ["| Patient | Published | Library | Agree | Today |", "|---|---|---|---|---|"]
    for r in results:
        agree = "yes" if r.agrees else "**NO**"
        close = " (close call)" if r.recommendation.close_call else ""
        out.append(
            f"| {r.case.number} | {r.name(r.case.published_choice)} | "
            f"{r.name(r.choice)}{close} | {agree} | {today_cell(r)} |"
        )
    for r in results:
        case = r.case
        out += [
            "",
            f"## Patient {case.number}",
            "",
            f"_{case.vignette}_",
            "",
            f"**Published choice:** {r.name(case.published_choice)}. {case.published_rationale}",
            "",
            f"**How the profile was encoded:** {case.encoding}",
            "",
        ]
        out.append(markdown_recommendation(r.recommendation, heading="###"))
    return "\n".join(out)


def markdown_rules(rulebook: Rulebook) -> str:
    """Return the rule base as a Markdown page: every rule by consideration, and contexts."""
    out = [
        f"# {rulebook.title}",
        "",
        f"Rule base `{rulebook.name}` {rulebook.version} ({rulebook.digest}).",
        "",
        markdown_catalogue(rulebook, heading="##"),
    ]
    return "\n".join(out)


def markdown_catalogue(rulebook: Rulebook, heading: str = "###") -> str:
    """Return the rule catalogue (grouped by consideration, with evidence) and contexts.

    docs/rule-base.md embeds this text (`make catalogue`; the site regenerates it); a
    test keeps the two identical.
    """
    out = [
        f"{len(rulebook.active)} active rules making {len(rulebook.arguments)} arguments in "
        f"{len(rulebook.considerations)} considerations, "
        f"{len(rulebook.sources)} sources, {len(rulebook.contexts)} regulatory contexts "
        f"(rule base version {rulebook.version}).",
        "",
    ]
    for consideration, title in rulebook.considerations.items():
        out += [f"{heading} {title}", ""]
        made = [
            a
            for a_id, a in rulebook.arguments.items()
            if any(
                loaded.consideration == consideration
                and any(isinstance(e, Favors) and e.argues == a_id for e in loaded.rule.then)
                for loaded in rulebook.rules
            )
        ]
        if made:
            out += ["Arguments made here:", ""]
            for a in made:
                sides = ", ".join(
                    s
                    for s in (
                        f"for {a.pro_of}" if a.pro_of else "",
                        f"against {a.con_of}" if a.con_of else "",
                    )
                    if s
                )
                out.append(f"- `{a.id}`: {a.title} ({sides})")
            out.append("")
        out += [
            "| Rule | Effect | Evidence | Cites |",
            "|---|---|---|---|",
        ]
        for loaded in rulebook.rules:
            if loaded.consideration != consideration:
                continue
            rule = loaded.rule
            out.append(
                f"| `{rule.id}`: {rule.title} | {effect_summary(rule)} | {rule.evidence} | "
                f"{', '.join(rule.citations)} |"
            )
        out.append("")
    out += [
        f"{heading} Regulatory contexts",
        "",
        "| Context | As of | CAR T-cell products (ages) | Otherwise |",
        "|---|---|---|---|",
    ]
    for name, context in rulebook.contexts.items():
        products = context_products(context)
        default = " (default)" if name == rulebook.default_context else ""
        out.append(
            f"| `{name}`{default}: {context.title} | {context.as_of} | {products} | "
            f"{context.product_access.otherwise} |"
        )
    out.append("")
    return "\n".join(out)


def markdown_coverage(found: Coverage, book: Rulebook, seed: int) -> str:
    """Return rule coverage over a cohort as Markdown: per rule, the share of patients
    it fired for and decided for; then the rules that never fire or never decide."""

    def share(n: int) -> str:
        return f"{100 * n / found.size:.1f}%" if found.size else "-"

    out = [
        f"# Rule coverage: {book.name} {book.version}, context `{found.context}`",
        "",
        f"A generated cohort of {found.size} patients (seed {seed}). A rule *decides* for a "
        "patient when, without it, the preferred option or an option's standing changes.",
        "",
        "| Rule | Fires | Decides |",
        "|---|---:|---:|",
    ]
    for r in sorted(found.rules, key=lambda r: (-r.decides, -r.fires, r.rule)):
        out.append(f"| `{r.rule}` | {share(r.fires)} | {share(r.decides)} |")
    out += [
        "",
        "**Never fire:** " + (", ".join(f"`{r}`" for r in found.never_fire) or "none") + ".",
        "",
        "**Fire but never decide** (cautions, missing facts and suggestions cannot; an "
        "argument that never decides is outweighed or repeated by another): "
        + (", ".join(f"`{r}`" for r in found.never_decide) or "none")
        + ".",
    ]
    return "\n".join(out) + "\n"


def markdown_impact(impact: Impact, examples: int = 10) -> str:
    """Return a rule-base change as Markdown for a pull request: the rules that changed,
    then the decisions that change (counts per source, directions, examples with the
    arguments and standings that moved)."""
    out = [f"# Rule-base change: {impact.old} → {impact.new}", "", "## Rules", ""]
    if not impact.rules:
        out.append("No rule changed.")
    for change in impact.rules:
        detail = f" ({', '.join(change.parts)})" if change.parts else ""
        if change.strength:
            detail += f"; strength {change.strength[0]} → {change.strength[1]}"
        out.append(f"- `{change.rule}`: {change.kind}{detail}")
    out += ["", "## Decisions", "", "| Patients | Evaluated | Changed |", "|---|---:|---:|"]
    for source in ("published", "literature", "cohort"):
        evaluated = impact.evaluated.get(source, 0)
        out.append(f"| {source} | {evaluated} | {impact.changed.get(source, 0)} |")
    if impact.changes:
        out += [
            "",
            "The choice before and after (the same choice when only an option's standing changed):",
            "",
            "| Before | After | Patients |",
            "|---|---|---:|",
        ]
        for (before, after), n in impact.directions().most_common():
            out.append(f"| {before} | {after} | {n} |")
        out += ["", "### Examples", ""]
        for c in impact.changes[:examples]:
            moved = "; ".join([*c.gained, *(f"no longer {x}" for x in c.lost)])
            out.append(
                f"- {c.source} `{_md(c.patient)}` ({c.context}): {c.before} → {c.after}"
                + (f"; {moved}" if moved else "")
            )
    else:
        out += ["", "No decision changes."]
    found = impact.coverage
    if found is not None and found.size:
        touched = {c.rule for c in impact.rules if c.kind in ("added", "changed")}
        rows = [r for r in found.rules if r.rule in touched]
        out += ["", f"## Coverage (new rule base, {found.size} cohort patients)", ""]
        if rows:
            out += ["| Changed or added rule | Fires | Decides |", "|---|---:|---:|"]
        else:
            out.append("No rule was added or changed in a way that leaves it active.")
        for r in rows:
            fires, decides = (f"{100 * n / found.size:.1f}%" for n in (r.fires, r.decides))
            out.append(f"| `{r.rule}` | {fires} | {decides} |")
        never = ", ".join(f"`{r}`" for r in found.never_fire) or "none"
        out += ["", f"**Never fire:** {never}.", ""]
        out.append(f"**Fire but never decide:** {len(found.never_decide)} rules.")
    return "\n".join(out) + "\n"
