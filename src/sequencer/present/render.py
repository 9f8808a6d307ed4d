"""Human-readable views of recommendations, replays and the rule base.

Two formats: terminal text (through ``rich``) and Markdown (plain strings, for tumor
board notes and teaching sheets). JSON is ``model_dump(mode="json")`` and lives in
the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sequencer.explain.published import Replay
from sequencer.knowledge.contexts import Context
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import (
    AddOn,
    Defer,
    Derive,
    Failed,
    Favors,
    HoldsBack,
    Missing,
    NotEligible,
    Rule,
    SetsAside,
    SuggestOutsideTherapy,
)
from sequencer.knowledge.schema import (
    Caution as CautionEffect,
)
from sequencer.model.recommendation import (
    Argument,
    Caution,
    Citation,
    Option,
    ProductStanding,
    Reason,
    Recommendation,
)

__all__ = [
    "ArgumentLine",
    "Refs",
    "grouped_warnings",
    "markdown_arguments",
    "markdown_recommendation",
    "markdown_replay",
    "markdown_rules",
    "option_arguments",
    "print_recommendation",
    "print_replay",
    "print_rules",
    "product_citations",
    "product_line",
    "reason_effect",
]

_STATUS_STYLE = {
    "preferred": "bold green",
    "alternative": "yellow",
    "deferred": "magenta",
    "not_eligible": "red",
}


class Refs:
    """Numbers citations in order of first use (shared by every human-readable view)."""

    def __init__(self) -> None:
        self.order: dict[str, Citation] = {}

    def numbers(self, citations: Iterable[Citation]) -> list[int]:
        """Return the reference numbers of ``citations``, numbering new ones."""
        out = []
        for citation in citations:
            self.order.setdefault(citation.key, citation)
            out.append(list(self.order).index(citation.key) + 1)
        return out

    def cite(self, citations: Iterable[Citation]) -> str:
        """Return ``[1, 3]``-style reference numbers for ``citations``."""
        return "[" + ", ".join(map(str, self.numbers(citations))) + "]"

    def lines(self) -> list[str]:
        out = []
        for number, citation in enumerate(self.order.values(), start=1):
            ids = []
            if citation.doi:
                ids.append(f"doi:{citation.doi}")
            if citation.pmid:
                ids.append(f"PMID {citation.pmid}")
            suffix = f" ({'; '.join(ids)})" if ids else ""
            out.append(f"{number}. {citation.label}{suffix}")
        return out


def _md(text: str) -> str:
    """Escape Markdown's inline specials in caller-supplied text (patient ids)."""
    return "".join(f"\\{ch}" if ch in "\\`*_[]<>#|!" else ch for ch in text)


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


@dataclass(frozen=True)
class ArgumentLine:
    """One argument as it stands on one option: for it, against it, or set aside."""

    side: str  # "for", "against" or "set aside"
    argument: Argument
    words: str  # strength and where its points go, in words


def option_arguments(rec: Recommendation, option: Option) -> list[ArgumentLine]:
    """Return the option's arguments for, against and set aside, in that order.

    Every view (text, Markdown, HTML report) shows these the same way: a weakness of an
    option is listed on it whether or not the other option can be given.
    """
    by_id = {a.id: a for a in rec.arguments}
    lines = []
    for argument_id in option.arguments_for:
        a = by_id[argument_id]
        lines.append(ArgumentLine("for", a, f"{a.strength}, +{a.weight} to {option.name}"))
    names = option_names(rec)
    for argument_id in option.arguments_against:
        a = by_id[argument_id]
        if a.status == "counted":
            words = f"{a.strength}, +{a.weight} to {names[a.favors]}"
        else:  # its other side's therapy failed: no weight, but the weakness stands
            words = f"no weight, as {names[a.favors]} has failed; the weakness stands"
        lines.append(ArgumentLine("against", a, words))
    for argument_id in option.set_aside:
        a = by_id[argument_id]
        by = "; ".join(f"{s.title} ({s.rule})" for s in a.set_aside_by)
        lines.append(ArgumentLine("set aside", a, f"no weight: set aside by {by}"))
    return lines


def _sentence_case(title: str) -> str:
    """Lower a title's first letter unless it starts an acronym (``CNS-3``)."""
    head = title[:2]
    return title[0].lower() + title[1:] if head[:1].isupper() and head[1:].islower() else title


def product_line(product: ProductStanding) -> str:
    """Return one product's standing in words: whether its criteria admit the patient,
    and otherwise what holds the patient back and what lifts it."""
    name = f"{product.name} ({product.trial})" if product.trial else product.name
    if product.admits:
        return f"{name}: its criteria admit the patient"
    holds = "; ".join(
        f"{_sentence_case(h.title.rstrip('.'))} (until {h.until})" for h in product.held_back_by
    )
    return f"{name} waits: {holds}"


def product_citations(product: ProductStanding) -> list[Citation]:
    """The sources of the criteria holding the patient back from ``product``, once each."""
    found = {c.key: c for h in product.held_back_by for c in h.citations}
    return list(found.values())


def markdown_arguments(rec: Recommendation, cite: Callable[[Sequence[Citation]], str]) -> list[str]:
    """Return Markdown, option by option: its standing, then its arguments for, against
    and set aside (with what set them aside)."""
    out: list[str] = []
    for option in rec.options:
        standing = option.status.replace("_", " ")
        out.append(f"- **{option.name}**: {standing}, score {option.score}")
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


def markdown_cautions(rec: Recommendation, cite: Callable[[Sequence[Citation]], str]) -> list[str]:
    """Return Markdown bullets for every cautioning rule, once, with the options it concerns."""
    out = []
    for names, warning in grouped_warnings(rec):
        out.append(f"- {names}: **{warning.title}** (`{warning.rule}`){cite(warning.citations)}  ")
        out.append(f"  {warning.text}")
    return out


def option_names(rec: Recommendation) -> dict[str, str]:
    """Option id -> its name, as the recommendation's rule base gives it."""
    return {o.therapy: o.name for o in rec.options}


def reason_effect(reason: Reason, names: Mapping[str, str]) -> str:
    """What a reason did, in words: counted, subsumed, set aside, excluded, deferred."""
    if reason.effect == "not_eligible":
        return f"{names[reason.therapy]} not eligible"
    if reason.effect == "deferred":
        return f"{names[reason.therapy]} deferred"
    how = {
        "counted": f"+{reason.weight}",
        "subsumed": "counted once, through a stronger rule",
        "set_aside": "set aside",
    }.get(reason.status or "counted", f"+{reason.weight}")
    return f"favors {names[reason.therapy]} ({reason.strength}, {how})"


def _headline(rec: Recommendation) -> str:
    return rec.summary


def grouped_warnings(rec: Recommendation) -> list[tuple[str, Caution]]:
    """Return each cautioning rule once, with the options it concerns (``A + B``)."""
    by_rule: dict[str, tuple[list[str], Caution]] = {}
    option = option_names(rec)
    for warning in rec.warnings:
        names, _ = by_rule.setdefault(warning.rule, ([], warning))
        names.append(option[warning.therapy])
    return [(" + ".join(names), first) for names, first in by_rule.values()]


# --- Markdown ------------------------------------------------------------------


def markdown_recommendation(rec: Recommendation, heading: str = "#") -> str:
    """Return a Markdown page for one recommendation, references numbered."""
    refs = Refs()
    out = [f"{heading} Recommendation for {_md(rec.patient_id)}", "", f"**{_headline(rec)}**", ""]
    out += ["| Option | Status | Score | Reasons |", "|---|---|---|---|"]
    for option in rec.options:
        out.append(
            f"| {option.name} | {option.status.replace('_', ' ')} | {option.score} | "
            f"{', '.join(f'`{r}`' for r in option.reasons) or '-'} |"
        )
    out.append("")
    for option in rec.options:
        for add_on in option.add_ons:
            out.append(
                f"- Add-on with {option.name}: **{add_on.name}** (`{add_on.rule}`) "
                f"{refs.cite(add_on.citations)}: {add_on.text}"
            )

    def cite(citations: Sequence[Citation]) -> str:
        return " " + refs.cite(citations)

    out += ["", f"{heading}# Arguments, option by option", "", *markdown_arguments(rec, cite)]
    out += ["", f"{heading}# The rules behind them", "", *markdown_reasons(rec, cite)]
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
        f"{rec.notice}_"
    )
    return "\n".join(out) + "\n"


def _scores(rec: Recommendation, book: Rulebook) -> str:
    """``Blinatumomab 1, CAR T 2``: each option's score, in the rule base's order."""
    score = {o.therapy: o.score for o in rec.options}
    return ", ".join(f"{book.option_short[x]} {score[x]}" for x in book.option_ids)


def _today_cell(r: Replay) -> str:
    """Today's choice, its scores, whether anything moved, and why the choice moved."""
    book = r.rulebook
    same = r.today_choice == r.choice and _scores(r.today, book) == _scores(r.recommendation, book)
    mark = "unchanged" if same else "changed"
    return f"{r.name(r.today_choice)} ({_scores(r.today, book)}; {mark}){_why_today(r)}"


def _why_today(r: Replay) -> str:
    """Why today's choice differs from the published era's: the standings that changed,
    and the arguments counted in one era and not the other."""
    if r.today_choice == r.choice:
        return ""
    then = {o.therapy: o for o in r.recommendation.options}
    parts = []
    for option in r.today.options:
        if option.status != then[option.therapy].status and option.status in (
            "deferred",
            "not_eligible",
        ):
            until = f" until {option.deferred_until}" if option.deferred_until else ""
            parts.append(f"{option.name} {option.status.replace('_', ' ')}{until}")
    before = {a.id for a in r.recommendation.arguments if a.status == "counted"}
    now = {a.id: a for a in r.today.arguments if a.status == "counted"}
    gone = [a.title for a in r.recommendation.arguments if a.id in before - set(now)]
    new = [a.title for a_id, a in now.items() if a_id not in before]
    parts += [f"no longer: {title}" for title in gone] + [f"now: {title}" for title in new]
    return f"; because {'; '.join(parts)}" if parts else ""


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
            f"{r.name(r.choice)}{close} | {agree} | {_today_cell(r)} |"
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

    The README embeds this text; a test keeps the two identical.
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
                f"| `{rule.id}`: {rule.title} | {_effects(rule)} | {rule.evidence} | "
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
        products = _products(context)
        default = " (default)" if name == rulebook.default_context else ""
        out.append(
            f"| `{name}`{default}: {context.title} | {context.as_of} | {products} | "
            f"{context.car_t.otherwise} |"
        )
    out.append("")
    return "\n".join(out)


def _products(context: Context) -> str:
    """The context's approved CAR T-cell products with their label ages."""
    return "; ".join(f"{p.name} ({_ages(p.min_age, p.max_age)})" for p in context.car_t.products)


def _ages(low: int, high: int | None) -> str:
    if high is None:
        return f"{low} and over" if low else "any age"
    return f"up to {high}" if not low else f"{low}-{high}"


def _effects(rule: Rule) -> str:
    parts = []
    for e in rule.then:
        if isinstance(e, Favors):
            parts.append(f"argues {e.argues}, favoring {e.favors} ({e.strength})")
        elif isinstance(e, Failed):
            parts.append(f"failed: {e.failed} (its arguments set aside)")
        elif isinstance(e, SetsAside):
            parts.append(f"sets aside: {', '.join(e.sets_aside)}")
        elif isinstance(e, Defer):
            parts.append(f"deferred: {', '.join(e.defer)} until {' '.join(e.until.split())}")
        elif isinstance(e, NotEligible):
            parts.append(f"not eligible: {', '.join(e.not_eligible)}")
        elif isinstance(e, CautionEffect):
            parts.append(f"caution: {', '.join(e.caution)}")
        elif isinstance(e, Missing):
            parts.append(f"missing: {e.missing}")
        elif isinstance(e, AddOn):
            parts.append(f"add-on to {e.to}: {e.name}")
        elif isinstance(e, SuggestOutsideTherapy):
            parts.append(f"alternative: {e.alternative}")
        elif isinstance(e, Derive):
            parts.append(f"derives: {e.derive}")
        elif isinstance(e, HoldsBack):
            parts.append(f"holds back {e.holds_back} until {' '.join(e.until.split())}")
    return "; ".join(parts)


# --- terminal text ----------------------------------------------------------------


def print_recommendation(rec: Recommendation, console: Console) -> None:
    """Print one recommendation to a terminal."""
    refs = Refs()
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("Option")
    table.add_column("Status")
    table.add_column("Score", justify="right")
    table.add_column("Reasons (rule ids)")
    for option in rec.options:
        table.add_row(
            option.name,
            Text(option.status.replace("_", " "), style=_STATUS_STYLE[option.status]),
            str(option.score),
            ", ".join(option.reasons) or "-",
        )
    parts: list[object] = [Text(_headline(rec), style="bold"), table]
    for option in rec.options:
        for add_on in option.add_ons:
            parts.append(Text(f"Add-on with {option.name}: {add_on.name} ({add_on.rule})"))
    args = Text()
    for option in rec.options:
        args.append(f"{option.name}: {option.status.replace('_', ' ')}", style="bold")
        args.append(f", score {option.score}\n")
        if option.deferred_until:
            args.append(f"  deferred until {option.deferred_until}\n", style="magenta")
        for product in option.products:
            args.append(f"  product {product_line(product)}", style="cyan")
            held = product_citations(product)
            args.append(f" {refs.cite(held)}\n" if held else "\n", style="dim")
        lines = option_arguments(rec, option)
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
            f"  [{reason.rule}; {what}; {reason.evidence}] {refs.cite(reason.citations)}\n",
            style="dim",
        )
        why.append(f"  {reason.text}\n")
    parts += [Text("The rules behind them", style="bold underline"), why]
    if rec.warnings:
        warn = Text()
        for names, w in grouped_warnings(rec):
            warn.append(f"• {names}: {w.title}", style="yellow")
            warn.append(f"  [{w.rule}] {refs.cite(w.citations)}\n", style="dim")
            warn.append(f"  {w.text}\n")
        parts += [Text("Cautions", style="bold underline"), warn]
    if rec.missing:
        miss = Text()
        for fact in rec.missing:
            miss.append(f"• {fact.field}", style="magenta")
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
            f"{rec.rulebook.digest}\n{rec.notice}",
            style="dim",
        )
    )
    console.print(Panel(Group(*parts), title=Text(f"sequencer: {rec.patient_id}"), expand=False))  # type: ignore[arg-type]


def print_replay(results: list[Replay], console: Console) -> None:
    """Print published cases side by side with the library's answers, then each rationale."""
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
            _today_cell(r),
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
        print_recommendation(r.recommendation, console)


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
                    Text(_effects(rule)),
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
        products = _products(context)
        contexts.add_row(label, context.as_of, products, context.car_t.otherwise)
    console.print(contexts)
