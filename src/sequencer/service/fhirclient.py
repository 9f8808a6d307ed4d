"""Reading what a CDS client did not prefetch from its FHIR server.

CDS Hooks lets a client send ``fhirServer`` (and an access token in
``fhirAuthorization``) instead of, or beside, prefetched data; the service then runs
its prefetch templates against that server itself. Only servers the site allows are
read (``allowed``); a lent token travels only over HTTPS (or to a loopback address) and
never follows a redirect. Reads are bounded: one deadline for the whole call, a size
limit per response, a number of pages per search, and paging links are followed only
on the same server.
"""

from __future__ import annotations

import ipaddress
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "DEADLINE",
    "MAX_PAGES",
    "MAX_RESPONSE",
    "FhirFetchError",
    "FhirReader",
    "render_template",
]

MAX_PAGES = 10
"""Search result pages followed per prefetch template."""

MAX_RESPONSE = 5_000_000
"""The largest FHIR response read, in bytes."""

DEADLINE = 10.0
"""Seconds allowed for all the FHIR reads of one CDS Hooks call."""


class FhirFetchError(Exception):
    """The FHIR server could not give what a prefetch template asks for."""


def render_template(template: str, context: Mapping[str, Any]) -> str:
    """Replace ``{{context.NAME}}`` tokens with the hook context's (URL-quoted) values.

    Raises ``FhirFetchError`` for a token the context does not hold as a plain value.
    """
    out = template
    while "{{" in out:
        start = out.index("{{")
        end = out.index("}}", start)
        token = out[start + 2 : end].strip()
        name = token.removeprefix("context.")
        value = context.get(name)
        if not token.startswith("context.") or not isinstance(value, str | int):
            raise FhirFetchError(f"the hook context gives no value for {token}")
        out = out[:start] + urllib.parse.quote(str(value), safe="") + out[end + 2 :]
    return out


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: a lent token must not travel to another address."""

    def redirect_request(self, *_: object, **__: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _get(url: str, token: str | None, deadline: float) -> dict[str, Any]:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FhirFetchError("the FHIR server took too long")
    request = urllib.request.Request(url, headers={"Accept": "application/fhir+json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _OPENER.open(request, timeout=left) as reply:
            body = reply.read(MAX_RESPONSE + 1)
    except urllib.error.HTTPError as error:
        raise FhirFetchError(f"the FHIR server answered {error.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError):
        raise FhirFetchError("the FHIR server could not be read") from None
    if len(body) > MAX_RESPONSE:
        raise FhirFetchError(f"the FHIR server's answer is over {MAX_RESPONSE} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise FhirFetchError("the FHIR server's answer is not JSON") from None
    if not isinstance(data, dict) or "resourceType" not in data:
        raise FhirFetchError("the FHIR server's answer is not a FHIR resource")
    if data["resourceType"] == "OperationOutcome":
        raise FhirFetchError("the FHIR server answered with an OperationOutcome")
    return data


def _base(url: str) -> str:
    """A FHIR base URL as compared: scheme and host lower case, one trailing slash."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/") + "/", "", "")
    )


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class FhirReader:
    """Reads prefetch templates from the FHIR servers a site allows, within one
    deadline per call (``reader = FhirReader(allowed); read = reader.for_call()``)."""

    def __init__(self, allowed: tuple[str, ...] = (), deadline: float = DEADLINE) -> None:
        self.allowed = frozenset(_base(a) for a in allowed)
        self.deadline = deadline

    def for_call(self) -> Callable[[str, str, str | None], dict[str, Any]]:
        """A reader for one call: every read it makes shares one deadline."""
        until = time.monotonic() + self.deadline
        return lambda server, relative, token: self.fetch(server, relative, token, until)

    def fetch(self, server: str, relative: str, token: str | None, until: float) -> dict[str, Any]:
        """Return the resource or search Bundle ``relative`` names on ``server`` (following
        ``next`` pages on the same server, at most ``MAX_PAGES``) before ``until``
        (``time.monotonic()``).

        Raises ``FhirFetchError`` when the server is not allowed here, a token would
        travel over plain HTTP to another machine, or the server is unreachable, slow,
        refuses, or answers with something that is not FHIR JSON.
        """
        base = _base(server)
        parsed = urllib.parse.urlsplit(base)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise FhirFetchError("fhirServer must be an http(s) URL")
        if base not in self.allowed:
            raise FhirFetchError("this fhirServer is not one the service may read")
        if token and parsed.scheme != "https" and not _loopback(parsed.hostname):
            raise FhirFetchError("an access token is sent only over HTTPS")
        first = _get(urllib.parse.urljoin(base, relative), token, until)
        if first.get("resourceType") != "Bundle":
            return first
        entries = list(first.get("entry") or [])
        page = first
        for pages in range(1, MAX_PAGES + 1):
            following = _next(page)
            if following is None:
                return {"resourceType": "Bundle", "type": "searchset", "entry": entries}
            if pages == MAX_PAGES:
                break
            url = urllib.parse.urljoin(base, following)
            if urllib.parse.urlsplit(url).netloc.lower() != parsed.netloc:
                raise FhirFetchError("a paging link leads off the FHIR server")
            page = _get(url, token, until)
            entries += list(page.get("entry") or [])
        raise FhirFetchError(f"a search has more than {MAX_PAGES} pages")


def _next(page: Mapping[str, Any]) -> str | None:
    """The ``next`` paging link of a search Bundle, if any."""
    for link in page.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) else None
    return None
