"""What the service's OpenAPI document says about the POST endpoints: their request
body is the v1 profile's JSON Schema and their answers are documented with the shapes
the service actually sends.

The handlers read raw bodies (the library's own parser answers, as on the command
line), so FastAPI cannot infer these: without them the document promised any JSON
object and a FastAPI validation error, neither of which is true. The profile and the
recommendation are the shipped contracts (``sequencer.model.schemas``, the files in
``sequencer/schemas/``); their ``$defs`` become ``components/schemas`` so that a client
generator, or a fuzzer, sees the real shapes.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from sequencer.errors import PROBLEM_CODES
from sequencer.explain.whatif_model import WhatIf
from sequencer.model.schemas import schema

__all__ = ["answers", "document_contracts", "operation"]

_REF = "#/components/schemas/"

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}


def _error_with_names(description: str, key: str) -> dict[str, Any]:
    """An error answer that lists names under ``key`` (the known ones, the missing ones)."""
    return {
        "description": description,
        "type": "object",
        "additionalProperties": False,
        "required": ["error", key],
        "properties": {
            "error": {"type": "string"},
            key: {"type": "array", "items": {"type": "string"}},
        },
    }


_COMPONENTS_OF_OURS: dict[str, dict[str, Any]] = {
    "ProfileProblems": {
        "description": "The profile was refused: every problem with its field path ('' for "
        "the profile as a whole).",
        "type": "object",
        "additionalProperties": False,
        "required": ["error", "problems"],
        "properties": {
            "error": {"type": "string"},
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["field", "code", "message"],
                    "properties": {
                        "field": {"type": "string"},
                        "code": {"type": "string", "enum": sorted(PROBLEM_CODES)},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    },
    "UnknownContext": _error_with_names(
        "No regulatory context has this name; the known ones are listed.", "known"
    ),
    "UnknownName": _error_with_names(
        "The path names nothing the service has; the known names are listed.", "known"
    ),
    "MissingData": _error_with_names(
        "CDS Hooks 412: FHIR data neither prefetched nor readable; the prefetch keys are listed.",
        "missing",
    ),
    "Cards": {
        "description": "A CDS Hooks answer: the cards (see the README for their fields).",
        "type": "object",
        "required": ["cards"],
        "properties": {"cards": {"type": "array", "items": {"type": "object"}}},
    },
    "Stored": {
        "description": "How many feedback items were stored.",
        "type": "object",
        "additionalProperties": False,
        "required": ["stored"],
        "properties": {"stored": {"type": "integer", "minimum": 1}},
    },
    "Error": {**_ERROR, "description": "Another refusal, said in one sentence."},
    "SiteRefusal": {
        "description": "Refused before any route (service.guard): a write from another "
        "site or not in JSON (403), or a Host the service does not answer for (421).",
        "type": "object",
        "required": ["error", "code", "problems"],
        "properties": {
            "error": {"type": "string"},
            "code": {"enum": ["cross_site_refused", "not_json", "host_not_served"]},
            "problems": {"type": "array", "items": {"type": "object"}},
        },
    },
}


def _hoisted(name: str, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``body`` and its ``$defs`` as component schemas, references rewritten to point
    at the components; ``$schema`` and ``$id`` are dropped (an ``$id`` inside the
    document would change what its references resolve against)."""
    text = json.dumps(body).replace('"#/$defs/', f'"{_REF}')
    moved: dict[str, Any] = json.loads(text)
    out: dict[str, dict[str, Any]] = moved.pop("$defs", {})
    for key in ("$schema", "$id"):
        moved.pop(key, None)
    out[name] = moved
    return out


def _components() -> dict[str, dict[str, Any]]:
    """Every component schema the POST endpoints refer to.

    Raises ``ValueError`` when two sources define one name differently."""
    out: dict[str, dict[str, Any]] = {}
    parts = [
        _hoisted("PatientProfile", schema("profile")),
        _hoisted("Recommendation", schema("recommendation")),
        _hoisted("WhatIf", WhatIf.model_json_schema(mode="serialization")),
        _COMPONENTS_OF_OURS,
    ]
    for part in parts:
        for name, body in part.items():
            if out.setdefault(name, body) != body:
                raise ValueError(f"two different schemas are named {name} in the OpenAPI")
    return out


def _json(name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF + name}}},
    }


_ANSWERS = {
    "recommend": _json("Recommendation", "The ranked, cited recommendation."),
    "whatif": _json("WhatIf", "Every single-fact change that would change the recommendation."),
    "report": {
        "description": "The one-page case report: self-contained HTML, every value escaped.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    },
}


def operation(endpoint: str) -> dict[str, Any]:
    """The OpenAPI operation fields of ``POST /endpoint`` (``recommend``, ``whatif`` or
    ``report``) that FastAPI cannot infer: the profile as request body and every answer
    the service gives. Raises ``KeyError`` for another endpoint."""
    return {
        "requestBody": {
            "required": True,
            "description": "A v1 patient profile (null means unknown).",
            "content": {"application/json": {"schema": {"$ref": _REF + "PatientProfile"}}},
        },
        "responses": {
            "200": _ANSWERS[endpoint],
            "400": _json("Error", "A request the library refuses for another reason."),
            "404": _json("UnknownContext", "`context` names no regulatory context."),
            "413": _json("Error", "The body is over the size limit."),
            "422": _json("ProfileProblems", "The profile was refused: every problem."),
        },
    }


_REFUSALS = {
    400: ("Error", "A request refused for another reason."),
    401: ("Error", "No token, or one that does not verify (when authentication is on)."),
    404: ("UnknownName", "The path or `context` names nothing known; the known names."),
    412: ("MissingData", "FHIR data neither prefetched nor readable from fhirServer."),
    413: ("Error", "The body is over the size limit."),
    422: ("ProfileProblems", "Refused: every problem with its path and code."),
    503: ("Error", "The service has no audit database to store it in."),
}


def answers(
    ok: str | None,
    *statuses: int,
    body: bool = True,
    html: bool = False,
    plain_404: bool = False,
) -> dict[str, Any]:
    """OpenAPI operation fields for a route FastAPI cannot describe: its 200 (the named
    component ``ok``; HTML when ``html``), its refusals (``statuses``: 404 names
    ``UnknownName``, 412 ``MissingData``, 422 ``ProfileProblems``, others ``Error``) and,
    when ``body``, a JSON object as request body; ``plain_404`` documents a 404 without
    the known names."""
    responses: dict[str, Any] = {}
    if html:
        responses["200"] = {
            "description": "HTML",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    elif ok is not None:
        responses["200"] = _json(ok, "The answer.")
    for status in statuses:
        name, description = _REFUSALS[status]
        if status == 404 and plain_404:
            name, description = "Error", "Not found (or no longer kept)."
        responses[str(status)] = _json(name, description)
    out: dict[str, Any] = {"responses": responses}
    if body:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return out


_GUARDED = {
    "421": _json("SiteRefusal", "The Host names no address this service answers for."),
}
_GUARDED_WRITES = {
    "403": _json("SiteRefusal", "A write from another site, or a body that is not JSON."),
}


def document_contracts(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document carry the component schemas that :func:`operation`
    refers to (the profile, the recommendation, the what-if answer and the refusals).

    Raises ``ValueError`` (when the document is first built) if two of them share a name
    but differ."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            document.setdefault("components", {}).setdefault("schemas", {}).update(_components())
            for item in document.get("paths", {}).values():
                for method, op in item.items():
                    guarded = {**_GUARDED, **(_GUARDED_WRITES if method != "get" else {})}
                    for status, answer in guarded.items():
                        op.setdefault("responses", {}).setdefault(status, answer)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
