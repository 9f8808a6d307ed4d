"""Reading what a CDS client did not prefetch from its FHIR server.

CDS Hooks lets a client send ``fhirServer`` (and an access token in
``fhirAuthorization``) instead of, or beside, prefetched data; the service then runs
its prefetch templates against that server itself. Reads are bounded: a timeout per
request, a size limit per response, a number of pages per search, and paging links are
followed only on the same server.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_PAGES", "MAX_RESPONSE", "FhirFetchError", "fetch", "render_template"]

MAX_PAGES = 10
"""Search result pages followed per prefetch template."""

MAX_RESPONSE = 5_000_000
"""The largest FHIR response read, in bytes."""

TIMEOUT = 5.0
"""Seconds allowed per FHIR request."""


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


def _get(url: str, token: str | None) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/fhir+json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:
            body = reply.read(MAX_RESPONSE + 1)
    except urllib.error.HTTPError as error:
        raise FhirFetchError(f"the FHIR server answered {error.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise FhirFetchError(f"the FHIR server could not be reached ({error})") from None
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


def fetch(server: str, relative: str, token: str | None) -> dict[str, Any]:
    """Return the resource or search Bundle ``relative`` names on ``server`` (following
    ``next`` pages on the same server, at most ``MAX_PAGES``).

    Raises ``FhirFetchError`` when the server is unreachable, refuses, or answers with
    something that is not FHIR JSON.
    """
    base = server.rstrip("/") + "/"
    parsed = urllib.parse.urlsplit(base)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise FhirFetchError("fhirServer must be an http(s) URL")
    first = _get(urllib.parse.urljoin(base, relative), token)
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
        if urllib.parse.urlsplit(url).netloc != parsed.netloc:
            raise FhirFetchError("a paging link leads off the FHIR server")
        page = _get(url, token)
        entries += list(page.get("entry") or [])
    raise FhirFetchError(f"a search has more than {MAX_PAGES} pages")


def _next(page: Mapping[str, Any]) -> str | None:
    """The ``next`` paging link of a search Bundle, if any."""
    for link in page.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) else None
    return None
