"""Which requests of a browser session count as leaving 127.0.0.1: the page's network
requests to another host, never the browser's own internal pages (no browser needed)."""

from __future__ import annotations

from browser import NO_NETWORK, outside_requests

HOST = "127.0.0.1"


def test_the_browsers_internal_pages_are_not_requests_to_another_host() -> None:
    """Chromium's new-tab page, its built-in pages, data and blob URLs reach no host."""
    internal = [
        "chrome-untrusted://new-tab-page/one-google-bar?paramsencoded=",
        "chrome://new-tab-page/",
        "chrome-search://local-ntp/local-ntp.html",
        "data:,",
        "blob:http://127.0.0.1:8000/4c2d",
        "about:blank",
        "devtools://devtools/bundled/inspector.html",
    ]
    assert outside_requests(internal, HOST) == []


def test_requests_to_the_service_on_loopback_are_allowed() -> None:
    """http and ws requests to 127.0.0.1 (any port) stay on the machine."""
    ok = ["http://127.0.0.1:8123/", "http://127.0.0.1:8123/static/page.js", "ws://127.0.0.1:9/x"]
    assert outside_requests(ok, HOST) == []


def test_a_request_to_any_other_host_is_caught_whatever_its_network_scheme() -> None:
    """http, https, ws, wss and ftp to another host, localhost by name included, count."""
    outside = [
        "https://www.google.com/complete/search?q=",
        "http://evil.example/steal",
        "ws://evil.example/socket",
        "WSS://cdn.example/x",
        "ftp://files.example/",
        "http://localhost:8123/",
        "https://127.0.0.2/",
    ]
    assert outside_requests(outside, HOST) == outside


def test_the_browser_starts_with_its_background_traffic_off() -> None:
    """The flags that keep Chromium from calling home are always passed."""
    for flag in (
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-default-apps",
    ):
        assert flag in NO_NETWORK
