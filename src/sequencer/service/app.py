"""The HTTP service (FastAPI): the plain API over the library, assembled with the CDS
Hooks and FHIR routes.

Bodies are read raw (bounded) and parsed by the library's own parser, so that HTTP
callers get exactly what the command line gets: duplicate keys and malformed JSON are
refused, and every problem comes back with its field path and code in a 422. Nothing a
caller sends is echoed unescaped: JSON out, and the report's HTML escapes every value.

Endpoints: ``POST /recommend`` (a v1 profile; ``?context=``), ``POST /whatif``, ``POST
/report`` (HTML), ``GET /rules`` (the rule base and its contexts), ``GET /about`` (the
transparency document, HTML or JSON), ``GET /health``; the CDS Hooks services
(``service.cds_routes``) and FHIR R4 without CDS Hooks (``service.fhir_routes``); OpenAPI
at ``/openapi.json``.

With an ``AuthConfig``, every call outside ``OPEN`` must carry a CDS Hooks client JWT
(``service.auth``); a missing or failing token is a 401, stored in the audit trail like
every answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from sequencer.api import default_rulebook, recommend
from sequencer.errors import Problem, ProfileError, SequencerError, UnknownContextError
from sequencer.explain.whatif import what_if
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.parsing import code_of
from sequencer.present.report import case_report, html_report
from sequencer.service.audit import AuditLog
from sequencer.service.audit_gate import (
    DEFAULT_AUDIT_TIMEOUT,
    AuditGate,
    AuditUnavailable,
    unavailable,
)
from sequencer.service.auth import AuthConfig, TokenRejected, Verifier
from sequencer.service.cds_routes import add_cds_routes
from sequencer.service.classroom import add_classroom_routes
from sequencer.service.common import (
    MAX_BODY,
    Served,
    problems_response,
    read_body,
    unknown_context_response,
)
from sequencer.service.cors import OriginGate
from sequencer.service.fhir_routes import add_fhir_routes
from sequencer.service.fhirclient import FhirReader
from sequencer.service.guard import SiteGuard
from sequencer.service.openapi import answers, document_contracts, operation
from sequencer.service.page import add_page_routes

__all__ = ["MAX_BODY", "OPEN", "create_app"]

OPEN = ("/health", "/about", "/rules", "/openapi.json", "/reports/")
"""Paths that never need a token: liveness, the transparency page, the rule base, the
API's description, and report links (whose random key is the credential)."""


def create_app(
    rulebook: Rulebook | None = None,
    audit: AuditLog | None = None,
    auth: AuthConfig | None = None,
    reader: FhirReader | None = None,
    public_url: str | None = None,
    prepare: bool = False,
    allow_origins: tuple[str, ...] = (),
    hosts: tuple[str, ...] | None = None,
    audit_timeout: float = DEFAULT_AUDIT_TIMEOUT,
) -> FastAPI:
    """Return the service's application over ``rulebook`` (default: the shipped one).

    Every answer (and every card, feedback and refused call) is stored in ``audit`` when
    one is given; with ``auth``, calls must carry a verified CDS Hooks client JWT;
    ``reader`` reads from the FHIR servers a site allows (default: none);
    ``public_url`` is where clients reach the service (card links; with ``auth``, its
    ``public_url``). With ``prepare``, the transparency document of every context is
    built now (a few seconds: it decides a whole cohort), so that no request waits for it.
    ``allow_origins`` are the browser origins allowed to call across sites (kept in
    ``app.state.allowed_origins``, the one place every use reads them): CORS preflights
    are answered and ``Access-Control-Allow-Origin`` set for them only, never ``*``.
    ``hosts`` are the ``Host`` names served (any other is a 421; ``None``: any, for
    in-process use). Cross-site writes are always refused and every answer carries the
    security headers (``service.guard``); every refusal is counted in one place (the
    ``Served`` refusal counts, shown by ``/health``), never stored with its body.
    Audit work runs off the event loop and waits at most ``audit_timeout`` seconds
    (``service.audit_gate``): an answer that cannot be audited is a 503.
    """
    book = rulebook or default_rulebook()
    if prepare:
        from sequencer.present.about import about_document

        for name in sorted(book.contexts):
            about_document(book, name)
    served = Served(book, audit, AuditGate(audit_timeout))
    base = (auth.public_url if auth is not None else public_url or "").rstrip("/")
    app = FastAPI(
        docs_url=None,  # the interactive pages load scripts from a CDN: off; the
        redoc_url=None,  # OpenAPI document at /openapi.json describes every route
        title="sequencer",
        version=book.version,
        description=(
            f"Cited decision support ({book.title}). {book.notice} Every answer carries the "
            "rule base's version and digest."
        ),
    )
    if auth is not None:
        claim = audit.claim_token if audit is not None else None
        _require_tokens(app, Verifier(auth, claim), served)
    _error_handlers(app, served)
    _plain_routes(app, book, served)
    add_cds_routes(app, book, served, base, audit, reader or FhirReader())
    add_fhir_routes(app, book, served)
    add_page_routes(app, book, served, audit)  # the board's case page and decisions (service.page)
    add_classroom_routes(app, book, served, audit)
    app.state.allowed_origins = tuple(allow_origins)
    app.state.rulebook = book
    if app.state.allowed_origins:  # outside authentication: a preflight never meets it
        app.add_middleware(OriginGate, origins=app.state.allowed_origins)
    app.add_middleware(  # outermost: refusals reach nothing else
        SiteGuard,
        hosts=hosts,
        origins=app.state.allowed_origins,
        public_url=base or None,
        counts=served.refused,
    )
    return app


def _error_handlers(app: FastAPI, served: Served) -> None:
    @app.exception_handler(UnknownContextError)
    async def _unknown_context(_: Request, error: UnknownContextError) -> JSONResponse:
        return unknown_context_response(error)

    @app.exception_handler(ProfileError)
    async def _profile_error(_: Request, error: ProfileError) -> JSONResponse:
        return problems_response(error)

    @app.exception_handler(SequencerError)
    async def _other_error(_: Request, error: SequencerError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"error": str(error)})

    @app.exception_handler(RequestValidationError)
    async def _bad_parameter(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            Problem(
                ".".join(str(part) for part in item.get("loc", ())[1:]),
                str(item.get("msg", "invalid")),
                code_of(str(item.get("type", ""))),
            )
            for item in error.errors()
        ]
        return problems_response(ProfileError(problems), "invalid request")

    @app.exception_handler(Exception)
    async def _defect(request: Request, error: Exception) -> Response:
        reply = JSONResponse(
            status_code=500,
            content={"error": f"internal error ({type(error).__name__}); it has been logged"},
        )
        return served(request, request.url.path.lstrip("/"), b"", reply)


def _require_tokens(app: FastAPI, verifier: Verifier, served: Served) -> None:
    """Every call outside ``OPEN`` must carry a verified CDS Hooks client JWT (else a 401,
    counted, not stored). Verifying records the token id in the audit database (through
    the audit gate, off the event loop), so a token is accepted once across workers."""

    @app.middleware("http")
    async def _authenticate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if path.startswith(OPEN) or request.method == "OPTIONS":
            return await call_next(request)
        try:
            header = request.headers.get("authorization")
            request.state.caller = await served.gate.run(verifier.verify, header, path)
        except AuditUnavailable as error:
            return unavailable(error.reason)
        except TokenRejected as error:
            reply = JSONResponse(
                status_code=401,
                content={"error": f"not authenticated: {error}"},
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
            return served(request, path.lstrip("/"), b"", reply)
        return await call_next(request)


def _plain_routes(app: FastAPI, book: Rulebook, served: Served) -> None:
    """The plain API: health, rules, about, and the three POSTs from one table."""

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness, which rule base answers, and the contexts whose transparency
        document is built (``about_ready``: all of them once ``sequencer serve`` is up)."""
        from sequencer.present.about import about_ready

        return {
            "status": "ok" if served.gate.failure is None else "degraded",
            "rulebook": book.version,
            "digest": book.digest,
            "about_ready": about_ready(book),
            "refused": dict(sorted(served.refused.items())),
            **served.gate.state(),
        }

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

    @app.get(
        "/about",
        response_class=HTMLResponse,
        openapi_extra=answers(None, 404, 422, body=False, html=True),
    )
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
            problem = Problem("format", "html or json", "invalid_value")
            return problems_response(ProfileError([problem]), "invalid query")
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
            _route(endpoint, make, served),
            methods=["POST"],
            summary=doc,
            response_class=response_class,
            openapi_extra=operation(endpoint),
        )
    document_contracts(app)


def _route(
    endpoint: str, make: Callable[[bytes, str | None], Response], served: Served
) -> Callable[..., Awaitable[Response]]:
    """The handler of one POST endpoint: read the body, answer, audit."""

    async def handler(request: Request, context: str | None = None) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            return served(request, endpoint, b"", body, context)
        try:
            reply = make(body, context)
        except ProfileError as error:
            reply = problems_response(error)
        except UnknownContextError as error:
            reply = unknown_context_response(error)
        return served(request, endpoint, body, reply, context)

    handler.__name__ = f"post_{endpoint}"
    return handler
