"""What standards-following clients send, against the running server: unknown optional
context fields and feedback extensions accepted, a paged or failed prefetch without a
FHIR server a 412 naming its key, CORS for the allowed origins only, FHIR-route errors as
OperationOutcomes, the ``Bearer`` scheme in any case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from served import call, running_server
from test_cds import _token, client_key, hook_call, post, secured, secured_audit

from sequencer import UsageError
from sequencer.service.audit import AuditLog
from sequencer.service.cds_request import failed_prefetch, incomplete
from sequencer.service.serve import check_origins

__all__ = ["client_key", "secured", "secured_audit"]  # fixtures used here, from test_cds

ALLOWED = "https://sandbox.cds-hooks.example"
OTHER = "https://elsewhere.example"


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('forward') / 'audit.sqlite3'}"


@pytest.fixture(scope="module")
def server(audit: str) -> Iterator[str]:
    """The service with an audit database and one allowed browser origin."""
    with running_server("--audit", audit, "--allow-origin", ALLOWED) as base:
        yield base


def test_an_unknown_context_field_is_accepted_ignored_and_listed(server: str, audit: str) -> None:
    """A context field a later hook version adds does not make the call a 422; the
    answer names it as ignored, and the audit trail stores that answer."""
    body = hook_call(1)
    body["context"]["someFutureField"] = {"any": "value"}
    status, reply = post(f"{server}/cds-services/sequencer-choice", body)
    assert status == 200 and reply["cards"]
    assert reply["extension"]["sequencer.ignored_context"] == ["someFutureField"]
    plain = post(f"{server}/cds-services/sequencer-choice", hook_call(1))[1]
    assert "sequencer.ignored_context" not in plain.get("extension", {})  # nothing ignored
    log = AuditLog(audit)
    try:
        outputs = [row.output for row in log.rows() if row.endpoint.startswith("cds-services")]
    finally:
        log.close()
    assert any("someFutureField" in out for out in outputs)


def test_a_feedback_extension_is_accepted(server: str) -> None:
    """``extension`` on a feedback item is the spec's place for additions: accepted."""
    _, reply = post(f"{server}/cds-services/sequencer-choice", hook_call(1))
    card = reply["cards"][0]
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"userComment": "see minutes"},
        "outcomeTimestamp": "2026-11-29T10:05:31Z",
        "extension": {"org.example.board-meeting": "2026-11-29"},
    }
    status, stored = post(f"{server}/cds-services/sequencer-choice/feedback", {"feedback": [item]})
    assert status == 200 and stored == {"stored": 1}


def paged(body: dict[str, Any], key: str) -> dict[str, Any]:
    body["prefetch"][key]["link"] = [
        {"relation": "self", "url": "https://ehr.example/fhir/Condition?patient=x"},
        {"relation": "next", "url": "https://ehr.example/fhir/Condition?patient=x&page=2"},
    ]
    return body


def test_a_paged_prefetch_without_a_fhir_server_is_a_412_naming_the_key(server: str) -> None:
    """A prefetched searchset with a next link is one page of more: not used as whole."""
    body = paged(hook_call(1), "conditions")
    status, reply = post(f"{server}/cds-services/sequencer-choice", body)
    assert status == 412 and reply["missing"] == ["conditions"]


def test_an_error_outcome_inside_a_searchset_is_a_failed_prefetch(server: str) -> None:
    """An OperationOutcome (search mode outcome, severity error) in a searchset is a 412."""
    body = hook_call(1)
    body["prefetch"]["conditions"]["entry"].append(
        {
            "resource": {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "timeout"}],
            },
            "search": {"mode": "outcome"},
        }
    )
    status, reply = post(f"{server}/cds-services/sequencer-choice", body)
    assert status == 412 and reply["missing"] == ["conditions"]


def test_a_warning_outcome_or_a_last_page_is_not_a_failure() -> None:
    """Only an error or fatal issue fails a search; a searchset without next is whole."""
    warning = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "self", "url": "https://ehr.example/fhir/Condition"}],
        "entry": [
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "warning", "code": "informational"}],
                },
                "search": {"mode": "outcome"},
            }
        ],
    }
    assert not failed_prefetch(warning) and not incomplete(warning)


def test_a_preflight_from_an_allowed_origin_succeeds(server: str) -> None:
    """The allowed origin gets its own name back, never ``*``, and no credentials."""
    status, headers, _ = call(
        f"{server}/cds-services/sequencer-choice",
        method="OPTIONS",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert status == 200
    assert headers["access-control-allow-origin"] == ALLOWED
    assert "access-control-allow-credentials" not in {h.lower() for h in headers}
    status, headers, _ = call(f"{server}/cds-services", headers={"Origin": ALLOWED})
    assert status == 200 and headers["access-control-allow-origin"] == ALLOWED


def test_another_origin_gets_no_cors_headers(server: str) -> None:
    """A preflight from an origin not allowed is not answered as one: no CORS header."""
    status, headers, _ = call(
        f"{server}/cds-services/sequencer-choice",
        method="OPTIONS",
        headers={"Origin": OTHER, "Access-Control-Request-Method": "POST"},
    )
    assert status == 405
    assert not any(h.lower().startswith("access-control-allow") for h in headers)
    _, headers, _ = call(f"{server}/cds-services", headers={"Origin": OTHER})
    assert not any(h.lower().startswith("access-control-allow") for h in headers)


def test_fhir_route_errors_are_operation_outcomes_for_fhir_clients(server: str) -> None:
    """Accepting FHIR JSON, an error is an OperationOutcome, an issue per problem."""
    bad = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "p", "birthDate": "soon"}}],
    }
    fhir = {"Accept": "application/fhir+json"}
    status, headers, body = call(
        f"{server}/fhir/guidance?as_of=yesterday", json.dumps(bad).encode(), "POST", fhir
    )
    outcome = json.loads(body)
    assert status == 422 and headers["content-type"].startswith("application/fhir+json")
    assert outcome["resourceType"] == "OperationOutcome"
    (issue,) = outcome["issue"]
    assert issue["severity"] == "error" and issue["expression"] == ["as_of"]
    assert issue["details"]["coding"][0]["code"] == "invalid_value"
    status, _, body = call(f"{server}/fhir/profile", json.dumps(bad).encode(), "POST", fhir)
    issues = json.loads(body)["issue"]
    assert status == 422 and any(i["expression"][0].startswith("entry[0]") for i in issues)


def test_the_bearer_scheme_is_matched_in_any_case(secured: str, client_key: Any) -> None:
    """RFC 7235: the scheme name is case-insensitive, so ``bearer`` is a bearer token."""
    url = f"{secured}/cds-services"
    status, _, _ = call(url, headers={"Authorization": f"bearer {_token(client_key, url)}"})
    assert status == 200


@pytest.mark.parametrize("origin", ["*", "https://ok.example/path", "ok.example", "null"])
def test_an_allowed_origin_must_be_an_exact_origin(origin: str) -> None:
    """``--allow-origin`` refuses a wildcard, a path or a bare host, naming it."""
    with pytest.raises(UsageError, match="--allow-origin takes an origin"):
        check_origins(("https://fine.example:8443", origin))
    check_origins(("https://fine.example:8443", "http://127.0.0.1:3000"))
