"""The service's OpenAPI document, fuzzed against the real service (schemathesis).

The server is ``sequencer serve`` on 127.0.0.1 with a real audit database, and the
document fuzzed is the one it serves at /openapi.json (a test checks they are equal).
Every operation gets a bounded number of generated requests, valid and invalid (50 under
the "ci" Hypothesis profile, 500 under SEQUENCER_HYPOTHESIS=long), and every answer must
be no 5xx, a documented status with its documented content type and a body conforming
to the documented schema; a request that breaks the schema must be refused."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from served import call, running_server

from sequencer.model.schemas import schema as contract
from sequencer.service.app import create_app

LONG = os.environ.get("SEQUENCER_HYPOTHESIS", "ci") == "long"
EXAMPLES = 500 if LONG else 50
# Besides the generated examples, schemathesis's coverage phase sends some 370 fixed
# boundary cases per POST. The three POSTs share one request schema and one parser, so
# under "ci" only /recommend gets them (what-if and the report cost far more per call);
# under "long" every operation does.
CONFIG = SchemathesisConfig.from_dict(
    {}
    if LONG
    else {
        "operations": [
            {"include-path-regex": "^/(whatif|report)$", "phases": {"coverage": {"enabled": False}}}
        ]
    }
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service in its own process, auditing to a real SQLite file; its about
    documents are built before it listens, so no fuzzed request pays for them."""
    audit = tmp_path_factory.mktemp("fuzz") / "audit.sqlite3"
    with running_server("--audit", f"sqlite:///{audit}") as base:
        _, _, health = call(f"{base}/health")
        assert json.loads(health)["about_ready"], "the about documents were not built"
        yield base


# The document is built in-process at collection, so that each operation is its own test
# (schemathesis's fixture-based lazy loader does not run under pytest 9); the first test
# below proves the live service serves exactly this document, and every case is sent to
# the live service.
DOCUMENT = create_app().openapi()
api = schemathesis.openapi.from_dict(json.loads(json.dumps(DOCUMENT)), config=CONFIG)


def test_the_live_service_serves_the_fuzzed_document(service: str) -> None:
    status, _, body = call(f"{service}/openapi.json")
    assert status == 200 and json.loads(body) == json.loads(json.dumps(DOCUMENT))


@api.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_operation_answers_5xx_or_outside_its_documented_schema(case: Any, service: str) -> None:
    case.call_and_validate(
        base_url=service,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            negative_data_rejection,
        ],
    )


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    name = node["$ref"].removeprefix("#/components/schemas/")
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


def test_the_document_states_the_shipped_contracts(service: str) -> None:
    """The request body is the profile's JSON Schema and /recommend answers the
    recommendation's, as shipped in sequencer/schemas (with $defs as components)."""
    status, _, body = call(f"{service}/openapi.json")
    document: dict[str, Any] = json.loads(body)
    assert status == 200
    for endpoint, answer in (("recommend", "Recommendation"), ("whatif", "WhatIf")):
        post = document["paths"][f"/{endpoint}"]["post"]
        request = post["requestBody"]["content"]["application/json"]["schema"]
        assert request == {"$ref": "#/components/schemas/PatientProfile"}
        assert post["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{answer}"
        }
        problems = post["responses"]["422"]["content"]["application/json"]["schema"]
        assert _resolve(document, problems)["required"] == ["error", "problems"]
        assert "404" in post["responses"] and "413" in post["responses"]
    for name, component in (("profile", "PatientProfile"), ("recommendation", "Recommendation")):
        shipped = contract(name)
        served = document["components"]["schemas"][component]
        assert served["properties"].keys() == shipped["properties"].keys()
        assert served["required"] == shipped["required"]
        for inner in shipped["$defs"]:
            assert inner in document["components"]["schemas"]
        assert "$id" not in served and "#/$defs/" not in json.dumps(served)
