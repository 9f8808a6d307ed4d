"""CDS Hooks 2.0: the services a CDS client discovers, the cards they answer with, and
the feedback a client sends back.

Two services share the prefetch templates (the patient, the conditions, observations,
medications and the board's questionnaire answers: only what the mapping reads, the
"minimum necessary"):

* ``sequencer-choice`` on ``patient-view``: the ranked choice between the CD19-directed
  options, with a card for the work-up that could change it (draft orders offered as
  suggestions);
* ``sequencer-order-check`` on ``order-select``: when a draft order selected is one of
  the options, whether the rule base agrees, defers it or finds it not eligible.

FHIR data comes from the request's ``prefetch`` or, when a key is absent and the client
gave ``fhirServer``, from that server; when neither gives it, the answer is a 412 naming
the keys. What the record cannot tell stays unknown and is shown as such on the card.

This module answers a call; ``cds_discovery`` describes the services, ``cds_request``
reads the call and its FHIR data, ``cds_cards`` makes the cards and ``cds_feedback``
checks what the client reports back.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sequencer.errors import FhirError, ProfileError
from sequencer.interop.fhir_in import FhirMapping, profile_from_fhir
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.recommendation import Recommendation
from sequencer.present.markdown import markdown_brief
from sequencer.present.phrases import card_summary
from sequencer.service.audit_rows import IssuedCard
from sequencer.service.cds_cards import (
    Links,
    build_card,
    indicator_of,
    order_cards,
    problems_card,
    workup_card,
)
from sequencer.service.cds_discovery import ORDER_CHECK
from sequencer.service.cds_request import CdsRequest, as_of_day, fetch_resources, parse_request

__all__ = ["CdsAnswer", "answer"]


@dataclass(frozen=True)
class CdsAnswer:
    """A service's answer: the response body, the cards as issued (for the audit and
    feedback), the recommendation behind them (``None`` when the record could not be
    used) and the context it was made in."""

    body: dict[str, Any]
    issued: tuple[IssuedCard, ...]
    recommendation: Recommendation | None


def answer(
    service: str,
    body: Any,
    book: Rulebook,
    recommend: Callable[[dict[str, Any]], Recommendation],
    links: Callable[[Recommendation | None], Links],
    reader: Callable[[str, str, str | None], dict[str, Any]],
    today: datetime.date | None = None,
) -> CdsAnswer:
    """Answer one call of ``service`` with its cards.

    ``recommend`` turns a v1 profile into a recommendation; ``links`` gives the card
    links for it; ``reader`` reads from the client's FHIR server. Raises ``ProfileError``
    for a malformed call or unreadable resources (a 422), ``PrefetchMissing`` when the
    FHIR data cannot be had (a 412). Contradictory facts in the record are a card that
    names them, not an error: the clinician must see them.
    """
    request = parse_request(service, body)
    resources = fetch_resources(request, reader)
    try:
        mapped = profile_from_fhir(
            {"prefetch": resources},
            as_of=as_of_day(request) or today,
            patient_id=request.context.patientId,
        )
        rec = recommend(mapped.profile)
    except (FhirError, ProfileError) as error:
        if any(p.code != "contradiction" for p in error.problems):
            raise ProfileError(error.problems) from None
        card = problems_card(book, error.problems, links(None))
        return CdsAnswer(_body(request, [card], None), (_issued(card),), None)
    where = links(rec)
    if service == ORDER_CHECK:
        cards = order_cards(book, request, rec, where)
    else:
        cards = [
            build_card(
                book,
                card_summary(rec, book),
                markdown_brief(rec, book),
                indicator_of(rec),
                where,
                rec,
            )
        ]
        workup = workup_card(book, rec, request.context.patientId, where)
        if workup:
            cards.append(workup)
    return CdsAnswer(_body(request, cards, mapped), tuple(_issued(c) for c in cards), rec)


IGNORED_CONTEXT = "sequencer.ignored_context"
"""The response extension naming the context fields sent that the service did not read
(stored with the answer in the audit trail)."""


RECORD = "sequencer.record"
"""The response extension saying what the record gave: ``found``, each profile value
read with its source (and its code and date when it has them), and ``given``, each
therapy the record shows given whose response it does not say (the field itself stays
unknown until the questionnaire answers it), as ``sequencer fhir`` lists them."""


def _record(mapped: FhirMapping) -> dict[str, Any]:
    """What the record gave, without null or empty elements."""
    said = {
        "found": [f.model_dump(exclude_none=True) for f in mapped.found],
        "given": [f.model_dump(exclude_none=True) for f in mapped.given],
    }
    return {key: value for key, value in said.items() if value}


def _body(
    request: CdsRequest, cards: list[dict[str, Any]], mapped: FhirMapping | None
) -> dict[str, Any]:
    """The response: the cards; what the record gave, when it was read and there is a
    card (an order the service has nothing to say about gets no cards, and nothing else);
    the ignored context fields when there are any (at most 50 names, each at most 100
    characters: a name is the client's text)."""
    body: dict[str, Any] = {"cards": cards}
    extension: dict[str, Any] = {}
    record = _record(mapped) if mapped is not None and cards else {}
    if record:
        extension[RECORD] = record
    ignored = request.context.ignored()
    if ignored:
        extension[IGNORED_CONTEXT] = [name[:100] for name in ignored[:50]]
    if extension:
        body["extension"] = extension
    return body


def _issued(card: Mapping[str, Any]) -> IssuedCard:
    return IssuedCard(
        uuid=card["uuid"],
        summary=card["summary"],
        indicator=card["indicator"],
        suggestions=tuple(s["uuid"] for s in card.get("suggestions", [])),
    )
