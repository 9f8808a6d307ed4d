"""CDS Hooks, served for real on 127.0.0.1: discovery, a call for each published patient
from its FHIR record, 412, the client's FHIR server, order-select, feedback stored in
the audit database, and signed client tokens."""

from __future__ import annotations

import datetime
import http.server
import json
import re
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest import PATIENTS_DIR, REPO
from cryptography.hazmat.primitives.asymmetric import ec
from served import HOST, call, free_port, running_server
from test_printed_report import raw_paths

from sequencer import UsageError, recommend
from sequencer.interop.codes import code_table
from sequencer.service.audit import AuditLog
from sequencer.service.cds_discovery import PREFETCH
from sequencer.service.cds_discovery import PREFETCH_KEY_OF_TYPE as KEY_OF_TYPE
from sequencer.service.serve import check_binding

FHIR_DIR = REPO / "examples" / "fhir"
AS_OF = "2020-03-01"  # the day the example records are written as of


def prefetch_of(number: int) -> dict[str, Any]:
    """Published patient ``number``'s FHIR record as a CDS client would prefetch it: the
    Patient, and a searchset Bundle (or null) for every other template."""
    bundle = json.loads((FHIR_DIR / f"patient-{number}.bundle.json").read_text())
    out: dict[str, Any] = dict.fromkeys(PREFETCH)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        key = KEY_OF_TYPE.get(resource["resourceType"])
        if key is None:  # a kind of resource the service does not ask for
            continue
        if key == "patient":
            out[key] = resource
            continue
        out[key] = out[key] or {"resourceType": "Bundle", "type": "searchset", "entry": []}
        out[key]["entry"].append({"fullUrl": entry.get("fullUrl"), "resource": resource})
    return out


def hook_call(number: int, hook: str = "patient-view", **extra: Any) -> dict[str, Any]:
    prefetch = prefetch_of(number)
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/board", "patientId": prefetch["patient"]["id"]},
        "prefetch": prefetch,
        "extension": {"sequencer.as_of": AS_OF},
    }
    body.update(extra)
    return body


def without_answer(body: dict[str, Any], field: str) -> dict[str, Any]:
    """The call with the board's answer for ``field`` taken out of its questionnaire."""
    for entry in body["prefetch"]["questionnaireResponses"]["entry"]:
        groups = entry["resource"]["item"]  # the answers nest in the form's groups
        for group in groups:
            if "item" in group:
                group["item"] = [i for i in group["item"] if i["linkId"] != field]
        kept = [g for g in groups if g["linkId"] != field and g.get("item", True)]
        entry["resource"]["item"] = kept
    return body


def post(url: str, body: Any, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, raw = call(url, json.dumps(body).encode(), "POST", headers)
    return status, json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def audit_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('cds') / 'audit.sqlite3'}"


class _FhirServer(http.server.ThreadingHTTPServer):
    """A FHIR server on loopback holding the five published patients' records; it
    answers the prefetch templates, and redirects ``/moved/...`` elsewhere."""

    def __init__(self) -> None:
        self.records = {prefetch_of(n)["patient"]["id"]: prefetch_of(n) for n in range(1, 6)}
        self.tokens: list[str | None] = []
        self.paths: list[str] = []
        self.redirect_to = ""
        super().__init__((HOST, 0), _FhirHandler)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"


class _FhirHandler(http.server.BaseHTTPRequestHandler):
    server: _FhirServer

    def _send(self, status: int, payload: Any = None, location: str | None = None) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.tokens.append(self.headers.get("Authorization"))
        self.server.paths.append(self.path)
        parts = urllib.parse.urlsplit(self.path)
        if parts.path.startswith("/moved/"):
            self._send(302, location=self.server.redirect_to + parts.path[len("/moved") :])
            return
        kind = parts.path.strip("/")
        query = urllib.parse.parse_qs(parts.query)
        if kind.startswith("Patient/"):
            record = self.server.records.get(kind.split("/", 1)[1])
            self._send(200, record["patient"]) if record else self._send(404)
            return
        patient = (query.get("patient") or query.get("subject") or [""])[0]
        record = self.server.records.get(patient)
        key = next((k for k, v in KEY_OF_TYPE.items() if k == kind), None)
        if record is None or key is None:
            self._send(404)
            return
        empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
        self._send(200, record[KEY_OF_TYPE[key]] or empty)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[_FhirServer]:
    fhir = _FhirServer()
    thread = threading.Thread(target=fhir.serve_forever, daemon=True)
    thread.start()
    try:
        yield fhir
    finally:
        fhir.shutdown()
        thread.join(timeout=10)
        fhir.server_close()


@pytest.fixture(scope="module")
def server(audit_url: str, fhir_server: _FhirServer) -> Iterator[str]:
    allowed = ("--fhir-server", fhir_server.base, "--fhir-server", f"{fhir_server.base}/moved")
    with running_server("--audit", audit_url, *allowed) as base:
        yield base


def test_discovery_lists_both_hooks_with_their_prefetch(server: str) -> None:
    status, _, raw = call(f"{server}/cds-services")
    services = {s["id"]: s for s in json.loads(raw)["services"]}
    assert status == 200
    assert services["sequencer-choice"]["hook"] == "patient-view"
    assert services["sequencer-order-check"]["hook"] == "order-select"
    for service in services.values():
        assert service["description"] and service["prefetch"] == PREFETCH
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_each_published_patient_s_record_gives_the_library_s_choice(
    server: str, number: int
) -> None:
    status, answer = post(f"{server}/cds-services/sequencer-choice", hook_call(number))
    assert status == 200
    card = answer["cards"][0]
    library = recommend((PATIENTS_DIR / f"patient-{number}.json").read_bytes())
    choice = card["extension"]["sequencer.choice"]
    assert choice.get("preferred") == library.preferred
    assert all(v not in (None, [], {}) for v in choice.values())  # no null or empty element
    assert choice["options"] == {o.therapy: o.status for o in library.options}
    assert card["extension"]["sequencer.rulebook"]["digest"] == library.rulebook.digest
    for card in answer["cards"]:
        uuid.UUID(card["uuid"])
        assert 0 < len(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")
        book = library.rulebook
        label = card["source"]["label"]
        assert label == f"sequencer: {book.name} {book.version} ({book.digest[:19]})"
        assert re.fullmatch(r"sequencer: \S+ \S+ \(sha256:[0-9a-f]{12}\)", label)
        assert card["source"]["url"].endswith("/about")
        assert all(r["display"] for r in card["overrideReasons"])
        if "suggestions" in card:
            assert card["selectionBehavior"] in ("any", "at-most-one")


def test_a_card_calls_the_points_the_weight_of_arguments_never_a_score(server: str) -> None:
    for number in (1, 4):
        _, answer = post(f"{server}/cds-services/sequencer-choice", hook_call(number))
        for card in answer["cards"]:
            assert re.findall(r"\bscores? \d", card["summary"] + card["detail"]) == []


def test_a_card_links_to_the_case_report_of_its_answer(server: str) -> None:
    _, answer = post(f"{server}/cds-services/sequencer-choice", hook_call(4))
    links = {link["label"]: link for link in answer["cards"][0]["links"]}
    assert links["Case report"]["type"] == "absolute"
    status, headers, page = call(links["Case report"]["url"])
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"aldoss2020-patient-4" in page
    status, _, _ = call(f"{server}/reports/{uuid.uuid4()}")
    assert status == 404


def test_a_missing_test_that_could_change_the_choice_is_offered_as_a_draft_order(
    server: str,
) -> None:
    body = without_answer(hook_call(1), "disease.cd19")
    status, answer = post(f"{server}/cds-services/sequencer-choice", body)
    assert status == 200
    offered = [s for card in answer["cards"] for s in card.get("suggestions", [])]
    orders = [a["resource"] for s in offered for a in s["actions"]]
    assert any("CD19" in o["code"]["text"] for o in orders)
    for order in orders:
        assert order["resourceType"] == "ServiceRequest" and order["status"] == "draft"
        assert order["subject"]["reference"] == "Patient/aldoss2020-patient-1"


def with_answer(body: dict[str, Any], field: str, code: str) -> dict[str, Any]:
    """The call with the board's coded answer for ``field`` changed to ``code``."""
    for entry in body["prefetch"]["questionnaireResponses"]["entry"]:
        groups = entry["resource"]["item"]  # the answers nest in the form's groups
        for item in [i for g in groups for i in g.get("item", [g])]:
            if item["linkId"] == field:
                item["answer"] = [{"valueCoding": {"system": PROFILE_SYSTEM, "code": code}}]
    return body


PROFILE_SYSTEM = "urn:sequencer:profile-v1"
SNAKE_CASE = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b")


def test_a_contradictory_record_is_one_warning_card_in_plain_words(server: str) -> None:
    """Patient 4's record with the board answering "no prior transplant" beside the
    months since it: no advice, and the card names the facts by their labels."""
    body = with_answer(hook_call(4), "transplant.prior_allo_hct", "false")
    status, answer = post(f"{server}/cds-services/sequencer-choice", body)
    assert status == 200
    [card] = answer["cards"]
    assert card["indicator"] == "warning" and card["summary"].startswith("No advice")
    assert "sequencer.choice" not in card["extension"]
    assert "Months from transplant to relapse" in card["summary"]
    for text in (card["summary"], card["detail"].replace("\\_", "_")):
        assert raw_paths(text) == []
        assert SNAKE_CASE.findall(text) == []
    assert "prior allogeneic transplant is false" in card["detail"]
    digest = card["extension"]["sequencer.rulebook"]["digest"]
    assert card["source"]["label"].endswith(f"({digest[:19]})")


def test_absent_prefetch_without_a_fhir_server_is_a_412_naming_the_keys(server: str) -> None:
    body = hook_call(2)
    del body["prefetch"]["observations"], body["prefetch"]["medicationRequests"]
    status, answer = post(f"{server}/cds-services/sequencer-choice", body)
    assert status == 412 and answer["missing"] == ["observations", "medicationRequests"]


def test_a_malformed_call_is_a_422_with_every_problem(server: str) -> None:
    body = hook_call(2)
    del body["hookInstance"]
    body["context"]["patientId"] = "has spaces"
    status, answer = post(f"{server}/cds-services/sequencer-choice", body)
    fields = {(p["field"], p["code"]) for p in answer["problems"]}
    assert status == 422
    assert {("hookInstance", "missing_field"), ("context.patientId", "invalid_value")} <= fields
    status, answer = post(f"{server}/cds-services/sequencer-choice", hook_call(2, "order-select"))
    assert status == 422 and {p["field"] for p in answer["problems"]} >= {"hook"}
    assert post(f"{server}/cds-services/no-such-service", hook_call(2))[0] == 404


LENT = {
    "access_token": "lent-token",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "user/*.read",
    "subject": "sequencer",
}


def test_a_paged_prefetch_is_read_whole_from_the_client_s_fhir_server(
    server: str, fhir_server: _FhirServer
) -> None:
    """A prefetched page with a next link is not used alone: the search is read again
    from the FHIR server the client named (following its pages), the rest as sent."""
    body = hook_call(3)
    body["prefetch"]["conditions"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "next", "url": f"{fhir_server.base}/Condition?page=2"}],
        "entry": [],
    }
    body["fhirServer"] = fhir_server.base
    body["fhirAuthorization"] = LENT
    before = len(fhir_server.paths)
    status, answer = post(f"{server}/cds-services/sequencer-choice", body)
    library = recommend((PATIENTS_DIR / "patient-3.json").read_bytes())
    assert status == 200
    assert answer["cards"][0]["extension"]["sequencer.choice"].get("preferred") == library.preferred
    read = fhir_server.paths[before:]
    assert [urllib.parse.urlsplit(p).path for p in read] == ["/Condition"]


def test_data_not_prefetched_is_read_from_the_client_s_fhir_server(
    server: str, fhir_server: _FhirServer
) -> None:
    body = hook_call(3)
    del body["prefetch"]
    body["fhirServer"] = fhir_server.base
    body["fhirAuthorization"] = LENT
    before = len(fhir_server.tokens)
    status, answer = post(f"{server}/cds-services/sequencer-choice", body)
    library = recommend((PATIENTS_DIR / "patient-3.json").read_bytes())
    assert status == 200
    assert answer["cards"][0]["extension"]["sequencer.choice"].get("preferred") == library.preferred
    assert fhir_server.tokens[before:] == ["Bearer lent-token"] * len(PREFETCH)
    # only the observations the mapping reads are asked for (the minimum necessary)
    (observations,) = [p for p in fhir_server.paths[before:] if p.startswith("/Observation?")]
    asked = urllib.parse.parse_qs(urllib.parse.urlsplit(observations).query)["code"]
    table = code_table()
    assert asked == [
        ",".join(
            f"{table.uri(c.system)}|{c.code}"
            for c in [o.code for o in table.observations] + [g.code for g in table.genomic_variants]
        )
    ]
    assert "http://loinc.org|89247-1" in asked[0]  # ECOG


def test_a_fhir_server_the_site_did_not_allow_is_not_read(
    server: str, fhir_server: _FhirServer
) -> None:
    body = hook_call(3)
    del body["prefetch"]
    body["fhirServer"] = f"http://{HOST}:{free_port()}"
    status, answer = post(f"{server}/cds-services/sequencer-choice", body)
    assert status == 412 and "not one the service may read" in answer["error"]


def test_a_redirect_is_not_followed_so_the_token_stays_home(
    server: str, fhir_server: _FhirServer
) -> None:
    thief = _FhirServer()
    thread = threading.Thread(target=thief.serve_forever, daemon=True)
    thread.start()
    try:
        fhir_server.redirect_to = thief.base
        body = hook_call(3)
        del body["prefetch"]
        body["fhirServer"] = f"{fhir_server.base}/moved"
        body["fhirAuthorization"] = LENT
        status, answer = post(f"{server}/cds-services/sequencer-choice", body)
    finally:
        thief.shutdown()
        thread.join(timeout=10)
        thief.server_close()
    assert status == 412 and "answered 302" in answer["error"]
    assert thief.tokens == []


def test_a_token_travels_to_another_machine_only_over_https() -> None:
    from sequencer.service.fhirclient import FhirFetchError, FhirReader

    reader = FhirReader(("http://192.0.2.7/fhir",))  # a documentation address: never dialled
    with pytest.raises(FhirFetchError, match="only over HTTPS"):
        reader.for_call()("http://192.0.2.7/fhir", "Patient/p", "secret")


def _draft_order(option: str, patient: str) -> dict[str, Any]:
    med = next(m for m in code_table().medications if m.option == option)
    system = code_table().systems[med.codes[0].system]
    return {
        "resourceType": "MedicationRequest",
        "id": f"draft-{option}",
        "status": "draft",
        "intent": "proposal",
        "subject": {"reference": f"Patient/{patient}"},
        "medicationCodeableConcept": {
            "coding": [{"system": system, "code": med.codes[0].code}],
        },
    }


def _order_select(number: int, option: str) -> dict[str, Any]:
    body = hook_call(number, "order-select")
    patient = body["context"]["patientId"]
    order = _draft_order(option, patient)
    body["context"]["selections"] = [f"MedicationRequest/{order['id']}"]
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": order}],
    }
    return body


def test_ordering_the_preferred_option_is_confirmed(server: str) -> None:
    body = _order_select(1, "blinatumomab")
    # the board has assessed her conditions (none found): an uncontrolled infection, the
    # one unknown that could still defer blinatumomab, is ruled out
    none_found = {"system": "urn:sequencer:profile-v1", "code": "none-found"}
    for entry in body["prefetch"]["questionnaireResponses"]["entry"]:
        entry["resource"]["item"].append(
            {"linkId": "contraindications", "answer": [{"valueCoding": none_found}]}
        )
    status, answer = post(f"{server}/cds-services/sequencer-order-check", body)
    [card] = answer["cards"]
    assert status == 200 and card["indicator"] == "info"
    assert card["summary"].startswith("Consistent with the rule base")


def test_ordering_an_option_that_cannot_be_given_is_critical_with_a_removal(
    server: str,
) -> None:
    body = _order_select(5, "blinatumomab")  # patient 5: neither option can be given
    status, answer = post(f"{server}/cds-services/sequencer-order-check", body)
    [card] = answer["cards"]
    assert status == 200 and card["indicator"] == "critical"
    [suggestion] = card["suggestions"]
    assert suggestion["actions"] == [
        {
            "type": "delete",
            "description": suggestion["actions"][0]["description"],
            "resourceId": "MedicationRequest/draft-blinatumomab",
        }
    ]


def test_an_unrelated_order_gets_no_card(server: str) -> None:
    body = _order_select(1, "blinatumomab")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["medicationCodeableConcept"] = {"text": "paracetamol"}
    status, answer = post(f"{server}/cds-services/sequencer-order-check", body)
    assert status == 200 and answer == {"cards": []}


def test_feedback_is_stored_and_read_back(server: str, audit_url: str) -> None:
    body = without_answer(hook_call(1), "disease.cd19")
    _, answer = post(f"{server}/cds-services/sequencer-choice", body)
    main, workup = answer["cards"][0], answer["cards"][-1]
    suggestion = workup["suggestions"][0]["uuid"]
    feedback = {
        "feedback": [
            {
                "card": main["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": main["overrideReasons"][1],
                    "userComment": "Board chose the other option; see minutes.",
                },
                "outcomeTimestamp": "2026-11-29T10:05:31Z",
            },
            {
                "card": workup["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": suggestion}],
                "outcomeTimestamp": "2026-11-29T10:06:00Z",
            },
        ]
    }
    status, reply = post(f"{server}/cds-services/sequencer-choice/feedback", feedback)
    assert status == 200 and reply == {"stored": 2}
    log = AuditLog(audit_url)
    try:
        stored = {row.card: row for row in log.feedback()}
        issued = log.cards([main["uuid"], workup["uuid"]])
    finally:
        log.close()
    overridden = stored[main["uuid"]]
    assert overridden.outcome == "overridden"
    assert overridden.reason_code == main["overrideReasons"][1]["code"]
    assert overridden.user_comment == "Board chose the other option; see minutes."
    assert stored[workup["uuid"]].accepted_suggestions == (suggestion,)
    assert issued[main["uuid"]].summary == main["summary"]
    assert issued[workup["uuid"]].suggestions == tuple(s["uuid"] for s in workup["suggestions"])


def test_feedback_on_a_card_never_issued_is_refused_and_not_stored(
    server: str, audit_url: str
) -> None:
    unknown = str(uuid.uuid4())
    feedback = {
        "feedback": [
            {"card": unknown, "outcome": "accepted", "outcomeTimestamp": "yesterday"},
        ]
    }
    status, reply = post(f"{server}/cds-services/sequencer-choice/feedback", feedback)
    assert status == 422
    fields = {p["field"] for p in reply["problems"]}
    assert "feedback[0].outcomeTimestamp" in fields
    feedback["feedback"][0]["outcomeTimestamp"] = "2026-11-29T10:00:00Z"
    status, reply = post(f"{server}/cds-services/sequencer-choice/feedback", feedback)
    assert status == 422 and reply["problems"][0]["field"] == "feedback[0].card"
    log = AuditLog(audit_url)
    try:
        assert unknown not in {row.card for row in log.feedback()}
    finally:
        log.close()


def test_every_cds_answer_is_audited_with_its_cards(server: str, audit_url: str) -> None:
    body = hook_call(2)
    _, answer = post(f"{server}/cds-services/sequencer-choice", body)
    log = AuditLog(audit_url)
    try:
        cards = log.cards(c["uuid"] for c in answer["cards"])
        served = [r for r in log.rows() if r.endpoint == "cds-services/sequencer-choice"]
    finally:
        log.close()
    assert set(cards) == {c["uuid"] for c in answer["cards"]}
    assert {c.hook_instance for c in cards.values()} == {body["hookInstance"]}
    assert any(json.loads(r.output) == answer for r in served)
    assert all(r.profile is None for r in served)


# --- signed client tokens -----------------------------------------------------------

ISSUER = "https://ehr.example.org/"
ALLOWED_JKU = "https://ehr.example.org/jwks"


@pytest.fixture(scope="module")
def client_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def secured_audit(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('secured') / 'audit.sqlite3'}"


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory,
    client_key: ec.EllipticCurvePrivateKey,
    secured_audit: str,
) -> Iterator[str]:
    """The service with authentication on: one trusted issuer, its key given out of band."""
    folder = tmp_path_factory.mktemp("auth")
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(client_key.public_key()))
    public.update({"kid": "ehr-key-1", "use": "sig", "alg": "ES384"})
    (folder / "ehr.jwks.json").write_text(json.dumps({"keys": [public]}))
    port = free_port()
    config = {
        "public_url": f"http://{HOST}:{port}",
        "issuers": {ISSUER: {"jwks_file": "ehr.jwks.json", "jku": [ALLOWED_JKU]}},
        "algorithms": ["ES384"],
    }
    (folder / "auth.json").write_text(json.dumps(config))
    with running_server(
        "--audit", secured_audit, "--auth", str(folder / "auth.json"), port=port
    ) as base:
        yield base


def _token(
    key: Any,
    audience: str | list[str],
    *,
    alg: str = "ES384",
    kid: str = "ehr-key-1",
    typ: str | None = "JWT",
    jku: str | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A token signed with ``key`` for ``audience``: the standard claims with ``claims``
    over them and the claims named in ``drop`` left out; ``jku`` in the header if given."""
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "sub": "ehr-client",
        "aud": audience,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    for name in drop:
        del payload[name]
    headers = {"kid": kid, "typ": typ}
    if jku is not None:
        headers["jku"] = jku
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def test_a_signed_token_for_this_endpoint_is_accepted_once(
    secured: str, client_key: ec.EllipticCurvePrivateKey
) -> None:
    url = f"{secured}/cds-services/sequencer-choice"
    token = _token(client_key, url, jku=ALLOWED_JKU)
    assert post(url, hook_call(1), token)[0] == 200
    status, reply = post(url, hook_call(1), token)
    assert status == 401 and "already used" in reply["error"]
    discovery = f"{secured}/cds-services"
    status, _, _ = call(
        discovery, headers={"Authorization": f"Bearer {_token(client_key, discovery)}"}
    )
    assert status == 200


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ("missing", "a bearer token is required"),
        ("expired", "has expired"),
        ("issued long ago", "issued too long ago"),
        ("lives too long", "lives longer than"),
        ("no typ", "typ JWT"),
        ("no jti", '"jti"'),
        ("wrong audience", "the token is not for"),
        ("wrong audience given as a list", "the token is not for"),
        ("unknown issuer", "issuer is not trusted"),
        ("unknown key", "no key of the issuer"),
        ("jku not on the allow list", "jku is not on the issuer's allow list"),
        ("hmac", "'HS256' is not accepted"),
        ("garbage", "not a JSON web token"),
    ],
)
def test_a_missing_or_failing_token_is_a_401(
    secured: str, client_key: ec.EllipticCurvePrivateKey, fault: str, why: str
) -> None:
    url = f"{secured}/cds-services/sequencer-choice"
    other = f"{secured}/cds-services/other"
    now = int(time.time())
    past = now - 3600
    token = {
        "missing": None,
        "expired": _token(client_key, url, iat=now - 200, exp=now - 100),
        "issued long ago": _token(client_key, url, iat=past, exp=now + 60),
        "lives too long": _token(client_key, url, exp=now + 86_400 * 365),
        "no typ": _token(client_key, url, typ=None),
        "no jti": _token(client_key, url, drop=("jti",)),
        "wrong audience": _token(client_key, other),
        "wrong audience given as a list": _token(client_key, [other, f"{secured}/"]),
        "unknown issuer": _token(client_key, url, iss="https://elsewhere.example/"),
        "unknown key": _token(client_key, url, kid="not-ours"),
        "jku not on the allow list": _token(client_key, url, jku="https://evil.example/jwks"),
        "hmac": _token("a-shared-secret-of-32-bytes-or-more!", url, alg="HS256"),
        "garbage": "not.a.jwt",
    }[fault]
    status, reply = post(url, hook_call(1), token)
    assert status == 401 and reply["error"].startswith("not authenticated")
    assert why in reply["error"]
    status, _, _ = call(f"{secured}/cds-services")  # discovery needs a token too
    assert status == 401


def test_an_audience_list_naming_this_endpoint_is_accepted(
    secured: str, client_key: ec.EllipticCurvePrivateKey
) -> None:
    """``aud`` may be a list (RFC 7519); the token is for this endpoint when it is in it,
    so the "wrong audience given as a list" refusal above is about the list's members."""
    url = f"{secured}/cds-services/sequencer-choice"
    token = _token(client_key, [f"{secured}/cds-services/other", url])
    assert post(url, hook_call(1), token)[0] == 200


def test_health_and_about_need_no_token(secured: str) -> None:
    assert call(f"{secured}/health")[0] == 200
    status, headers, _ = call(f"{secured}/about")
    assert status == 200 and headers["content-type"].startswith("text/html")


def test_a_non_loopback_address_needs_authentication_and_tls() -> None:
    check_binding("127.0.0.1", 8080, authenticated=False, tls=False)
    with pytest.raises(UsageError, match="no authentication"):
        check_binding("192.0.2.10", 8080, authenticated=False, tls=True)
    with pytest.raises(UsageError, match="without TLS"):
        check_binding("192.0.2.10", 8080, authenticated=True, tls=False)
    check_binding("192.0.2.10", 8080, authenticated=True, tls=True)  # allowed; not bound here


def test_an_authentication_file_with_a_symmetric_algorithm_is_refused(tmp_path: Path) -> None:
    from sequencer.service.auth import load_auth

    config = {
        "public_url": "https://cds.example.org",
        "issuers": {ISSUER: {"jwks": {"keys": []}}},
        "algorithms": ["HS256"],
    }
    (tmp_path / "auth.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match="not allowed"):
        load_auth(tmp_path / "auth.json")


def test_the_as_of_extension_must_be_a_date(server: str) -> None:
    body = hook_call(1)
    body["extension"]["sequencer.as_of"] = "last spring"
    status, reply = post(f"{server}/cds-services/sequencer-choice", body)
    assert status == 422 and reply["problems"][0]["field"] == "extension.sequencer.as_of"
    assert datetime.date.fromisoformat(AS_OF)


def test_the_readme_s_example_call_is_patient_4_s_record(server: str) -> None:
    example = json.loads((REPO / "examples" / "cds" / "patient-4.patient-view.json").read_text())
    expected = hook_call(4)
    assert {k: v for k, v in example.items() if k != "hookInstance"} == {
        k: v for k, v in expected.items() if k != "hookInstance"
    }
    status, answer = post(f"{server}/cds-services/sequencer-choice", example)
    # provisional: whether an uncontrolled infection (which would defer both) is present
    assert status == 200 and answer["cards"][0]["summary"] == (
        "Blinatumomab is the only option now; CAR T cells deferred (provisional: 1 unknown "
        "fact could change it)"
    )


def test_feedback_must_say_when_and_what_exactly(server: str) -> None:
    _, answer = post(f"{server}/cds-services/sequencer-choice", hook_call(2))
    card = answer["cards"][0]["uuid"]
    url = f"{server}/cds-services/sequencer-choice/feedback"
    faults = {
        "a date without a time": {"outcomeTimestamp": "2026-11-29"},
        "a time without an offset": {"outcomeTimestamp": "2026-11-29T10:00:00"},
        "an empty override reason": {"overrideReason": {}},
        "suggestions on an overridden card": {"acceptedSuggestions": [{"id": "x"}]},
    }
    for what, fault in faults.items():
        item = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-29T10:00:00Z"}
        status, reply = post(url, {"feedback": [{**item, **fault}]})
        assert status == 422, what
        assert reply["problems"][0]["field"].startswith("feedback[0]"), what


def test_repeated_keys_are_refused_in_calls_and_feedback(server: str) -> None:
    raw = json.dumps(hook_call(1))[:-1] + ', "hook": "order-select"}'
    status, _, body = call(f"{server}/cds-services/sequencer-choice", raw.encode(), "POST")
    assert status == 422 and json.loads(body)["problems"][0]["code"] == "duplicate_key"
    raw = '{"feedback": [], "feedback": []}'
    status, _, body = call(f"{server}/cds-services/sequencer-choice/feedback", raw.encode(), "POST")
    assert status == 422 and json.loads(body)["problems"][0]["code"] == "duplicate_key"


@pytest.mark.parametrize(
    "drafts",
    [
        {"entry": 5},
        {"entry": [5]},
        {
            "entry": [
                {
                    "resource": {
                        "resourceType": "MedicationRequest",
                        "id": "draft-blinatumomab",
                        "medicationCodeableConcept": {"coding": 7},
                    }
                }
            ]
        },
    ],
)
def test_malformed_draft_orders_are_a_422_not_a_crash(server: str, drafts: Any) -> None:
    body = _order_select(1, "blinatumomab")
    body["context"]["draftOrders"] = drafts
    status, reply = post(f"{server}/cds-services/sequencer-order-check", body)
    assert status == 422
    assert reply["problems"][0]["field"] == "context.draftOrders"


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(server: str) -> None:
    import http.client

    host, port = urllib.parse.urlsplit(server).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("POST", "/recommend")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(400 * 1024 * 1024))
        connection.endheaders()
        connection.send(b"{")  # nothing near the declared size is ever sent
        reply = connection.getresponse()
        assert reply.status == 413
    finally:
        connection.close()


def test_refused_calls_are_in_the_audit_trail_and_tokens_never_are(
    server: str, audit_url: str
) -> None:
    body = hook_call(1)
    body["fhirAuthorization"] = {**LENT, "access_token": "SECRET-TOKEN-123"}
    del body["fhirAuthorization"]["subject"]
    status, reply = post(f"{server}/cds-services/sequencer-choice", body)
    assert status == 422 and "SECRET-TOKEN-123" not in json.dumps(reply)
    assert post(f"{server}/cds-services/no-such-service", hook_call(1))[0] == 404
    log = AuditLog(audit_url)
    try:
        rows = log.rows()
    finally:
        log.close()
    assert any(r.endpoint == "cds-services/no-such-service" and r.status == 404 for r in rows)
    assert not any("SECRET-TOKEN-123" in (r.output + (r.profile or "")) for r in rows)


def test_a_stored_call_keeps_no_lent_token() -> None:
    from sequencer.service.cds_request import without_token

    call_body = {"hook": "patient-view", "fhirAuthorization": dict(LENT)}
    assert without_token(call_body)["fhirAuthorization"]["access_token"] == "***"
    assert call_body["fhirAuthorization"]["access_token"] == "lent-token"


def test_a_refused_token_is_counted_not_stored(secured_audit: str, secured: str) -> None:
    """A 401 adds no audit row (a flood of bad tokens must not fill the trail) and is
    counted by /health."""
    log = AuditLog(secured_audit)
    try:
        before = len(log.rows())
    finally:
        log.close()
    assert post(f"{secured}/cds-services/sequencer-choice", hook_call(1))[0] == 401
    log = AuditLog(secured_audit)
    try:
        rows = log.rows()
    finally:
        log.close()
    assert len(rows) == before and not any(r.status == 401 for r in rows)
    with urllib.request.urlopen(f"{secured}/health", timeout=30) as reply:
        assert json.loads(reply.read())["refused"]["401"] >= 1


def test_a_bad_prefetched_resource_is_named_by_its_prefetch_key(server: str) -> None:
    body = hook_call(1)
    body["prefetch"]["observations"]["entry"][0]["resource"]["status"] = 17
    status, reply = post(f"{server}/cds-services/sequencer-choice", body)
    assert status == 422
    fields = [p["field"] for p in reply["problems"]]
    assert any(f.startswith("prefetch.observations.entry[0].resource.status") for f in fields)
    assert {p["code"] for p in reply["problems"]} == {"wrong_type"}
