"""The plain HTTP API over the library (FastAPI).

Bodies are read raw and parsed by the library's own parser, so that HTTP callers get
exactly what the command line gets: duplicate keys and malformed JSON are refused,
and every problem comes back with its field path in a 422. Nothing a caller sends is
echoed unescaped: JSON out, and the report's HTML escapes every value.

Endpoints: ``POST /recommend`` (a v1 profile; ``?context=``), ``POST /whatif``, ``POST
/report`` (HTML), ``GET /rules`` (the rule base and its contexts), ``GET /health``;
OpenAPI at ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from sequencer.api import default_rulebook, recommend
from sequencer.errors import ProfileError, SequencerError, UnknownContextError
from sequencer.explain.whatif import what_if
from sequencer.knowledge.rulebook import Rulebook
from sequencer.present.report import case_report, html_report
from sequencer.service.audit import AuditLog
from sequencer.service.openapi import document_contracts, operation

__all__ = ["MAX_BODY", "create_app"]

MAX_BODY = 1_000_000
"""The largest request body accepted, in bytes (a profile is a few hundred)."""


def _problems(error: ProfileError) -> JSONResponse:
    return JSONResponse(
        status_code=422,
        content={
            "error": "invalid patient profile",
            "problems": [{"field": p.field, "message": p.message} for p in error.problems],
        },
    )


async def _body(request: Request) -> bytes | JSONResponse:
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse(status_code=413, content={"error": f"body over {MAX_BODY} bytes"})
    return body


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


def create_app(rulebook: Rulebook | None = None, audit: AuditLog | None = None) -> FastAPI:
    """Return the service's application over ``rulebook`` (default: the shipped one);
    every answer to a POST is stored in ``audit`` when one is given."""
    book = rulebook or default_rulebook()

    def served(
        request: Request, endpoint: str, body: bytes, reply: Response, context: str | None
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
                caller=request.client.host if request.client else None,
            )
        return reply

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
                html_report(case_report(body, rulebook=book, context=ctx))
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
            openapi_extra=operation(endpoint),
        )
    document_contracts(app)

    return app
