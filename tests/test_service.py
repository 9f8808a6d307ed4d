"""The HTTP API, served for real: uvicorn on 127.0.0.1, called over loopback."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PATIENTS_DIR, REPO, patched
from served import HOST, call, running_server

from sequencer import UsageError, default_rulebook, parse_profile, recommend
from sequencer.service.audit import AuditLog
from sequencer.service.serve import is_loopback


@pytest.fixture(scope="module")
def audit_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The served module's audit database (a real SQLite file)."""
    return f"sqlite:///{tmp_path_factory.mktemp('audit') / 'audit.sqlite3'}"


@pytest.fixture(scope="module")
def server(audit_url: str) -> Iterator[str]:
    """The real service in its own process; stopped after the module's tests."""
    with running_server("--audit", audit_url) as base:
        yield base


def test_recommend_over_http_is_the_library_s_answer(server: str) -> None:
    profile = (PATIENTS_DIR / "patient-4.json").read_bytes()
    status, headers, body = call(f"{server}/recommend?context=us-2020", profile, "POST")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert json.loads(body) == recommend(profile, context="us-2020").model_dump(mode="json")


def test_every_problem_comes_back_with_its_field_path(server: str) -> None:
    bad = patched({"age": 500, "disease.cd19": "blue"})
    status, _, body = call(f"{server}/recommend", json.dumps(bad).encode(), "POST")
    assert status == 422
    problems = json.loads(body)["problems"]
    assert {(p["field"], p["code"]) for p in problems} >= {
        ("age", "out_of_range"),
        ("disease.cd19", "invalid_value"),
    }
    dup = b'{"id": "x", "id": "y"}'
    status, _, body = call(f"{server}/recommend", dup, "POST")
    assert status == 422 and "more than once" in body.decode()
    status, _, _ = call(f"{server}/recommend", b"{not json", "POST")
    assert status == 422


def test_an_unknown_context_is_a_404_naming_the_known_ones(server: str) -> None:
    profile = (PATIENTS_DIR / "patient-1.json").read_bytes()
    status, _, body = call(f"{server}/recommend?context=eu-1999", profile, "POST")
    assert status == 404 and json.loads(body)["known"] == ["us-2020", "us-2026"]


def test_the_transparency_documents_are_built_before_the_service_answers(server: str) -> None:
    """``sequencer serve`` builds the about document of every context before it listens
    (it decides a whole cohort: seconds), so no request, the first /about included, waits
    for it; /health says which are built."""
    status, _, body = call(f"{server}/health")
    assert status == 200
    assert json.loads(body)["about_ready"] == sorted(default_rulebook().contexts)


def test_whatif_report_and_rules(server: str) -> None:
    profile = (PATIENTS_DIR / "patient-1.json").read_bytes()
    status, _, body = call(f"{server}/whatif", profile, "POST")
    assert status == 200 and json.loads(body)["patient_id"] == "aldoss2020-patient-1"
    status, headers, body = call(f"{server}/report", profile, "POST")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'Patient id: <strong class="patient-id">aldoss2020-patient-1</strong>' in body
    status, _, body = call(f"{server}/rules")
    data: dict[str, Any] = json.loads(body)
    assert status == 200 and data["default_context"] == "us-2026" and len(data["rules"]) > 80


def test_the_report_escapes_what_the_caller_typed(server: str) -> None:
    hostile = patched({"id": "<script>alert(1)</script>"})
    status, _, body = call(f"{server}/report", json.dumps(hostile).encode(), "POST")
    assert status == 200 and b"<script>alert(1)</script>" not in body
    assert b"&lt;script&gt;" in body


def test_openapi_describes_the_endpoints(server: str) -> None:
    status, _, body = call(f"{server}/openapi.json")
    paths = json.loads(body)["paths"]
    assert status == 200 and {"/recommend", "/whatif", "/report", "/rules"} <= set(paths)


def test_a_body_over_the_limit_is_refused(server: str) -> None:
    status, _, _ = call(f"{server}/recommend", b" " * 1_000_001, "POST")
    assert status == 413


def test_only_loopback_addresses_are_served_without_authentication() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    result = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "refusing to listen on 0.0.0.0" in result.stderr


def test_every_answer_is_in_the_audit_trail_without_the_profile(
    server: str, audit_url: str
) -> None:
    """Time, endpoint, rule base, context, a hash of the body, the answer and the caller;
    never the raw profile unless the site keeps them."""
    profile = (PATIENTS_DIR / "patient-2.json").read_bytes()
    status, _, body = call(f"{server}/recommend?context=us-2020", profile, "POST")
    assert status == 200
    bad = json.dumps(patched({"age": 500})).encode()
    assert call(f"{server}/recommend", bad, "POST")[0] == 422
    log = AuditLog(audit_url)
    try:
        rows = log.rows()
    finally:
        log.close()
    mine = [r for r in rows if r.input_sha256 == hashlib.sha256(profile).hexdigest()]
    assert mine and mine[-1].endpoint == "recommend" and mine[-1].context == "us-2020"
    assert mine[-1].status == 200 and json.loads(mine[-1].output) == json.loads(body)
    assert mine[-1].rulebook_digest == recommend(profile).rulebook.digest
    assert mine[-1].caller == HOST and mine[-1].profile is None
    refused = [r for r in rows if r.input_sha256 == hashlib.sha256(bad).hexdigest()]
    assert refused and refused[-1].status == 422 and "problems" in refused[-1].output


def test_a_site_may_keep_profiles_and_other_databases_are_refused(tmp_path: Path) -> None:
    log = AuditLog(f"sqlite:///{tmp_path / 'a.sqlite3'}", keep_profiles=True)
    try:
        log.record(
            endpoint="recommend",
            status=200,
            rulebook_version="0.3.0",
            rulebook_digest="sha256:x",
            context="us-2026",
            body=b'{"id": "p"}',
            output="{}",
            caller=None,
        )
        assert log.rows()[0].profile == '{"id": "p"}'
    finally:
        log.close()
    with pytest.raises(UsageError, match="only sqlite:///PATH and postgresql"):
        AuditLog("mysql://db.example/audit")


def test_a_fhir_bundle_maps_to_its_profile_and_its_guidance(server: str) -> None:
    bundle = (REPO / "examples" / "fhir" / "patient-2.bundle.json").read_bytes()
    status, _, body = call(f"{server}/fhir/profile?as_of=2020-03-01", bundle, "POST")
    mapping = json.loads(body)
    assert status == 200
    published = (PATIENTS_DIR / "patient-2.json").read_bytes()
    assert parse_profile(mapping["profile"]) == parse_profile(published)
    status, headers, body = call(f"{server}/fhir/guidance?as_of=2020-03-01", bundle, "POST")
    guidance = json.loads(body)
    library = recommend((PATIENTS_DIR / "patient-2.json").read_bytes())
    assert status == 200 and headers["content-type"].startswith("application/fhir+json")
    assert guidance["resourceType"] == "GuidanceResponse"
    assert len(guidance["dataRequirement"]) == len(library.missing)
    # points are the weight of arguments, never called a score (not expected benefit)
    # (the ECOG "performance status score" is LOINC's name for an observation, not ours)
    assert re.search(r"\bscores? \d", library.summary) is None
    assert "weight of arguments" in library.summary
    assert re.findall(r"\bscores? \d", body.decode()) == []
    assert "weight of arguments" in body.decode()


def test_fhir_input_that_cannot_be_mapped_is_a_422_with_paths(server: str) -> None:
    bad = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "p", "birthDate": "soon"}}],
    }
    status, _, body = call(f"{server}/fhir/profile", json.dumps(bad).encode(), "POST")
    problems = json.loads(body)["problems"]
    assert status == 422 and any(p["field"].startswith("entry[0]") for p in problems)
    status, _, body = call(
        f"{server}/fhir/guidance?as_of=yesterday", json.dumps(bad).encode(), "POST"
    )
    assert status == 422 and json.loads(body)["problems"][0]["field"] == "as_of"


def test_a_path_parameter_out_of_range_is_a_422_naming_it(server: str) -> None:
    status, _, body = call(f"{server}/decisions/{10**40}/report")
    problems = json.loads(body)["problems"]
    assert status == 422 and problems[0]["field"] == "decision_id"
    assert problems[0]["code"] == "out_of_range"
