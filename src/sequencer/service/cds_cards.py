"""CDS Hooks cards: the choice card, the work-up card with draft orders as suggestions,
the order check's cards and the card naming contradictory facts; each with its source,
links, override reasons and the rule base behind it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sequencer.errors import Problem, ProfileError
from sequencer.interop.fhir_in import therapy_ordered
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.recommendation import Recommendation
from sequencer.present.markdown import escape_markdown as _md
from sequencer.present.markdown import markdown_brief
from sequencer.present.phrases import clip_summary
from sequencer.present.templating import problem_words
from sequencer.service.cds_request import CdsRequest

__all__ = [
    "OVERRIDE_SYSTEM",
    "TOPIC",
    "Links",
    "build_card",
    "indicator_of",
    "order_cards",
    "problems_card",
    "source_label",
    "workup_card",
]

OVERRIDE_SYSTEM = "urn:sequencer:cds:override-reason"
"""The code system of the override reasons the cards offer (the rule base's words)."""

TOPIC = {
    "system": "urn:sequencer:cds:topic",
    "code": "cd19-directed-therapy",
    "display": "Choosing a CD19-directed therapy",
}


def source_label(book: Rulebook) -> str:
    """The card source's label: the rule base's name, version and the first twelve hex
    digits of its digest (``sequencer: sequencer-core 0.3.0 (sha256:48ccd3120577)``), so
    a clinician reading the card can tell which rule base answered (the full digest is
    in the card's extension)."""
    return f"sequencer: {book.name} {book.version} ({book.digest[:19]})"


def _source(book: Rulebook, about: str) -> dict[str, Any]:
    return {"label": source_label(book), "url": about, "topic": TOPIC}


def _stamp(book: Rulebook, rec: Recommendation | None) -> dict[str, Any]:
    """The card's extension: the rule base behind it and the choice, for software."""
    stamp: dict[str, Any] = {
        "sequencer.rulebook": {
            "name": book.name,
            "version": book.version,
            "digest": book.digest,
            "context": rec.context.name if rec else book.default_context,
            "format_version": rec.format_version if rec else "1",
        }
    }
    if rec is not None:
        choice: dict[str, Any] = {
            "patient_id": rec.patient_id,
            "preferred": rec.preferred,
            "close_call": rec.close_call,
            "provisional": rec.provisional,
            "provisional_on": list(rec.provisional_on),
            "options": {o.therapy: o.status for o in rec.options},
        }
        # JSON elements shall not be null or empty (CDS Hooks): an absent ``preferred``
        # means none is preferred, an absent ``provisional_on`` nothing it waits for.
        stamp["sequencer.choice"] = {k: v for k, v in choice.items() if v not in (None, [], {})}
    return stamp


def _override_reasons(book: Rulebook) -> list[dict[str, str]]:
    return [
        {"system": OVERRIDE_SYSTEM, "code": code, "display": words}
        for code, words in book.vocabulary.override_reasons.items()
    ]


def indicator_of(rec: Recommendation) -> str:
    """The choice card's indicator: ``warning`` when no option is preferred, the choice is
    provisional or close, or an option is held back; else ``info``."""
    held = any(o.status in ("deferred", "not_eligible") for o in rec.options)
    if rec.preferred is None or rec.provisional or rec.close_call or held:
        return "warning"
    return "info"


def build_card(
    book: Rulebook,
    summary: str,
    detail: str,
    indicator: str,
    links: Links,
    rec: Recommendation | None,
    suggestions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A card with a new uuid, the summary clipped, its source, override reasons, links
    and the rule base's stamp (with ``suggestions``, any of which may be chosen)."""
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": clip_summary(summary),
        "detail": detail,
        "indicator": indicator,
        "source": _source(book, links.about),
        "overrideReasons": _override_reasons(book),
        "links": links.cards(),
        "extension": _stamp(book, rec),
    }
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "any"
    return card


@dataclass(frozen=True)
class Links:
    """Where a card's links lead: the case report of this answer and the about page."""

    report: str | None
    about: str

    def cards(self) -> list[dict[str, str]]:
        out = []
        if self.report:
            out.append({"label": "Case report", "url": self.report, "type": "absolute"})
        out.append({"label": "About this decision support", "url": self.about, "type": "absolute"})
        return out


def workup_card(book: Rulebook, rec: Recommendation, patient: str, links: Links) -> dict[str, Any]:
    """The card for the orderable tests that could change the choice, or ``{}``."""
    suggestions: list[dict[str, Any]] = []
    tests: list[str] = []
    blocking = False
    names = " and ".join(book.option_names.values())
    for fact in rec.missing:
        how = book.vocabulary.establish.get(fact.field)
        if how is None or not how.order or not (fact.could_flip or fact.blocking):
            continue
        label = book.vocabulary.label(fact.field)
        tests.append(how.how)
        blocking = blocking or fact.blocking
        suggestions.append(
            {
                "label": clip_summary(f"Order: {how.how}"),
                "uuid": str(uuid.uuid4()),
                "isRecommended": fact.blocking,
                "actions": [
                    {
                        "type": "create",
                        "description": f"Draft order: {how.how}",
                        "resource": {
                            "resourceType": "ServiceRequest",
                            "status": "draft",
                            "intent": "proposal",
                            "subject": {"reference": f"Patient/{patient}"},
                            "code": {"text": how.how},
                            "reasonCode": [
                                {
                                    "text": f"{label} is not known; it could change the choice "
                                    f"between {names}"
                                }
                            ],
                        },
                    }
                ],
            }
        )
    if not suggestions:
        return {}
    count = len(suggestions)
    summary = (
        f"{count} test{'s' if count > 1 else ''} could change the {book.option_kind} choice: "
        + "; ".join(tests)
    )
    detail = "\n".join(f"- Draft order: {test}" for test in tests)
    return build_card(
        book, summary, detail, "warning" if blocking else "info", links, rec, suggestions
    )


def problems_card(book: Rulebook, problems: list[Problem], links: Links) -> dict[str, Any]:
    """The card that gives no advice and names the record's contradictory facts, each
    by its label in the rule base's vocabulary (never by its field path)."""
    words = [problem_words(p.field, p.message, book.vocabulary) for p in problems]
    labels = list(dict.fromkeys(label for label, _ in words))
    detail = "\n".join(f"- {_md(label)}: {_md(message)}" for label, message in words)
    return build_card(
        book,
        f"No advice: the record's facts contradict each other ({'; '.join(labels)})",
        "The facts read from the record cannot all be true of one patient; correct the "
        f"record and ask again.\n\n{detail}",
        "warning",
        links,
        None,
    )


def _upper_first(text: str) -> str:
    """The text with its first letter upper case (``CAR T`` stays ``CAR T``)."""
    return text[:1].upper() + text[1:]


def _selected_orders(request: CdsRequest) -> list[tuple[str, str]]:
    """(reference, option id) of each selected draft order that orders an option.

    Raises ``ProfileError`` when ``draftOrders`` is not a Bundle of resources."""
    selected = set(request.context.selections or [])
    entries = (request.context.draftOrders or {}).get("entry") or []
    bad = Problem("context.draftOrders", "not a Bundle of FHIR resources", "not_an_object")
    if not isinstance(entries, list):
        raise ProfileError([bad])
    found = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            raise ProfileError([bad])
        ref = f"{resource.get('resourceType')}/{resource.get('id')}"
        if ref not in selected:
            continue
        try:
            ordered = therapy_ordered(resource)
        except (TypeError, AttributeError, KeyError, ValueError):
            raise ProfileError([bad]) from None
        if ordered is not None:
            found.append((ref, ordered))
    return found


def order_cards(
    book: Rulebook, request: CdsRequest, rec: Recommendation, links: Links
) -> list[dict[str, Any]]:
    """A card for each selected draft order of an option: consistent with the rule base,
    not eligible (with a suggestion to remove it), deferred, or not the option preferred.

    Raises ``ProfileError`` when ``draftOrders`` is not a Bundle of resources."""
    cards = []
    standing = {o.therapy: o for o in rec.options}
    words = {o.id: o.in_sentence for o in book.options}
    for ref, ordered in _selected_orders(request):
        if ordered not in standing:
            continue
        option = standing[ordered]
        suggestions = None
        if rec.preferred == ordered:
            summary = f"Consistent with the rule base: {words[ordered]} preferred"
            if rec.provisional:
                summary += " (provisional)"
            indicator = "warning" if rec.provisional or rec.close_call else "info"
        elif option.status == "not_eligible":
            why = next(
                (
                    r.title
                    for r in rec.reasons
                    if r.therapy == ordered and r.effect == "not_eligible"
                ),
                "",
            )
            summary = _upper_first(f"{words[ordered]} is not eligible now: {why}".rstrip(": "))
            indicator = "critical"
            suggestions = [
                {
                    "label": f"Remove the draft {words[ordered]} order",
                    "uuid": str(uuid.uuid4()),
                    "actions": [
                        {
                            "type": "delete",
                            "description": f"Remove the draft {words[ordered]} order",
                            "resourceId": ref,
                        }
                    ],
                }
            ]
        elif option.status == "deferred":
            until = f" until {option.deferred_until}" if option.deferred_until else ""
            summary = _upper_first(f"{words[ordered]} deferred{until}")
            indicator = "warning"
        else:
            preferred = words[rec.preferred] if rec.preferred else "neither option"
            summary = f"The rule base prefers {preferred} to the {words[ordered]} ordered"
            indicator = "warning"
        cards.append(
            build_card(book, summary, markdown_brief(rec, book), indicator, links, rec, suggestions)
        )
    return cards
