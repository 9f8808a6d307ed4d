"""What the running service refuses before any route: writes from other sites (a forged
form in Chromium, a text/plain body, a foreign Origin or Sec-Fetch-Site), another Host
(DNS rebinding); and the security headers every HTML answer carries."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import selenium_chromium
from conftest import PATIENTS_DIR
from served import HOST, call, free_port, running_server

from sequencer.service.guard import content_security_policy, hostname_of

DECISION = {
    "context": "us-2020",
    "chosen": "blinatumomab",
    "reason": "patient-preference",
    "comment": "forged",
    "meeting_date": "2026-11-27",
    "signed_by": "Dr Forged Form",
}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    audit = tmp_path_factory.mktemp("guard") / "audit.sqlite3"
    with running_server(
        "--audit", f"sqlite:///{audit}", "--allow-origin", "http://ehr.example"
    ) as base:
        yield base


def _decision() -> bytes:
    profile = json.loads((PATIENTS_DIR / "patient-4.json").read_text())
    return json.dumps({"profile": profile, **DECISION}).encode()


def _refusal(status: int, raw: bytes) -> dict[str, Any]:
    body = dict(json.loads(raw))
    assert status in (403, 421) and body["problems"] and body["code"] == body["problems"][0]["code"]
    return body


def _forged_decisions(base: str) -> int:
    status, _, raw = call(f"{base}/decisions")
    assert status == 200
    return raw.decode().count("Dr Forged Form")


def test_a_text_plain_decision_from_any_client_is_refused_and_not_stored(service: str) -> None:
    """A body that is not JSON (what a cross-site form can send) is a 403 naming why."""
    status, _, raw = call(
        f"{service}/decisions", _decision(), "POST", {"Content-Type": "text/plain"}
    )
    assert _refusal(status, raw)["code"] == "not_json"
    assert _forged_decisions(service) == 0


def test_a_write_from_another_origin_is_refused_whatever_its_body(service: str) -> None:
    """A foreign Origin, or a browser's cross-site mark without an allowed origin, is a
    403, for decisions, CDS feedback and the plain API alike."""
    for path in ("/decisions", "/recommend", "/cds-services/cd19-immunotherapy-choice/feedback"):
        status, _, raw = call(
            f"{service}{path}", _decision(), "POST", {"Origin": "http://evil.example"}
        )
        assert _refusal(status, raw)["code"] == "cross_site_refused", path
        status, _, raw = call(
            f"{service}{path}", _decision(), "POST", {"Sec-Fetch-Site": "cross-site"}
        )
        assert _refusal(status, raw)["code"] == "cross_site_refused", path
    assert _forged_decisions(service) == 0


def test_the_services_own_origin_and_an_allowed_origin_may_write(service: str) -> None:
    """JSON from the page's own origin, or from an --allow-origin, is answered."""
    profile = (PATIENTS_DIR / "patient-1.json").read_bytes()
    for origin in (service, "http://ehr.example"):
        status, _, _ = call(f"{service}/recommend", profile, "POST", {"Origin": origin})
        assert status == 200, origin


def test_another_host_name_is_not_served(service: str) -> None:
    """A Host the service was not bound to (a rebound DNS name) gets 421; localhost and
    the bound address are served."""
    port = service.rsplit(":", 1)[1]
    status, _, raw = call(f"{service}/decisions", headers={"Host": f"attacker.example:{port}"})
    assert _refusal(status, raw)["code"] == "host_not_served"
    for host in (f"localhost:{port}", f"{HOST}:{port}"):
        assert call(f"{service}/health", headers={"Host": host})[0] == 200


def test_every_html_answer_carries_the_security_headers(service: str) -> None:
    """The page, the decisions list, the about page and a report: CSP with only this
    origin and no framing, nosniff, no referrer; JSON answers nosniff too."""
    profile = (PATIENTS_DIR / "patient-1.json").read_bytes()
    pages = [
        call(f"{service}/"),
        call(f"{service}/decisions"),
        call(f"{service}/about"),
        call(f"{service}/report", profile, "POST"),
    ]
    for status, headers, _ in pages:
        assert status == 200 and headers["content-type"].startswith("text/html")
        policy = headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "'unsafe-inline'" not in policy
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    _, headers, _ = call(f"{service}/health")
    assert headers["x-content-type-options"] == "nosniff"


def test_the_interactive_api_pages_that_load_outside_scripts_are_off(service: str) -> None:
    """/docs and /redoc (CDN scripts) are not served; the OpenAPI document is."""
    assert call(f"{service}/docs")[0] == 404 and call(f"{service}/redoc")[0] == 404
    assert call(f"{service}/openapi.json")[0] == 200


def test_health_counts_the_refusals(service: str) -> None:
    """Refused writes are counted (not stored with their bodies)."""
    call(f"{service}/decisions", b"x", "POST", {"Content-Type": "text/plain"})
    _, _, raw = call(f"{service}/health")
    assert json.loads(raw)["refused"]["403"] >= 1


def test_the_policy_allows_exactly_the_pages_own_inline_blocks() -> None:
    """Each inline style or script block is allowed by its SHA-256; a script with src
    needs no hash; nothing else inline is allowed."""
    html = b"<style>p{color:red}</style><script src='/page.js'></script><script>go()</script>"
    policy = content_security_policy(html)
    style = base64.b64encode(hashlib.sha256(b"p{color:red}").digest()).decode()
    script = base64.b64encode(hashlib.sha256(b"go()").digest()).decode()
    assert f"style-src 'self' 'sha256-{style}'" in policy
    assert f"script-src 'self' 'sha256-{script}'" in policy
    assert policy.count("sha256-") == 2


def test_host_names_are_compared_without_port_or_brackets() -> None:
    """``Host`` values name the host the same way with or without a port."""
    assert hostname_of("127.0.0.1:8080") == "127.0.0.1"
    assert hostname_of("[::1]:8080") == "::1"
    assert hostname_of("LocalHost") == "localhost"


class _Forger(http.server.BaseHTTPRequestHandler):
    """Serves one page that posts a decision to the target as a cross-site form."""

    target = ""

    def do_GET(self) -> None:
        payload = json.dumps({**json.loads(_decision()), "x": "="})
        page = (
            "<!doctype html><title>forged</title><body>"
            f'<form id="f" method="post" action="{self.target}/decisions" enctype="text/plain">'
            f"<input name='{payload[:-7]}' value='\"}}'></form>"
            "<script>document.getElementById('f').submit()</script></body>"
        )
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


def test_a_forged_form_on_another_local_site_records_nothing(service: str, tmp_path: Path) -> None:
    """A page on another loopback port, opened in Chromium, auto-submits a text/plain
    form to /decisions (the attack that once stored "Dr Forged Form"): the browser gets
    the refusal and the decisions list stays clean."""
    _Forger.target = service
    forger = http.server.HTTPServer((HOST, free_port()), _Forger)
    thread = threading.Thread(target=forger.serve_forever, daemon=True)
    thread.start()
    try:
        with selenium_chromium("--window-size=800,600") as driver:
            driver.set_page_load_timeout(30)
            driver.get(f"http://{HOST}:{forger.server_port}/")
            from selenium.webdriver.support.ui import WebDriverWait

            WebDriverWait(driver, 30).until(lambda d: "/decisions" in d.current_url)
            text = driver.find_element("tag name", "body").text
            assert "cross_site_refused" in text or "not_json" in text
    finally:
        forger.shutdown()
        thread.join(timeout=10)
    assert _forged_decisions(service) == 0
