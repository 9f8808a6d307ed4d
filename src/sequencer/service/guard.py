"""What the service refuses before any route sees a request, and the headers every
answer carries.

- **Host allow-list** (DNS rebinding): with ``hosts`` given (``sequencer serve`` gives
  the bound address, ``localhost`` and the loopback addresses on loopback, and the
  ``--public-url`` host), a request naming any other ``Host`` is a 421.
- **No cross-site writes**: a POST (or PUT, PATCH, DELETE) is refused with a 403 whose
  problem JSON names why when the browser says it comes from another site
  (``Origin`` not the service's own or an ``--allow-origin``; ``Sec-Fetch-Site``
  ``cross-site`` or ``same-site`` from an origin not allowed), or when its body is not
  JSON (``application/json`` or ``application/*+json``). The classroom's own form is
  the one exception to the JSON rule: it carries a per-session token instead
  (``service.classroom``). A cross-site page can send a form or ``text/plain`` without
  asking, never JSON, so the two checks stand for each other where a browser omits one.
- **Security headers**: every answer says ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: no-referrer``; every HTML answer also carries a Content-Security-
  Policy (``default-src 'self'``, ``frame-ancestors 'none'``; the page's own inline
  ``<style>`` and ``<script>`` blocks allowed by their SHA-256 hashes, nothing else
  inline) and ``X-Frame-Options: DENY``.

Refusals are counted (``counts``), never stored with their bodies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["FORM_PATHS", "SiteGuard", "content_security_policy", "hostname_of"]

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_PATHS = re.compile(r"^/teach/[^/]+/answers$")
"""Routes that take the service's own HTML form (with its per-session token) instead of
JSON."""
_JSON = re.compile(r"^application/([\w.+-]+\+)?json$")
_INLINE = re.compile(rb"<(style|script)(\s[^>]*)?>(.*?)</\1\s*>", re.S | re.I)


def hostname_of(host: str) -> str:
    """The host name of a ``Host`` header value (no port, no IPv6 brackets), lowercase."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def content_security_policy(html: bytes) -> str:
    """The policy for one HTML answer: only this origin, never framed, and the inline
    style and script blocks of ``html`` allowed by their hashes (a script with ``src``
    is loaded from this origin and needs none)."""
    styles: list[str] = []
    scripts: list[str] = []
    for match in _INLINE.finditer(html):
        kind, attributes, content = match.group(1).lower(), match.group(2) or b"", match.group(3)
        if kind == b"script":
            if b"src=" in attributes.lower():
                continue
            target = scripts
        else:
            target = styles
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode("ascii")
        target.append(f"'sha256-{digest}'")
    style = " ".join(["'self'", *dict.fromkeys(styles)])
    script = " ".join(["'self'", *dict.fromkeys(scripts)])
    return (
        f"default-src 'self'; style-src {style}; script-src {script}; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _refusal(status: int, code: str, message: str, field: str) -> tuple[int, bytes]:
    body = {
        "error": message,
        "code": code,
        "problems": [{"field": field, "code": code, "message": message}],
    }
    return status, json.dumps(body).encode()


class SiteGuard:
    """ASGI middleware: the Host allow-list, the cross-site write refusals and the
    security headers (module docstring). ``hosts`` ``None`` serves any Host (the
    library's own in-process use); ``origins`` are the ``--allow-origin`` origins;
    refusals are counted by status in ``counts`` (shared with the service's other
    refusals)."""

    def __init__(
        self,
        app: ASGIApp,
        hosts: Iterable[str] | None = None,
        origins: Iterable[str] = (),
        public_url: str | None = None,
        counts: Counter[str] | None = None,
    ) -> None:
        self.app = app
        self.hosts = None if hosts is None else frozenset(h.lower() for h in hosts)
        self.origins = frozenset(origins)
        public = urlsplit(public_url) if public_url else None
        self.public = f"{public.scheme}://{public.netloc}".lower() if public else None
        self.counts: Counter[str] = Counter() if counts is None else counts

    def _why_refused(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, bytes] | None:
        host = headers.get(b"host", b"").decode("latin-1")
        if self.hosts is not None and hostname_of(host) not in self.hosts:
            return _refusal(
                421,
                "host_not_served",
                f"this service does not answer for the host '{host[:100]}'",
                "Host",
            )
        if scope["method"] not in WRITES:
            return None
        own = {f"{scope.get('scheme', 'http')}://{host}".lower(), self.public}
        origin = headers.get(b"origin", b"").decode("latin-1")
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        # A browser names its origin "null" on a form post under no-referrer; it still
        # says where the request came from in Sec-Fetch-Site.
        allowed = (
            origin.lower() in own
            or origin in self.origins
            or (origin == "null" and site == "same-origin")
        )
        if origin and not allowed:
            return _refusal(
                403,
                "cross_site_refused",
                f"a write from another site ({origin[:100]}) is refused",
                "Origin",
            )
        if site in ("cross-site", "same-site") and not (origin and allowed):
            return _refusal(
                403,
                "cross_site_refused",
                f"a write the browser marks {site} is refused",
                "Sec-Fetch-Site",
            )
        kind = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if FORM_PATHS.match(scope["path"]):
            return None  # the classroom's form: its per-session token is checked by the route
        if not _JSON.match(kind):
            shown = kind or "none"
            return _refusal(
                403,
                "not_json",
                f"this service takes JSON bodies only (Content-Type {shown[:60]})",
                "Content-Type",
            )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse, or serve the call with the security headers added."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        refused = self._why_refused(scope, headers)
        if refused is not None:
            status, body = refused
            self.counts[str(status)] += 1
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": self._headers(
                        [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                        None,
                    ),
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def guarded(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers") or []).get(b"content-type", b"")
                if kind.startswith(b"text/html"):
                    start = message  # held until the body is known (its hashes)
                    return
                message["headers"] = self._headers(list(message.get("headers") or []), None)
                await send(message)
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                html = b"".join(chunks)
                start["headers"] = self._headers(list(start.get("headers") or []), html)
                await send(start)
                await send({"type": "http.response.body", "body": html})
            else:
                await send(message)

        await self.app(scope, receive, guarded)

    @staticmethod
    def _headers(
        headers: list[tuple[bytes, bytes]], html: bytes | None
    ) -> list[tuple[bytes, bytes]]:
        out = [
            h
            for h in headers
            if h[0].lower() not in (b"x-content-type-options", b"referrer-policy")
        ]
        out += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
        if html is not None and not any(h[0].lower() == b"content-security-policy" for h in out):
            out += [
                (b"content-security-policy", content_security_policy(html).encode()),
                (b"x-frame-options", b"DENY"),
            ]
        return out
