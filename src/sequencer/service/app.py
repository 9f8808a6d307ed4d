"""The plain HTTP API over the library (FastAPI).

Bodies are read raw and parsed by the library's own parser, so that HTTP callers get
exactly what the command line gets: duplicate keys and malformed JSON are refused,
and every problem comes back with its field path in a 422. Nothing a caller sends is
echoed unescaped: JSON out, and the report's HTML escapes every value.

Endpoints: ``POST /recommend`` (a v1 profile; ``?context=``), ``POST /whatif``, ``POST
/report`` (HTML), ``GET /rules`` (the rule base and its contexts), ``GET /about`` (the
transparency document, HTML or JSON), ``GET /health``;
CDS Hooks at ``GET /cds-services`` (discovery), ``POST /cds-services/{id}`` and ``POST
/cds-services/{id}/feedback``, with the case report behind a card's link at ``GET
/reports/{key}``; OpenAPI at ``/openapi.json``.

With an ``AuthConfig``, every call of a POST endpoint and of ``/cds-services`` must
carry a CDS Hooks client JWT (``service.auth``); a missing or failing token is a 401.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from sequencer.api import default_rulebook, recommend
from sequencer.errors import Problem, ProfileError, SequencerError, UnknownContextError
from sequencer.explain.whatif import what_if
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.parsing import problems_from
from sequencer.model.recommendation import Recommendation
from sequencer.present.report import case_report, html_report
from sequencer.service import cds
from sequencer.service.audit import AuditLog, IssuedCard
from sequencer.service.auth import AuthConfig, TokenRejected, Verifier
from sequencer.service.fhirclient import fetch
from sequencer.service.page import add_page_routes
from sequencer.service.reports import ReportStore

__all__ = ["MAX_BODY", "create_app"]

MAX_BODY = 1_000_000
"""The largest request body accepted, in bytes (a profile is a few hundred)."""

MAX_CDS_BODY = 10_000_000
"""The largest CDS Hooks call accepted, in bytes (prefetched bundles can be large)."""

_OPEN = ("/health", "/about", "/rules", "/openapi.json", "/docs", "/redoc", "/reports/")
"""Paths that never need a token: liveness, the transparency page, the rule base, the
API's description, and report links (whose random key is the credential)."""

_PROFILE_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object", "description": "a v1 patient profile"},
        }
    },
}


def _problems(error: ProfileError, what: str = "invalid patient profile") -> JSONResponse:
    return JSONResponse(
        status_code=422,
        content={"error": what, "problems": [p.as_json() for p in error.problems]},
    )


async def _body(request: Request, limit: int = MAX_BODY) -> bytes | JSONResponse:
    body = await request.body()
    if len(body) > limit:
        return JSONResponse(status_code=413, content={"error": f"body over {limit} bytes"})
    return body


def _json(body: bytes) -> Any:
    """A request body as JSON; raises ``ProfileError`` (``malformed_json``) when it is not."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        raise ProfileError([Problem("", f"not JSON ({error})", "malformed_json")]) from None


def _caller(request: Request) -> str | None:
    """Who called: the verified token's issuer when authenticated, else the address."""
    verified = getattr(request.state, "caller", None)
    if verified is not None:
        return str(verified)
    return request.client.host if request.client else None


Answer = Callable[[Request, str, bytes, "str | None", Callable[[], Response]], Response]


def _route(
    endpoint: str, make: Callable[[bytes, str | None], Response], answer: Answer
) -> Callable[..., Awaitable[Response]]:
    """The handler of one POST endpoint: read the body, answer, audit."""

    async def handler(request: Request, context: str | None = None) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        return answer(request, endpoint, body, context, lambda: make(body, context))

    handler.__name__ = f"post_{endpoint}"
    return handler


def create_app(
    rulebook: Rulebook | None = None,
    audit: AuditLog | None = None,
    auth: AuthConfig | None = None,
    reader: Callable[[str, str, str | None], dict[str, Any]] = fetch,
) -> FastAPI:
    """Return the service's application over ``rulebook`` (default: the shipped one).

    Every answer to a POST (and every card and feedback) is stored in ``audit`` when one
    is given; with ``auth``, calls must carry a verified CDS Hooks client JWT;
    ``reader`` reads from a CDS client's FHIR server (``fhirclient.fetch``).
    """
    book = rulebook or default_rulebook()
    verifier = Verifier(auth) if auth is not None else None
    reports = ReportStore()

    def served(
        request: Request,
        endpoint: str,
        body: bytes,
        reply: Response,
        context: str | None,
        cards: tuple[tuple[str, str, IssuedCard], ...] = (),
    ) -> Response:
        if audit is not None:
            audit.record(
                endpoint=endpoint,
                status=reply.status_code,
                rulebook_version=book.version,
                rulebook_digest=book.digest,
                context=context or book.default_context,
                body=body,
                output=bytes(reply.body).decode("utf-8", "replace"),
                caller=_caller(request),
                cards=cards,
            )
        return reply

    def public_url(request: Request) -> str:
        if auth is not None:
            return auth.public_url.rstrip("/")
        return str(request.base_url).rstrip("/")

    def answer(
        request: Request,
        endpoint: str,
        body: bytes,
        context: str | None,
        make: Callable[[], Response],
    ) -> Response:
        try:
            reply = make()
        except ProfileError as error:
            reply = _problems(error)
        except UnknownContextError as error:
            reply = JSONResponse(
                status_code=404, content={"error": str(error), "known": error.known}
            )
        return served(request, endpoint, body, reply, context)

    app = FastAPI(
        title="sequencer",
        version=book.version,
        description=(
            f"Cited decision support ({book.title}). {book.notice} Every answer carries the "
            "rule base's version and digest."
        ),
    )

    if verifier is not None:
        _require_tokens(app, verifier)

    @app.exception_handler(UnknownContextError)
    async def _unknown_context(_: Request, error: UnknownContextError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"error": str(error), "known": error.known})

    @app.exception_handler(ProfileError)
    async def _profile_error(_: Request, error: ProfileError) -> JSONResponse:
        return _problems(error)

    @app.exception_handler(SequencerError)
    async def _other_error(_: Request, error: SequencerError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"error": str(error)})

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness, and which rule base answers."""
        return {"status": "ok", "rulebook": book.version, "digest": book.digest}

    @app.get("/rules")
    def rules() -> dict[str, Any]:
        """The rule base: its version and digest, every rule, and the contexts."""
        return {
            "name": book.name,
            "version": book.version,
            "digest": book.digest,
            "default_context": book.default_context,
            "contexts": sorted(book.contexts),
            "rules": [
                {
                    "id": r.rule.id,
                    "title": r.rule.title,
                    "consideration": r.consideration,
                    "evidence": r.rule.evidence,
                    "citations": list(r.rule.citations),
                }
                for r in book.rules
                if r.rule.status == "active"
            ],
        }

    @app.get("/about", response_class=HTMLResponse)
    def about(
        request: Request,
        format: str | None = None,
        context: str | None = None,
    ) -> Response:
        """The transparency document (intended use, inputs, evidence, developer, funding,
        dates, validation, limitations: the ONC HTI-1 source attributes) as a
        self-contained HTML page, or as JSON with ``?format=json`` or ``Accept:
        application/json``; ``?context=`` names the regulatory context (404 if unknown)."""
        from sequencer.present.about import about_document
        from sequencer.present.about_views import html_about

        if format not in (None, "html", "json"):
            return JSONResponse(status_code=422, content={"error": "format is html or json"})
        doc = about_document(book, context)
        accept = request.headers.get("accept", "")
        if format == "json" or (format is None and "application/json" in accept):
            return Response(doc.model_dump_json(), media_type="application/json")
        return HTMLResponse(html_about(doc))

    def json_of(model: Any) -> Response:
        return Response(model.model_dump_json(), media_type="application/json")

    makers: dict[str, tuple[str, Callable[[bytes, str | None], Response], type[Response]]] = {
        "recommend": (
            "A v1 profile in, the ranked and cited recommendation out (422: every problem).",
            lambda body, ctx: json_of(recommend(body, rulebook=book, context=ctx)),
            Response,
        ),
        "whatif": (
            "Every single-fact change that would change the recommendation.",
            lambda body, ctx: json_of(what_if(body, rulebook=book, context=ctx)),
            Response,
        ),
        "report": (
            "The one-page case report (self-contained HTML).",
            lambda body, ctx: HTMLResponse(
                html_report(case_report(body, rulebook=book, context=ctx), about_url="/about")
            ),
            HTMLResponse,
        ),
    }
    for endpoint, (doc, make, response_class) in makers.items():
        app.add_api_route(
            f"/{endpoint}",
            _route(endpoint, make, answer),
            methods=["POST"],
            summary=doc,
            response_class=response_class,
            openapi_extra={"requestBody": _PROFILE_BODY},
        )

    _cds_routes(app, book, served, public_url, reports, audit, reader)
    add_page_routes(app, book, audit)  # the board's case page and decisions (service.page)
    return app


def _require_tokens(app: FastAPI, verifier: Verifier) -> None:
    """Every call outside ``_OPEN`` must carry a verified CDS Hooks client JWT (else 401)."""

    @app.middleware("http")
    async def _authenticate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if path.startswith(_OPEN) or request.method == "OPTIONS":
            return await call_next(request)
        try:
            request.state.caller = verifier.verify(request.headers.get("authorization"), path)
        except TokenRejected as error:
            return JSONResponse(
                status_code=401,
                content={"error": f"not authenticated: {error}"},
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return await call_next(request)


def _cds_routes(
    app: FastAPI,
    book: Rulebook,
    served: Callable[..., Response],
    public_url: Callable[[Request], str],
    reports: ReportStore,
    audit: AuditLog | None,
    reader: Callable[[str, str, str | None], dict[str, Any]],
) -> None:
    """The CDS Hooks endpoints and the report links of their cards."""
    services = {s["id"]: s for s in cds.discovery(book)["services"]}

    @app.get("/cds-services", summary="CDS Hooks discovery: the services and their prefetch")
    def discovery() -> dict[str, Any]:
        return cds.discovery(book)

    @app.post(
        "/cds-services/{service_id}",
        summary="A CDS Hooks call: FHIR data in, cards out (412: data missing)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    )
    async def call(request: Request, service_id: str) -> Response:
        body = await _body(request, MAX_CDS_BODY)
        if isinstance(body, Response):
            return body
        if service_id not in services:
            return JSONResponse(
                status_code=404,
                content={"error": f"no CDS service {service_id}", "known": sorted(services)},
            )
        base = public_url(request)
        kept: dict[str, str] = {}

        def links(rec: Recommendation | None) -> cds.Links:
            about = f"{base}/about"
            if rec is None:
                return cds.Links(None, about)
            key = kept.get("key")
            return cds.Links(f"{base}/reports/{key}" if key else None, about)

        def recommend_kept(profile: dict[str, Any]) -> Recommendation:
            rec = recommend(profile, rulebook=book)
            kept["key"] = reports.keep(profile, rec.context.name)
            return rec

        try:
            found = cds.answer(service_id, _json(body), book, recommend_kept, links, reader)
        except ProfileError as error:
            return served(
                request,
                f"cds-services/{service_id}",
                body,
                _problems(error, "invalid CDS Hooks call"),
                None,
            )
        except cds.PrefetchMissing as error:
            reply = JSONResponse(
                status_code=412, content={"error": str(error), "missing": error.keys}
            )
            return served(request, f"cds-services/{service_id}", body, reply, None)
        hook = found.body
        instance = str(_json(body).get("hookInstance"))
        context = found.recommendation.context.name if found.recommendation else None
        return served(
            request,
            f"cds-services/{service_id}",
            body,
            JSONResponse(hook),
            context,
            tuple((service_id, instance, card) for card in found.issued),
        )

    @app.post(
        "/cds-services/{service_id}/feedback",
        summary="CDS Hooks feedback: cards accepted or overridden, with reasons",
    )
    async def feedback(request: Request, service_id: str) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        if service_id not in services:
            return JSONResponse(status_code=404, content={"error": f"no CDS service {service_id}"})
        if audit is None:
            return JSONResponse(status_code=503, content={"error": "no audit database"})
        try:
            parsed = cds.FeedbackRequest.model_validate(_json(body))
        except ProfileError as error:
            return _problems(error, "invalid feedback")
        except ValidationError as error:
            return _problems(ProfileError(problems_from(error)), "invalid feedback")
        cards = audit.cards(item.card for item in parsed.feedback)
        issued = {uuid: (c.service, c.suggestions) for uuid, c in cards.items()}
        problems = cds.feedback_problems(
            parsed, service_id, issued, book.vocabulary.override_reasons
        )
        if problems:
            return _problems(ProfileError(problems), "invalid feedback")
        stored = audit.record_feedback(
            service_id,
            [item.model_dump(exclude_none=True) for item in parsed.feedback],
            _caller(request),
        )
        return JSONResponse({"stored": stored})

    @app.get("/reports/{key}", response_class=HTMLResponse, summary="A card's case report")
    def report(key: str) -> Response:
        kept = reports.get(key)
        if kept is None:
            return JSONResponse(
                status_code=404, content={"error": "no such report (links last an hour)"}
            )
        return HTMLResponse(
            html_report(case_report(kept.profile, rulebook=book, context=kept.context))
        )
