"""Terminal output (rich): a recommendation, the replay, the rule base."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sequencer.explain.cohort import Coverage
from sequencer.explain.published import Replay
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.vocabulary import effect_summary
from sequencer.model.recommendation import (
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
    weight_words,
)

__all__ = ["print_coverage", "print_recommendation", "print_replay", "print_rules"]


_STATUS_STYLE = {
    "preferred": "bold green",
    "alternative": "yellow",
    "deferred": "magenta",
    "not_eligible": "red",
}


def print_recommendation(
    rec: Recommendation,
    console: Console,
    label: Callable[[str], str] | None = None,
    show_rules: bool = False,
) -> None:
    """Print one recommendation to a terminal, in the words of the rule base's vocabulary
    (``label``: a profile field's name in words; default: the shipped rule base's). Rule
    ids are printed only with ``show_rules``; nothing is cut in the middle of a word."""
    if label is None:
        from sequencer.api import default_rulebook

        label = default_rulebook().vocabulary.label
    refs = Refs()
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("Option", overflow="fold")
    table.add_column("Status", overflow="fold")
    table.add_column("Weight of arguments", justify="right", overflow="fold")
    if show_rules:
        table.add_column("Reasons (rule ids)", overflow="fold")
    for option in rec.options:
        cells: list[str | Text] = [
            option.name,
            Text(status_label(rec, option), style=_STATUS_STYLE[option.status]),
            weight_words(option),
        ]
        if show_rules:
            cells.append(", ".join(option.reasons) or "-")
        table.add_row(*cells)
    parts: list[object] = [Text(summary_words(rec.summary), style="bold"), table]
    for option in rec.options:
        for add_on in option.add_ons:
            rule = f" ({add_on.rule})" if show_rules else ""
            parts.append(Text(f"Add-on with {option.name}: {add_on.name}{rule}"))
    args = Text()
    for option in rec.options:
        args.append(f"{option.name}: {status_label(rec, option)}", style="bold")
        args.append(f"{weight_clause(option)}\n")
        if option.deferred_until:
            args.append(f"  deferred until {option.deferred_until}\n", style="magenta")
        for product in option.products:
            args.append(f"  product {product_line(product)}", style="cyan")
            held = product_citations(product)
            args.append(f" {refs.cite(held)}\n" if held else "\n", style="dim")
        lines = option_arguments(rec, option, show_rules)
        if not lines:
            args.append("  no argument for or against it\n", style="dim")
        for line in lines:
            style = {"for": "green", "against": "red", "set aside": "dim"}[line.side]
            args.append(f"  {line.side}: ", style=style)
            args.append(f"{line.argument.title} ")
            args.append(f"[{line.words}] {refs.cite(line.argument.citations)}\n", style="dim")
    parts += [Text("Arguments", style="bold underline"), args]
    why = Text()
    option_name = option_names(rec)
    for reason in rec.reasons:
        what = reason_effect(reason, option_name)
        why.append(f"• {reason.title}", style="bold")
        why.append(
            f"  [{f'{reason.rule}; ' if show_rules else ''}{what}; {reason.evidence}] "
            f"{refs.cite(reason.citations)}\n",
            style="dim",
        )
        why.append(f"  {reason.text}\n")
    parts += [Text("The rules behind them", style="bold underline"), why]
    if rec.plan:
        plan = Text()
        for step in rec.plan:
            plan.append(f"• {PHASE_WORDS[step.phase]}: ", style="bold")
            plan.append(f"{step.text} ")
            plan.append(
                f"[{step.rule}; {step.evidence}] {refs.cite(step.citations)}\n", style="dim"
            )
        parts += [Text(plan_heading(rec), style="bold underline"), plan]
    if rec.warnings:
        warn = Text()
        for names, w in grouped_warnings(rec):
            warn.append(f"• {names}: {w.title}", style="yellow")
            rule = f"[{w.rule}] " if show_rules else ""
            warn.append(f"  {rule}{refs.cite(w.citations)}\n", style="dim")
            warn.append(f"  {w.text}\n")
        parts += [Text("Cautions", style="bold underline"), warn]
    if rec.missing:
        miss = Text()
        for fact in rec.missing:
            miss.append(f"• {label(fact.field)}", style="magenta")
            miss.append(f": {fact.text}\n")
        parts += [Text("Missing facts that matter", style="bold underline"), miss]
    if rec.alternatives:
        alts = Text()
        for alt in rec.alternatives:
            alts.append(f"• {alt.name}", style="cyan")
            alts.append(f" {refs.cite(alt.citations)}: {alt.text}\n")
        parts += [Text("Alternatives", style="bold underline"), alts]
    parts += [Text("References", style="bold underline"), Text("\n".join(refs.lines()))]
    parts.append(
        Text(
            f"\nRule base {rec.rulebook.name} {rec.rulebook.version} "
            f"{rec.rulebook.digest}\n{review_note(rec.rulebook)}\n{rec.notice}",
            style="dim",
        )
    )
    console.print(Panel(Group(*parts), title=Text(f"sequencer: {rec.patient_id}"), expand=False))  # type: ignore[arg-type]


def print_replay(results: list[Replay], console: Console, show_rules: bool = False) -> None:
    """Print published cases side by side with the library's answers, then each rationale
    (rule ids only with ``show_rules``)."""
    review = results[0].rulebook.review.short if results else "the review"
    table = Table(title=f"{review}: published vs library", header_style="bold")
    table.add_column("Patient", justify="right")
    table.add_column("Published")
    table.add_column(f"Library ({results[0].case.context})" if results else "Library")
    table.add_column("Agree")
    table.add_column(f"Today ({results[0].today.context.name})" if results else "Today")
    for r in results:
        close = " (close call)" if r.recommendation.close_call else ""
        table.add_row(
            str(r.case.number),
            r.name(r.case.published_choice),
            r.name(r.choice) + close,
            Text("yes", style="green") if r.agrees else Text("NO", style="bold red"),
            today_cell(r),
        )
    console.print(table)
    for r in results:
        case = r.case
        console.rule(f"Patient {case.number}")
        console.print(Text(case.vignette, style="italic"))
        console.print(
            Text.assemble(
                ("Published: ", "bold"),
                f"{r.name(case.published_choice)}. {case.published_rationale}",
            )
        )
        console.print(Text.assemble(("Encoded as: ", "bold"), case.encoding), style="dim")
        print_recommendation(r.recommendation, console, r.rulebook.vocabulary.label, show_rules)


def print_rules(rulebook: Rulebook, console: Console) -> None:
    """Print the rule base, grouped by consideration, with evidence strength."""
    console.print(
        Text(
            f"{rulebook.title}\nRule base {rulebook.name} {rulebook.version} "
            f"({rulebook.digest}): {len(rulebook.active)} active rules, "
            f"{len(rulebook.sources)} sources",
            style="bold",
        )
    )
    for consideration, title in rulebook.considerations.items():
        table = Table(title=title, title_justify="left", header_style="bold", expand=False)
        table.add_column("Rule")
        table.add_column("Effect")
        table.add_column("Evidence")
        table.add_column("Cites")
        for loaded in rulebook.rules:
            if loaded.consideration == consideration:
                rule = loaded.rule
                table.add_row(
                    Text.assemble(rule.id, "\n", (rule.title, "dim")),
                    Text(effect_summary(rule)),
                    rule.evidence,
                    ", ".join(rule.citations),
                )
        console.print(table)
    contexts = Table(title="Regulatory contexts", title_justify="left", header_style="bold")
    contexts.add_column("Context")
    contexts.add_column("As of")
    contexts.add_column("CAR T-cell products (ages)")
    contexts.add_column("Otherwise")
    for name, context in rulebook.contexts.items():
        label = f"{name} (default)" if name == rulebook.default_context else name
        products = context_products(context)
        contexts.add_row(label, context.as_of, products, context.product_access.otherwise)
    console.print(contexts)


def print_coverage(found: Coverage, book: Rulebook, seed: int, console: Console) -> None:
    """Print rule coverage over a cohort as a table: per rule, with its title, the share
    of patients it fired for and decided for; then the rules that never fire or decide."""

    def share(n: int) -> str:
        return f"{100 * n / found.size:.1f}%" if found.size else "-"

    titles = {r.rule.id: r.rule.title for r in book.rules}
    console.print(
        Text(
            f"Rule coverage: {book.name} {book.version}, context {found.context}\n"
            f"A generated cohort of {found.size} patients (seed {seed}). A rule decides for "
            "a patient when, without it, the preferred option or an option's standing "
            "changes.",
            style="bold",
        )
    )
    table = Table(header_style="bold", expand=False)
    table.add_column("Rule", overflow="fold")
    table.add_column("Fires", justify="right", no_wrap=True)
    table.add_column("Decides", justify="right", no_wrap=True)
    for r in sorted(found.rules, key=lambda r: (-r.decides, -r.fires, r.rule)):
        table.add_row(
            Text.assemble(r.rule, "\n", (titles.get(r.rule, ""), "dim")),
            share(r.fires),
            share(r.decides),
        )
    console.print(table)
    console.print(Text("Never fire: " + (", ".join(found.never_fire) or "none") + "."))
    console.print(
        Text(
            "Fire but never decide (cautions, missing facts and suggestions cannot; an "
            "argument that never decides is outweighed or repeated by another): "
            + (", ".join(found.never_decide) or "none")
            + "."
        )
    )
