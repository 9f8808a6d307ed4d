"""The CDS Hooks endpoints (discovery, service calls, feedback) and the case reports
behind the cards' links.

A service call runs in a worker thread (``run_in_threadpool``): reading a client's FHIR
server may take seconds, and the service keeps answering others meanwhile.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from sequencer.api import recommend
from sequencer.errors import ProfileError
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.parsing import load_json_strict, problems_from
from sequencer.model.recommendation import Recommendation
from sequencer.present.report import case_report, html_report
from sequencer.service import cds, cds_cards, cds_discovery, cds_feedback, cds_request
from sequencer.service.audit import AuditLog
from sequencer.service.audit_gate import AuditUnavailable, unavailable
from sequencer.service.common import (
    MAX_BODY,
    MAX_CDS_BODY,
    Served,
    caller_of,
    problems_response,
    read_body,
)
from sequencer.service.fhirclient import FhirReader
from sequencer.service.openapi import answers
from sequencer.service.reports import ReportStore

__all__ = ["add_cds_routes"]


def add_cds_routes(
    app: FastAPI,
    book: Rulebook,
    served: Served,
    base: str,
    audit: AuditLog | None,
    reader: FhirReader,
) -> None:
    """Add ``GET /cds-services``, ``POST /cds-services/{id}``, ``POST
    /cds-services/{id}/feedback`` and ``GET /reports/{key}`` to ``app``; card links
    start with ``base`` (the request's own address when empty)."""
    services = {s["id"]: s for s in cds_discovery.discovery(book)["services"]}
    reports = ReportStore()

    def unknown(service_id: str) -> JSONResponse:
        return JSONResponse(
            status_code=404,
            content={"error": f"no CDS service {service_id}", "known": sorted(services)},
        )

    @app.get("/cds-services", summary="CDS Hooks discovery: the services and their prefetch")
    def discovery() -> dict[str, Any]:
        return cds_discovery.discovery(book)

    def answer(service_id: str, call: Any, url: str) -> cds.CdsAnswer:
        kept: dict[str, str] = {}

        def links(rec: Recommendation | None) -> cds_cards.Links:
            about = f"{url}/about"
            key = kept.get("key") if rec is not None else None
            return cds_cards.Links(f"{url}/reports/{key}" if key else None, about)

        def recommend_kept(profile: dict[str, Any]) -> Recommendation:
            rec = recommend(profile, rulebook=book)
            kept["key"] = reports.keep(profile, rec.context.name)
            return rec

        return cds.answer(service_id, call, book, recommend_kept, links, reader.for_call())

    @app.post(
        "/cds-services/{service_id}",
        summary="A CDS Hooks call: FHIR data in, cards out (412: data missing)",
        openapi_extra=answers("Cards", 401, 404, 412, 413, 422),
    )
    async def call(request: Request, service_id: str) -> Response:
        endpoint = f"cds-services/{service_id}"
        body = await read_body(request, MAX_CDS_BODY)
        if isinstance(body, Response):
            return served(request, endpoint, b"", body)
        if service_id not in services:
            return served(request, endpoint, body, unknown(service_id))
        url = base or str(request.base_url).rstrip("/")
        try:
            data = load_json_strict(body)
            kept = json.dumps(cds_request.without_token(data)).encode()
            found = await run_in_threadpool(answer, service_id, data, url)
        except ProfileError as error:
            reply = problems_response(error, "invalid CDS Hooks call")
            return served(request, endpoint, body, reply, kept=b"")
        except cds_request.PrefetchMissing as error:
            reply = JSONResponse(
                status_code=412, content={"error": str(error), "missing": error.keys}
            )
            return served(request, endpoint, body, reply, kept=kept)
        context = found.recommendation.context.name if found.recommendation else None
        instance = str(data.get("hookInstance"))
        return served(
            request,
            endpoint,
            body,
            JSONResponse(found.body),
            context,
            tuple((service_id, instance, card) for card in found.issued),
            kept=kept,
        )

    @app.post(
        "/cds-services/{service_id}/feedback",
        summary="CDS Hooks feedback: cards accepted or overridden, with reasons",
        openapi_extra=answers("Stored", 401, 404, 413, 422, 503),
    )
    async def feedback(request: Request, service_id: str) -> Response:
        endpoint = f"cds-services/{service_id}/feedback"
        body = await read_body(request, MAX_BODY)
        if isinstance(body, Response):
            return served(request, endpoint, b"", body)
        if service_id not in services:
            return served(request, endpoint, body, unknown(service_id))
        if audit is None:
            return JSONResponse(status_code=503, content={"error": "no audit database"})
        try:
            parsed = cds_feedback.FeedbackRequest.model_validate(load_json_strict(body))
            wanted = [item.card for item in parsed.feedback]
            cards = await served.gate.read(audit.cards, wanted)
            issued = {uuid: (c.service, c.suggestions) for uuid, c in cards.items()}
            problems = cds_feedback.feedback_problems(
                parsed, service_id, issued, book.vocabulary.override_reasons
            )
            if problems:
                raise ProfileError(problems)
        except ValidationError as error:
            reply = problems_response(ProfileError(problems_from(error)), "invalid feedback")
            return served(request, endpoint, body, reply)
        except ProfileError as error:
            return served(request, endpoint, body, problems_response(error, "invalid feedback"))
        except AuditUnavailable as error:
            return unavailable(error.reason)
        try:
            stored = await served.gate.run(
                audit.record_feedback,
                service_id,
                [item.model_dump(exclude_none=True) for item in parsed.feedback],
                caller_of(request),
            )
        except AuditUnavailable as error:
            return unavailable(error.reason)
        return JSONResponse({"stored": stored})

    @app.get(
        "/reports/{key}",
        response_class=HTMLResponse,
        summary="A card's case report",
        openapi_extra=answers(None, 404, body=False, html=True, plain_404=True),
    )
    def report(key: str) -> Response:
        kept = reports.get(key)
        if kept is None:
            return JSONResponse(
                status_code=404, content={"error": "no such report (links last an hour)"}
            )
        return HTMLResponse(
            html_report(
                case_report(kept.profile, rulebook=book, context=kept.context),
                about_url="/about",
            )
        )
