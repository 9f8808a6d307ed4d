"""One evaluated case as the templates read it: the ranked options with their arguments
and cautions side by side, the missing facts that could flip the choice first, the
what-if changes split into facts the board can establish and facts it cannot change,
the patient's facts by their labels, complete references, and the board's recorded
decision when there is one.

Built once per case by ``case_view(report)``; the case report (``present.report``)
and the board's page (``service.page``) render it with the same templates.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from sequencer.explain.whatif_model import Change, WhatIf
from sequencer.explain.whatif_words import scores_text
from sequencer.knowledge.schema import Source
from sequencer.knowledge.vocabulary import Vocabulary
from sequencer.model.recommendation import Citation, Recommendation
from sequencer.present.chart import bar_chart
from sequencer.present.phrases import (
    PHASE_WORDS,
    ReferencePart,
    grouped_warnings,
    number_references,
    option_arguments,
    option_names,
    plan_heading,
    product_citations,
    product_line,
    reason_effect,
    reference_links,
    review_note,
    standing_words,
    summary_words,
    weight_legend,
    weight_words,
    weights_text,
)
from sequencer.present.whatif_views import KIND_HEADINGS, narrowed, result_words

__all__ = [
    "REFERENCE_ORDER",
    "ArgumentView",
    "CaseView",
    "CautionView",
    "ChangeView",
    "DecisionRecord",
    "MissingView",
    "OptionView",
    "ReferenceView",
    "WhatIfGroup",
    "case_view",
]


NO_IDENTIFIER = (
    "No DOI or PMID is given where none was verified for this rule base; the authors, "
    "title, journal, year, volume and pages identify the source."
)
"""Why a reference carries neither a DOI nor a PMID (the bibliography gives identifiers
only where they were verified)."""


@dataclass(frozen=True)
class DecisionRecord:
    """What the board decided, as recorded: printed on the report and listed."""

    chosen: str
    follows: bool
    reason: str | None
    comment: str | None
    meeting_date: str
    signed_by: str
    recorded_at: str
    rulebook_version: str
    advice: str


@dataclass(frozen=True)
class ArgumentView:
    """One argument on one option: for it, against it, or set aside."""

    side: str
    title: str
    words: str
    rule: str
    cites: list[int]
    set_aside: list[tuple[str, list[int]]]


@dataclass(frozen=True)
class CautionView:
    """A caution beside the option it concerns (``concerns``: the options it names)."""

    title: str
    text: str
    rule: str
    cites: list[int]
    concerns: str
    serious: bool = False


@dataclass(frozen=True)
class OptionView:
    """One ranked option with everything said about it."""

    rank: int
    therapy: str
    name: str
    status: str
    status_words: str
    weight: int
    weight_words: str  # the weight as shown: a dash when not eligible
    deferred_until: str | None
    products: list[tuple[str, list[int], str | None]]
    arguments: list[ArgumentView]
    cautions: list[CautionView]
    add_ons: list[tuple[str, str, list[int]]]


@dataclass(frozen=True)
class MissingView:
    """A missing fact: its label, why it matters, whether it could flip, how to get it."""

    label: str
    text: str
    tag: str
    how: str | None


@dataclass(frozen=True)
class ChangeView:
    """One what-if change. ``key`` is the field's path with ``/`` (the page's JavaScript
    applies it; it is never shown) and ``value`` the new value as JSON."""

    key: str
    value: str
    label: str
    from_text: str
    to_text: str
    also: str
    result: str
    scores: str
    kind: str
    rules: list[tuple[str, bool, str]]
    lead: list[str]
    derived: list[str]


@dataclass(frozen=True)
class WhatIfGroup:
    """The changes of one kind in one part of the what-if list."""

    heading: str
    changes: list[ChangeView]
    hidden: int


@dataclass(frozen=True)
class ReferenceView:
    """A numbered reference, complete: authors, title, where, identifiers or why none."""

    number: int
    key: str
    label: str
    authors: str | None
    title: str | None
    where: str
    links: list[tuple[str, str]]
    note: str | None
    review_ref: str | None


@dataclass(frozen=True)
class CaseView:
    """Everything the templates show of one case."""

    patient_id: str
    summary: str
    close_call: bool
    provisional: bool
    context_name: str
    context_title: str
    as_of: str
    rulebook_name: str
    rulebook_version: str
    rulebook_digest: str
    review: str
    notice: str
    options: list[OptionView]
    shared_cautions: list[CautionView]
    missing: list[MissingView]
    establishable: list[WhatIfGroup]
    fixed: list[WhatIfGroup]
    unchanged: list[str]
    vignette: str
    facts: list[tuple[str, str]]
    unknown: list[str]
    derived: list[tuple[str, list[int]]]
    reasons: list[tuple[str, str, str, str, list[int]]]
    alternatives: list[tuple[str, str, str, list[int]]]
    plan: list[tuple[str, str, str, list[int]]]  # phase in words, text, rule, references
    plan_heading: str
    references: list[ReferenceView]
    chart: Markup
    weights: str
    """The points per strength in words (``weak 1, moderate 2, strong 3``)."""
    legend: str
    no_identifier: str = NO_IDENTIFIER
    decision: DecisionRecord | None = None
    extra: dict[str, str] = field(default_factory=dict)


REFERENCE_ORDER: tuple[ReferencePart, ...] = (
    "arguments",
    "cautions",
    "add_ons_with_products",
    "reasons",
    "alternatives",
    "derived",
    "plan",
)
"""The order the page and the printed report number references in: the options'
arguments and cautions, add-ons and products, then the rest."""


def _where(source: Source) -> str:
    where = f"{source.journal} {source.year}"
    if source.volume:
        where += f";{source.volume}"
        if source.issue:
            where += f"({source.issue})"
        if source.pages:
            where += f":{source.pages}"
    return where


def _reference(
    number: int, citation: Citation, sources: Mapping[str, Source], review: str | None
) -> ReferenceView:
    links = reference_links(citation)
    source = sources.get(citation.key)
    if source is None:  # a citation from outside the bibliography: its label says it all
        return ReferenceView(
            number, citation.key, citation.label, None, None, "", links, None, None
        )
    note = " ".join(source.note.split()) if source.note else None
    # The label carries the note when it has neither authors nor title; with only one
    # of them missing, the note says what the source is.
    shown_note = note if (source.authors is None) != (source.title is None) else None
    ref = f"ref. {source.review_ref} of {review}" if source.review_ref and review else None
    return ReferenceView(
        number,
        citation.key,
        citation.label,
        source.authors,
        source.title,
        _where(source),
        links,
        shown_note,
        ref,
    )


def _change(change: Change, w: WhatIf) -> ChangeView:
    return ChangeView(
        key=change.field.replace(".", "/"),
        value=json.dumps(change.to_value),
        label=change.label,
        from_text=change.from_text,
        to_text=change.to_text,
        also=" / ".join(change.same_as_text),
        result=result_words(change, w).split("; weights ")[0],
        scores=scores_text(change.outcome, w.options),
        kind=change.kind,
        rules=[(s.rule, s.fires, s.effect) for s in change.rules if s.decisive],
        lead=list(change.lead) if change.lead and narrowed(change) else [],
        derived=list(change.derived),
    )


def _merged(views: list[ChangeView]) -> list[ChangeView]:
    """Changes of one field to different values with the same result, as one item."""
    out: list[ChangeView] = []
    for view in views:
        same = next(
            (
                i
                for i, o in enumerate(out)
                if o.key == view.key and o.result == view.result and o.kind == view.kind
            ),
            None,
        )
        if same is None:
            out.append(view)
            continue
        first = out[same]
        others = " / ".join(x for x in (first.also, view.to_text, view.also) if x)
        out[same] = dataclasses.replace(first, also=others, rules=[], lead=[], derived=[])
    return out


def _groups(
    changes: Sequence[Change], w: WhatIf, limit_scores: int | None, merge: bool
) -> list[WhatIfGroup]:
    groups = []
    for kind, heading in KIND_HEADINGS.items():
        items = [c for c in changes if c.kind == kind]
        if not items:
            continue
        limited = limit_scores is not None and kind == "changes_scores"
        shown = items[:limit_scores] if limited else items
        views = [_change(c, w) for c in shown]
        groups.append(
            WhatIfGroup(heading, _merged(views) if merge else views, len(items) - len(shown))
        )
    return groups


def case_view(
    *,
    recommendation: Recommendation,
    whatif: WhatIf,
    vocabulary: Vocabulary,
    facts: Sequence[tuple[str, str, str]],
    unknown: Sequence[str],
    vignette: str,
    colours: Mapping[str, str],
    weights: Mapping[str, int],
    sources: Mapping[str, Source],
    review_label: str | None,
    limit_scores: int | None = None,
    merge: bool = False,
    decision: DecisionRecord | None = None,
) -> CaseView:
    """Return the view of one evaluated case (``facts``: (field, label, value) of the
    known facts; ``unknown``: fields not known; ``weights``: the rule base's points per
    strength); ``limit_scores`` caps the what-if
    changes that move only the weights, per part; ``merge`` shows the changes of one
    field with the same result as one item (for print; the page keeps one per value)."""
    rec, w, voc = recommendation, whatif, vocabulary
    refs = number_references(rec, REFERENCE_ORDER)
    names = option_names(rec)
    cautions: dict[str, list[CautionView]] = {o.therapy: [] for o in rec.options}
    shared: list[CautionView] = []
    for both, warning in grouped_warnings(rec):
        concerned = [t for t in names if names[t] in both.split(" + ")]
        view = CautionView(
            warning.title,
            warning.text,
            warning.rule,
            refs.numbers(warning.citations),
            both,
            warning.severity == "serious",
        )
        if len(concerned) == 1:
            cautions[concerned[0]].append(view)
        else:
            shared.append(view)
    options = []
    for rank_no, option in enumerate(rec.options, start=1):
        arguments = [
            ArgumentView(
                line.side,
                line.argument.title,
                line.words,
                line.argument.rule,
                refs.numbers(line.argument.citations),
                [(s.text, refs.numbers(s.citations)) for s in line.argument.set_aside_by],
            )
            for line in option_arguments(rec, option)
        ]
        products = [
            (
                product_line(p),
                refs.numbers([*product_citations(p), *p.citations]),
                p.safety,
            )
            for p in option.products
        ]
        options.append(
            OptionView(
                rank=rank_no,
                therapy=option.therapy,
                name=option.name,
                status=option.status,
                status_words=standing_words(rec, option),
                weight=option.score,
                weight_words=weight_words(option),
                deferred_until=option.deferred_until,
                products=products,
                arguments=arguments,
                cautions=cautions[option.therapy],
                add_ons=[(a.name, a.text, refs.numbers(a.citations)) for a in option.add_ons],
            )
        )
    order = sorted(rec.missing, key=lambda m: (not m.blocking, not m.could_flip))
    missing = [
        MissingView(
            voc.label(m.field),
            m.text,
            "blocks the choice" if m.blocking else ("could flip" if m.could_flip else ""),
            voc.establish[m.field].how if m.field in voc.establish else None,
        )
        for m in order
    ]
    moving = [c for c in w.changes if c.kind != "no_change"]
    establishable = [c for c in moving if c.field in voc.establish]
    fixed = [c for c in moving if c.field not in voc.establish]
    derived_fields = {d.field for d in rec.context.derived}
    option_name = option_names(rec)
    reasons = [
        (r.title, r.rule, reason_effect(r, option_name), r.evidence, refs.numbers(r.citations))
        for r in rec.reasons
    ]
    alternatives = [
        (a.name, a.target or "", a.text, refs.numbers(a.citations)) for a in rec.alternatives
    ]
    derived = [(d.text, refs.numbers(d.citations)) for d in rec.context.derived]
    plan = [(PHASE_WORDS[s.phase], s.text, s.rule, refs.numbers(s.citations)) for s in rec.plan]
    references = [
        _reference(n, c, sources, review_label) for n, c in enumerate(refs.order.values(), start=1)
    ]
    return CaseView(
        patient_id=rec.patient_id,
        summary=summary_words(rec.summary),
        close_call=rec.close_call,
        provisional=rec.provisional,
        context_name=rec.context.name,
        context_title=rec.context.title,
        as_of=rec.context.as_of,
        rulebook_name=rec.rulebook.name,
        rulebook_version=rec.rulebook.version,
        rulebook_digest=rec.rulebook.digest,
        review=review_note(rec.rulebook),
        notice=rec.notice,
        options=options,
        shared_cautions=shared,
        missing=missing,
        establishable=_groups(establishable, w, limit_scores, merge),
        fixed=_groups(fixed, w, limit_scores, merge),
        unchanged=[
            f"{c.label} (tried: {' / '.join([c.to_text, *c.same_as_text])})"
            for c in w.changes
            if c.kind == "no_change"
        ],
        vignette=vignette,
        facts=[
            (name, value + (" (derived from the context)" if f in derived_fields else ""))
            for f, name, value in facts
        ],
        unknown=[voc.label(f) for f in unknown],
        derived=derived,
        reasons=reasons,
        alternatives=alternatives,
        plan=plan,
        plan_heading=plan_heading(rec),
        references=references,
        chart=Markup(bar_chart(rec, colours)),
        weights=weights_text(weights),
        legend=weight_legend(weights),
        decision=decision,
    )
