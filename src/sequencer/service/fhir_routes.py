"""FHIR R4 over HTTP without CDS Hooks: a Bundle (or a list of resources) mapped to a v1
profile, or answered with a GuidanceResponse. A client that accepts ``application/fhir+json``
gets its errors as an OperationOutcome (an issue per problem: the problem code as
``details``, its path as ``expression``); any other gets the service's plain JSON errors."""

from __future__ import annotations

import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from sequencer.api import recommend
from sequencer.errors import FhirError, Problem, ProfileError, UnknownContextError
from sequencer.interop.fhir_in import FhirMapping, profile_from_fhir
from sequencer.interop.fhir_out import guidance_response
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.parsing import load_json_strict
from sequencer.service.common import (
    MAX_CDS_BODY,
    Served,
    problems_response,
    read_body,
    unknown_context_response,
)
from sequencer.service.openapi import answers

__all__ = ["PROBLEM_SYSTEM", "add_fhir_routes", "operation_outcome"]

PROBLEM_SYSTEM = "urn:sequencer:problem"
"""The code system of the problem codes an OperationOutcome issue carries as ``details``."""

# Problem code -> FHIR R4 issue-type (http://hl7.org/fhir/issue-type); others: invalid.
_ISSUE_TYPE = {
    "missing_field": "required",
    "unknown_field": "structure",
    "wrong_type": "structure",
    "not_an_object": "structure",
    "invalid_value": "value",
    "out_of_range": "value",
    "contradiction": "business-rule",
    "too_large": "too-costly",
}


def operation_outcome(problems: list[Problem]) -> dict[str, Any]:
    """An R4 OperationOutcome with one error issue per problem (no empty elements)."""
    issues = []
    for problem in problems:
        issue: dict[str, Any] = {
            "severity": "error",
            "code": _ISSUE_TYPE.get(problem.code, "invalid"),
            "details": {
                "coding": [{"system": PROBLEM_SYSTEM, "code": problem.code}],
                "text": problem.message,
            },
        }
        if problem.field:
            issue["expression"] = [problem.field]
        issues.append(issue)
    return {"resourceType": "OperationOutcome", "issue": issues}


def _wants_fhir(request: Request) -> bool:
    return "application/fhir+json" in request.headers.get("accept", "").lower()


def _mapped(body: bytes, as_of: str | None) -> FhirMapping:
    """The profile ``body`` maps to; raises ``ProfileError`` with every problem."""
    day = None
    if as_of is not None:
        try:
            day = datetime.date.fromisoformat(as_of)
        except ValueError:
            raise ProfileError(
                [Problem("as_of", "an ISO date (YYYY-MM-DD)", "invalid_value")]
            ) from None
    data = load_json_strict(body)
    if not isinstance(data, dict | list):
        raise ProfileError([Problem("", "a FHIR resource or a list of them", "not_an_object")])
    try:
        return profile_from_fhir(data, as_of=day)
    except FhirError as error:
        raise ProfileError(error.problems) from None


def add_fhir_routes(app: FastAPI, book: Rulebook, served: Served) -> None:
    """Add ``POST /fhir/profile`` and ``POST /fhir/guidance`` to ``app``."""

    async def answer(request: Request, endpoint: str, context: str | None, make: Any) -> Response:
        body = await read_body(request, MAX_CDS_BODY)
        if isinstance(body, Response):
            return served(request, endpoint, b"", body, context)
        try:
            reply: Response = await run_in_threadpool(make, body)
        except ProfileError as error:
            reply = problems_response(error, "FHIR input that cannot be mapped")
            if _wants_fhir(request):
                reply = JSONResponse(
                    operation_outcome(error.problems),
                    status_code=422,
                    media_type="application/fhir+json",
                )
        except UnknownContextError as error:
            reply = unknown_context_response(error)
            if _wants_fhir(request):
                reply = JSONResponse(
                    operation_outcome([Problem("context", str(error), "invalid_value")]),
                    status_code=404,
                    media_type="application/fhir+json",
                )
        return served(request, endpoint, body, reply, context)

    @app.post(
        "/fhir/profile",
        summary="FHIR R4 in: the v1 profile a Bundle maps to, what was found where and "
        "what was not found (422: every problem)",
        openapi_extra=answers(None, 401, 413, 422),
    )
    async def fhir_profile(request: Request, as_of: str | None = None) -> Response:
        def make(body: bytes) -> Response:
            mapping = _mapped(body, as_of)
            return Response(mapping.model_dump_json(), media_type="application/json")

        return await answer(request, "fhir/profile", None, make)

    @app.post(
        "/fhir/guidance",
        summary="FHIR R4 in and out: a Bundle answered with a GuidanceResponse (the options "
        "as a RequestGroup, missing facts as dataRequirement)",
        openapi_extra=answers(None, 401, 404, 413, 422),
    )
    async def fhir_guidance(
        request: Request, as_of: str | None = None, context: str | None = None
    ) -> Response:
        def make(body: bytes) -> Response:
            rec = recommend(_mapped(body, as_of).profile, rulebook=book, context=context)
            now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
            return JSONResponse(
                guidance_response(rec, as_of=now), media_type="application/fhir+json"
            )

        return await answer(request, "fhir/guidance", context, make)
