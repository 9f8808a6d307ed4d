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
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sequencer.errors import FhirError, Problem, ProfileError
from sequencer.interop.fhir_in import profile_from_fhir, therapy_ordered
from sequencer.interop.questionnaire import QUESTIONNAIRE_URL
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.parsing import problems_from
from sequencer.model.recommendation import Recommendation
from sequencer.present.markdown import escape_markdown as _md
from sequencer.present.markdown import markdown_brief
from sequencer.present.phrases import card_summary, clip_summary
from sequencer.service.audit import IssuedCard
from sequencer.service.fhirclient import FhirFetchError, render_template

__all__ = [
    "AS_OF",
    "CHOICE",
    "ORDER_CHECK",
    "OVERRIDE_SYSTEM",
    "PREFETCH",
    "CdsAnswer",
    "CdsRequest",
    "FeedbackRequest",
    "PrefetchMissing",
    "answer",
    "discovery",
    "feedback_problems",
    "without_token",
]

CHOICE = "sequencer-choice"
ORDER_CHECK = "sequencer-order-check"

OVERRIDE_SYSTEM = "urn:sequencer:cds:override-reason"
"""The code system of the override reasons the cards offer (the rule base's words)."""

TOPIC = {
    "system": "urn:sequencer:cds:topic",
    "code": "cd19-directed-therapy",
    "display": "Choosing a CD19-directed therapy",
}

PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
    "questionnaireResponses": (
        "QuestionnaireResponse?subject={{context.patientId}}&questionnaire=" + QUESTIONNAIRE_URL
    ),
}
"""What each service asks the client to prefetch; every key is needed (an absent key
with no FHIR server is a 412; a key sent as null means the record holds nothing)."""

_HOOKS = {CHOICE: "patient-view", ORDER_CHECK: "order-select"}


def discovery(book: Rulebook) -> dict[str, Any]:
    """The discovery document (``GET /cds-services``)."""
    usage = (
        "For adults with relapsed or refractory B-cell ALL. Needs the prefetched resources "
        "(or fhirServer with an access token) and, for the facts FHIR has no place for, a "
        f"QuestionnaireResponse to {QUESTIONNAIRE_URL}. Decision support, not an order."
    )
    return {
        "services": [
            {
                "hook": "patient-view",
                "id": CHOICE,
                "title": f"{book.option_kind} therapy choice ({book.name} {book.version})",
                "description": (
                    f"Ranks {' and '.join(book.option_names.values())} for this patient, "
                    "with the cited arguments for and against each, the cautions, and the "
                    "unknown facts that could change the choice."
                ),
                "prefetch": dict(PREFETCH),
                "usageRequirements": usage,
            },
            {
                "hook": "order-select",
                "id": ORDER_CHECK,
                "title": f"{book.option_kind} order check ({book.name} {book.version})",
                "description": (
                    f"When {' or '.join(book.option_names.values())} is selected, says "
                    "whether the rule base prefers it, defers it or finds it not eligible."
                ),
                "prefetch": dict(PREFETCH),
                "usageRequirements": usage,
            },
        ]
    }


# --- requests ----------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", frozen=True)

Text = Annotated[str, Field(min_length=1, max_length=500)]


class FhirAuthorization(BaseModel):
    """An access token the client lends for reading its FHIR server."""

    model_config = _STRICT
    access_token: Annotated[str, Field(min_length=1, max_length=8000)]
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None


class HookContext(BaseModel):
    """The hook's context: the user and patient, and for ``order-select`` the orders."""

    model_config = _STRICT
    userId: Text
    patientId: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-.]+$")]
    encounterId: Text | None = None
    selections: list[Text] | None = None
    draftOrders: dict[str, Any] | None = None


class CdsRequest(BaseModel):
    """A CDS Hooks service call (only ``extension`` may be added to the fields the
    specification defines)."""

    model_config = _STRICT
    hook: Literal["patient-view", "order-select"]
    hookInstance: Text
    fhirServer: Annotated[str, Field(pattern=r"^https?://", max_length=2000)] | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: HookContext
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None


class PrefetchMissing(Exception):
    """Required FHIR data was neither prefetched nor readable (answered with a 412)."""

    def __init__(self, keys: list[str], why: str) -> None:
        self.keys = keys
        super().__init__(why)


def _without_secrets(problem: Problem) -> Problem:
    """A problem of the lent FHIR authorization, without the value it quotes (a token)."""
    if not problem.field.startswith("fhirAuthorization"):
        return problem
    return Problem(problem.field, problem.message.split("; got ")[0], problem.code)


def without_token(body: Any) -> Any:
    """The call as it may be stored: the lent access token replaced by ``***``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("fhirAuthorization"), Mapping):
        return body
    lent = dict(body["fhirAuthorization"])
    if "access_token" in lent:
        lent["access_token"] = "***"
    return {**body, "fhirAuthorization": lent}


def parse_request(service: str, body: Any) -> CdsRequest:
    """Return the validated call of ``service``; raises ``ProfileError`` listing every
    problem (with its path) when the body is not a call of that service's hook."""
    if not isinstance(body, Mapping):
        raise ProfileError([Problem("", "a CDS Hooks request is a JSON object", "not_an_object")])
    try:
        request = CdsRequest.model_validate(dict(body))
    except ValidationError as error:
        raise ProfileError([_without_secrets(p) for p in problems_from(error)]) from None
    problems = []
    if request.hook != _HOOKS[service]:
        problems.append(
            Problem("hook", f"{service} answers the {_HOOKS[service]} hook", "invalid_value")
        )
    if request.fhirAuthorization is not None and request.fhirServer is None:
        problems.append(
            Problem("fhirServer", "required when fhirAuthorization is given", "missing_field")
        )
    if request.hook == "order-select":
        for name in ("selections", "draftOrders"):
            if getattr(request.context, name) is None:
                problems.append(
                    Problem(f"context.{name}", "order-select requires it", "missing_field")
                )
    if problems:
        raise ProfileError(problems)
    return request


def _resources(
    request: CdsRequest, reader: Callable[[str, str, str | None], dict[str, Any]]
) -> dict[str, Any]:
    """The FHIR data for the call by prefetch key: prefetched, or read from the client's
    server (a key whose value is null, the record holding nothing, is left out)."""
    found: dict[str, Any] = {}
    absent: list[str] = []
    sent = request.prefetch or {}
    token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
    context = request.context.model_dump()
    for key, template in PREFETCH.items():
        value = sent.get(key, ...)
        failed = isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"
        if value is ... or failed:
            if request.fhirServer is None:
                absent.append(key)
                continue
            try:
                value = reader(request.fhirServer, render_template(template, context), token)
            except FhirFetchError as error:
                raise PrefetchMissing([key], f"{key}: {error}") from None
        if value is not None:
            found[key] = value
    if absent:
        raise PrefetchMissing(
            absent, f"not prefetched and no fhirServer to read them from: {', '.join(absent)}"
        )
    return found


# --- cards -------------------------------------------------------------------------


@dataclass(frozen=True)
class CdsAnswer:
    """A service's answer: the response body, the cards as issued (for the audit and
    feedback), the recommendation behind them (``None`` when the record could not be
    used) and the context it was made in."""

    body: dict[str, Any]
    issued: tuple[IssuedCard, ...]
    recommendation: Recommendation | None


def _source(book: Rulebook, about: str) -> dict[str, Any]:
    return {"label": f"sequencer: {book.name} {book.version}", "url": about, "topic": TOPIC}


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
        stamp["sequencer.choice"] = {
            "patient_id": rec.patient_id,
            "preferred": rec.preferred,
            "close_call": rec.close_call,
            "provisional": rec.provisional,
            "provisional_on": list(rec.provisional_on),
            "options": {o.therapy: o.status for o in rec.options},
        }
    return stamp


def _override_reasons(book: Rulebook) -> list[dict[str, str]]:
    return [
        {"system": OVERRIDE_SYSTEM, "code": code, "display": words}
        for code, words in book.vocabulary.override_reasons.items()
    ]


def _indicator(rec: Recommendation) -> str:
    held = any(o.status in ("deferred", "not_eligible") for o in rec.options)
    if rec.preferred is None or rec.provisional or rec.close_call or held:
        return "warning"
    return "info"


def _card(
    book: Rulebook,
    summary: str,
    detail: str,
    indicator: str,
    links: Links,
    rec: Recommendation | None,
    suggestions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
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


def _workup(book: Rulebook, rec: Recommendation, patient: str, links: Links) -> dict[str, Any]:
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
    return _card(book, summary, detail, "warning" if blocking else "info", links, rec, suggestions)


def _problems_card(book: Rulebook, problems: list[Problem], links: Links) -> dict[str, Any]:
    fields = sorted({p.field or "the record" for p in problems})
    detail = "\n".join(f"- `{p.field or 'record'}`: {_md(p.message)}" for p in problems)
    return _card(
        book,
        f"No advice: the record's facts contradict each other ({', '.join(fields)})",
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


def _order_cards(
    book: Rulebook, request: CdsRequest, rec: Recommendation, links: Links
) -> list[dict[str, Any]]:
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
            _card(book, summary, markdown_brief(rec, book), indicator, links, rec, suggestions)
        )
    return cards


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
    resources = _resources(request, reader)
    try:
        mapped = profile_from_fhir(
            {"prefetch": resources},
            as_of=_as_of(request) or today,
            patient_id=request.context.patientId,
        )
        rec = recommend(mapped.profile)
    except (FhirError, ProfileError) as error:
        if any(p.code != "contradiction" for p in error.problems):
            raise ProfileError(error.problems) from None
        card = _problems_card(book, error.problems, links(None))
        return CdsAnswer({"cards": [card]}, (_issued(card),), None)
    where = links(rec)
    if service == ORDER_CHECK:
        cards = _order_cards(book, request, rec, where)
    else:
        cards = [
            _card(
                book,
                card_summary(rec, book),
                markdown_brief(rec, book),
                _indicator(rec),
                where,
                rec,
            )
        ]
        workup = _workup(book, rec, request.context.patientId, where)
        if workup:
            cards.append(workup)
    return CdsAnswer({"cards": cards}, tuple(_issued(c) for c in cards), rec)


AS_OF = "sequencer.as_of"
"""A request extension naming the day to read the record as of (ISO date), for replaying
a past record (teaching, validation); without it, today."""


def _as_of(request: CdsRequest) -> datetime.date | None:
    """The day the request reads the record as of (its ``sequencer.as_of`` extension)."""
    value = (request.extension or {}).get(AS_OF)
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise ProfileError(
            [Problem(f"extension.{AS_OF}", "an ISO date (YYYY-MM-DD)", "invalid_value")]
        ) from None


def _issued(card: Mapping[str, Any]) -> IssuedCard:
    return IssuedCard(
        uuid=card["uuid"],
        summary=card["summary"],
        indicator=card["indicator"],
        suggestions=tuple(s["uuid"] for s in card.get("suggestions", [])),
    )


# --- feedback ----------------------------------------------------------------------


class Coding(BaseModel):
    """A CDS Hooks Coding."""

    model_config = _STRICT
    system: Text
    code: Text
    display: Text | None = None


class OverrideReason(BaseModel):
    """Why a clinician overrode a card: a reason from the card and/or a comment."""

    model_config = _STRICT
    reason: Coding | None = None
    userComment: Annotated[str, Field(min_length=1, max_length=4000)] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> OverrideReason:
        if self.reason is None and self.userComment is None:
            raise ValueError("give a reason, a comment or both (empty objects are not sent)")
        return self


class AcceptedSuggestion(BaseModel):
    """A suggestion the clinician accepted."""

    model_config = _STRICT
    id: Text


class FeedbackItem(BaseModel):
    """What happened to one card."""

    model_config = _STRICT
    card: Text
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: Text

    @field_validator("outcomeTimestamp")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        try:
            when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if not _RFC3339.match(value) or when is None:
            raise ValueError("an RFC 3339 date and time with its offset (2026-11-29T10:05:31Z)")
        return value

    @model_validator(mode="after")
    def _suggestions_only_when_accepted(self) -> FeedbackItem:
        if self.outcome == "overridden" and self.acceptedSuggestions:
            raise ValueError("an overridden card has no accepted suggestions")
        return self


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


class FeedbackRequest(BaseModel):
    """The body of a feedback call."""

    model_config = _STRICT
    feedback: Annotated[list[FeedbackItem], Field(min_length=1, max_length=100)]


def feedback_problems(
    request: FeedbackRequest,
    service: str,
    issued: Mapping[str, tuple[str, tuple[str, ...]]],
    reasons: Collection[str],
) -> list[Problem]:
    """Every problem of a feedback call against the cards issued (uuid -> service and
    suggestion uuids) and the override reasons offered (``reasons``, codes of
    ``OVERRIDE_SYSTEM``): unknown cards, suggestions not on the card, an acceptance
    without suggestions, a reason of ours the cards do not offer. A client's own reason
    codes (another system) are kept as sent."""
    problems = []
    for i, item in enumerate(request.feedback):
        where = f"feedback[{i}]"
        card = issued.get(item.card)
        if card is None or card[0] != service:
            problems.append(
                Problem(f"{where}.card", f"no card {item.card} of {service}", "invalid_value")
            )
            continue
        if item.outcome == "accepted":
            if not item.acceptedSuggestions:
                problems.append(
                    Problem(
                        f"{where}.acceptedSuggestions",
                        "required for an accepted outcome",
                        "missing_field",
                    )
                )
            for j, accepted in enumerate(item.acceptedSuggestions or []):
                if accepted.id not in card[1]:
                    problems.append(
                        Problem(
                            f"{where}.acceptedSuggestions[{j}].id",
                            "not a suggestion of this card",
                            "invalid_value",
                        )
                    )
        reason = item.overrideReason.reason if item.overrideReason else None
        if reason is not None and reason.system == OVERRIDE_SYSTEM and reason.code not in reasons:
            problems.append(
                Problem(
                    f"{where}.overrideReason.reason.code",
                    "not an override reason the cards offer",
                    "invalid_value",
                )
            )
    return problems
