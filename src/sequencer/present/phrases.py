"""Words every view shares: numbered references, an option's arguments, products,
reasons and cautions in words, and the replay's today column."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sequencer.explain.published import Replay
from sequencer.knowledge.contexts import Context
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.vocabulary import lower_label
from sequencer.model.recommendation import (
    Argument,
    Caution,
    Citation,
    Option,
    ProductStanding,
    Reason,
    Recommendation,
    RulebookStamp,
)

__all__ = [
    "STATUS_WORDS",
    "SUMMARY_LIMIT",
    "ArgumentLine",
    "ReferencePart",
    "Refs",
    "ages_text",
    "card_summary",
    "clip_summary",
    "context_products",
    "grouped_warnings",
    "html_text",
    "number_references",
    "option_arguments",
    "option_names",
    "option_scores",
    "product_citations",
    "product_line",
    "reason_effect",
    "reference_links",
    "review_note",
    "summary_words",
    "today_cell",
    "weight_legend",
    "weights_text",
    "why_today",
]


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


ReferencePart = Literal[
    "arguments",
    "cautions",
    "add_ons",
    "add_ons_with_products",
    "reasons",
    "alternatives",
    "derived",
    "plan",
]
"""A part of a recommendation whose citations a view numbers: the options' arguments
(with what set them aside), the cautions, each option's add-ons (and, with products,
then its products), the fired rules, the outside therapies, the context's derivations,
the plan around the choice."""


def number_references(rec: Recommendation, parts: Sequence[ReferencePart]) -> Refs:
    """Return the references of ``rec`` numbered in order of first use, its parts read
    in the order of ``parts`` (the order the view shows them)."""
    refs = Refs()
    for part in parts:
        for citations in _part_citations(rec, part):
            refs.numbers(citations)
    return refs


def _part_citations(rec: Recommendation, part: ReferencePart) -> Iterator[Sequence[Citation]]:
    if part == "arguments":
        for option in rec.options:
            for line in option_arguments(rec, option):
                yield line.argument.citations
                for s in line.argument.set_aside_by:
                    yield s.citations
    elif part == "cautions":
        yield from (warning.citations for warning in rec.warnings)
    elif part in ("add_ons", "add_ons_with_products"):
        for option in rec.options:
            yield from (add_on.citations for add_on in option.add_ons)
            if part == "add_ons_with_products":
                for product in option.products:
                    yield product_citations(product)
                    yield product.citations
    elif part == "reasons":
        yield from (reason.citations for reason in rec.reasons)
    elif part == "alternatives":
        yield from (alt.citations for alt in rec.alternatives)
    elif part == "plan":
        yield from (step.citations for step in rec.plan)
    else:
        yield from (derived.citations for derived in rec.context.derived)


def reference_links(citation: Citation) -> list[tuple[str, str]]:
    """The reference's links as (text, address): its DOI, then its PubMed record."""
    links = []
    if citation.doi:
        links.append((f"doi:{citation.doi}", f"https://doi.org/{citation.doi}"))
    if citation.pmid:
        links.append((f"PMID {citation.pmid}", f"https://pubmed.ncbi.nlm.nih.gov/{citation.pmid}/"))
    return links


@dataclass(frozen=True)
class ArgumentLine:
    """One argument as it stands on one option: for it, against it, or set aside."""

    side: str  # "for", "against" or "set aside"
    argument: Argument
    words: str  # strength and where its points go, in words


def option_arguments(
    rec: Recommendation, option: Option, show_rules: bool = True
) -> list[ArgumentLine]:
    """Return the option's arguments for, against and set aside, in that order (what
    set one aside named by its title, and its rule id with ``show_rules``).

    Every view (text, Markdown, HTML report) shows these the same way: a weakness of an
    option is listed on it whether or not the other option can be given.
    """
    by_id = {a.id: a for a in rec.arguments}
    names = option_names(rec)
    closed = {o.therapy for o in rec.options if o.status == "not_eligible"}

    def weight(a: Argument) -> str:
        # points toward an option that is not eligible would read as support for it
        if a.favors in closed:
            return f"{a.strength}, no weight: {names[a.favors]} not eligible"
        return f"{a.strength}, +{a.weight} to {names[a.favors]}"

    lines = []
    for argument_id in option.arguments_for:
        a = by_id[argument_id]
        lines.append(ArgumentLine("for", a, weight(a)))
    for argument_id in option.arguments_against:
        a = by_id[argument_id]
        if a.status == "counted":
            words = weight(a)
        else:  # its other side's therapy failed: no weight, but the weakness stands
            words = f"no weight, as {names[a.favors]} has failed; the weakness stands"
        lines.append(ArgumentLine("against", a, words))
    for argument_id in option.set_aside:
        a = by_id[argument_id]
        by = "; ".join(f"{s.title} ({s.rule})" if show_rules else s.title for s in a.set_aside_by)
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


def grouped_warnings(rec: Recommendation) -> list[tuple[str, Caution]]:
    """Return each cautioning rule once, with the options it concerns (``A + B``),
    serious cautions first (otherwise in the recommendation's order)."""
    by_rule: dict[str, tuple[list[str], Caution]] = {}
    option = option_names(rec)
    for warning in rec.warnings:
        names, _ = by_rule.setdefault(warning.rule, ([], warning))
        names.append(option[warning.therapy])
    grouped = [(" + ".join(names), first) for names, first in by_rule.values()]
    return sorted(grouped, key=lambda item: item[1].severity != "serious")


def option_scores(rec: Recommendation, book: Rulebook) -> str:
    """``Blinatumomab 1, CAR T 2``: each option's weight of arguments, in the rule base's
    order; an option that cannot be given now shows its standing instead
    (``CAR T not eligible``), since its arguments decide nothing."""
    by_id = {o.therapy: o for o in rec.options}

    def cell(option_id: str) -> str:
        option = by_id[option_id]
        if option.status in ("not_eligible", "deferred"):
            return f"{book.option_short[option_id]} {STATUS_WORDS[option.status]}"
        return f"{book.option_short[option_id]} {option.score}"

    return ", ".join(cell(x) for x in book.option_ids)


def today_cell(r: Replay) -> str:
    """Today's choice (a close call said so), its options' weights, whether anything
    moved, and what moved: standings and the arguments counted in one era only."""
    book = r.rulebook
    same_choice = r.today_choice == r.choice
    same = same_choice and option_scores(r.today, book) == option_scores(r.recommendation, book)
    if same:
        mark = "unchanged"
    elif same_choice:
        mark = "same choice, the weights moved"
    else:
        mark = "choice changed"
    close = ", close call" if r.today.close_call else ""
    why = "" if same else why_today(r)
    return f"{r.name(r.today_choice)}{close} ({option_scores(r.today, book)}; {mark}){why}"


def why_today(r: Replay) -> str:
    """What differs between the published era's recommendation and today's: the
    standings that changed, and the arguments counted in one era and not the other
    (empty when nothing did)."""
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


def context_products(context: Context) -> str:
    """The context's approved CAR T-cell products with their label ages."""
    return "; ".join(
        f"{p.name} ({ages_text(p.min_age, p.max_age)})" for p in context.product_access.products
    )


def ages_text(low: int, high: int | None) -> str:
    if high is None:
        return f"{low} and over" if low else "any age"
    return f"up to {high}" if not low else f"{low}-{high}"


STATUS_WORDS: dict[str, str] = {
    "preferred": "preferred",
    "alternative": "alternative",
    "deferred": "deferred (not now)",
    "not_eligible": "not eligible",
}
"""An option's status in words."""


PHASE_WORDS: dict[str, str] = {
    "bridge": "Bridging",
    "definitive": "Definitive therapy",
    "consolidation": "Consolidation",
}
"""A plan step's phase in words."""


def plan_heading(rec: Recommendation) -> str:
    """Return the heading of the plan section: ``The plan around NAME``."""
    names = option_names(rec)
    chosen = names.get(rec.preferred or "", "the choice")
    return f"The plan around {chosen}"


def only_option(rec: Recommendation) -> bool:
    """Return whether the preferred option is only what is left: every other option is
    deferred, not eligible or has failed, so it was not preferred over anything."""
    if rec.preferred is None:
        return False
    return all(
        o.status in ("deferred", "not_eligible") or o.failed
        for o in rec.options
        if o.therapy != rec.preferred
    )


def standing_words(rec: Recommendation, option: Option) -> str:
    """Return ``option``'s status in words, ``only option now`` for a preferred option
    that is only what is left (its status value stays ``preferred``)."""
    if option.status == "preferred" and only_option(rec):
        return "only option now"
    return STATUS_WORDS[option.status]


def status_label(rec: Recommendation, option: Option) -> str:
    """Return ``option``'s status value in plain words (``not eligible``), ``only option
    now`` for a preferred option that is only what is left."""
    if option.status == "preferred" and only_option(rec):
        return "only option now"
    return option.status.replace("_", " ")


def weight_clause(option: Option) -> str:
    """Return ``, weight of arguments N`` to follow an option's standing, nothing for an
    option that is not eligible (a number there would read as support)."""
    return "" if option.status == "not_eligible" else f", weight of arguments {option.score}"


def weight_words(option: Option) -> str:
    """Return ``option``'s weight of arguments as shown: the number, or a dash for an
    option that is not eligible (its arguments decide nothing, and a number would read
    as support)."""
    return "\u2014" if option.status == "not_eligible" else str(option.score)


def html_text(text: object) -> str:
    """``text`` escaped for HTML (quotes too): nothing a user typed reaches a page raw."""
    return html.escape(str(text), quote=True)


def review_note(stamp: RulebookStamp) -> str:
    """The clinical sign-off behind a recommendation, in one sentence: the rule base's
    own review, and the rules that fired without a current sign-off."""
    parts = [f"Clinical sign-off: the rule base was {stamp.rule_base_review}"]
    if stamp.stale_rules:
        parts.append(f"past review here: {', '.join(stamp.stale_rules)}")
    if stamp.unsigned_rules:
        n = len(stamp.unsigned_rules)
        rules = "1 rule that fired here has" if n == 1 else f"{n} rules that fired here have"
        parts.append(f"{rules} no recorded sign-off")
    return "; ".join(parts) + "."


SUMMARY_LIMIT = 139
"""The longest one-line summary a decision-support card may carry (CDS Hooks: under 140
characters)."""


def card_summary(rec: Recommendation, book: Rulebook) -> str:
    """The choice in one line of at most ``SUMMARY_LIMIT`` characters, for a card.

    ``Prefer blinatumomab over CAR T cells``; ``Close call, leaning to ...``; a deferred or
    excluded option is named; a provisional choice says how many unknown facts could
    change it; with nothing preferred, what is needed first or that neither can be given.
    """
    words = {o.id: o.in_sentence for o in book.options}
    standing = {o.therapy: o.status for o in rec.options}
    if rec.preferred is None:
        blocking = [m for m in rec.missing if m.blocking]
        if blocking:
            first = lower_label(book.vocabulary.label(blocking[0].field))
            line = f"No choice yet: establish {first} first"
        elif all(s == "not_eligible" for s in standing.values()):
            line = f"Neither {book.option_kind} option can be given now; see the alternatives"
        else:
            line = "No preference between " + " and ".join(words[t] for t in standing)
    else:
        others = [t for t in standing if t != rec.preferred]
        lead = "Close call, leaning to" if rec.close_call else "Prefer"
        line = f"{lead} {words[rec.preferred]}"
        if only_option(rec):
            line = f"{words[rec.preferred]} is the only option now"
        held = [t for t in others if standing[t] in ("deferred", "not_eligible")]
        open_ = [t for t in others if t not in held]
        if open_ and not rec.close_call and not only_option(rec):
            line += " over " + " and ".join(words[t] for t in open_)
        for t in held:
            state = "deferred" if standing[t] == "deferred" else "not eligible"
            line += f"; {words[t]} {state}"
        if rec.provisional:
            count = len(rec.provisional_on)
            line += (
                f" (provisional: {count} unknown fact{'s' if count != 1 else ''} could change it)"
            )
    line = line[:1].upper() + line[1:]
    return clip_summary(line)


def clip_summary(text: str) -> str:
    """``text`` cut to at most ``SUMMARY_LIMIT`` characters, an ellipsis marking a cut."""
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1].rstrip() + "\u2026"


def weights_text(weights: Mapping[str, int]) -> str:
    """Return the points per strength in words, lightest first (``weak 1, moderate 2,
    strong 3`` with the shipped scoring)."""
    return ", ".join(f"{s} {w}" for s, w in sorted(weights.items(), key=lambda item: item[1]))


def weight_legend(weights: Mapping[str, int]) -> str:
    """Return the one-line legend beside every weight shown, with the rule base's
    points per strength (``weights``; none given, none named)."""
    points = f" ({weights_text(weights)})" if weights else ""
    return (
        f"Weight of arguments: points of the arguments counted for an option{points}, "
        "how much the rules argue for it, not its expected benefit."
    )


_SCORE_WORDS = (
    (re.compile(r"\bscore (\d+) vs (\d+)"), r"weight of arguments \1 vs \2"),
    (re.compile(r"\(score (\d+)\)"), r"(weight of arguments \1)"),
    (re.compile(r"\boptions score (\d+)"), r"options weigh \1"),
)


def summary_words(summary: str) -> str:
    """The recommendation's summary as the board reads it: its points called the weight
    of arguments (they are not expected benefit); the summary in the JSON output is
    unchanged."""
    for pattern, words in _SCORE_WORDS:
        summary = pattern.sub(words, summary)
    return summary
