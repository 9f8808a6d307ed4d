"""A CDS Hooks service call: its validation (with the lent access token never quoted
or stored), the ``sequencer.as_of`` extension, and the FHIR data it needs, prefetched or
read from the client's FHIR server (a 412 when neither gives it)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sequencer.errors import Problem, ProfileError
from sequencer.model.parsing import problems_from
from sequencer.service.cds_discovery import HOOKS, PREFETCH
from sequencer.service.fhirclient import FhirFetchError, render_template

__all__ = [
    "AS_OF",
    "STRICT",
    "CdsRequest",
    "PrefetchMissing",
    "Text",
    "as_of_day",
    "fetch_resources",
    "parse_request",
    "without_token",
]

# The call models (and the feedback's, in ``cds_feedback``): no other fields, frozen.
STRICT = ConfigDict(extra="forbid", frozen=True)

Text = Annotated[str, Field(min_length=1, max_length=500)]


class FhirAuthorization(BaseModel):
    """An access token the client lends for reading its FHIR server."""

    model_config = STRICT
    access_token: Annotated[str, Field(min_length=1, max_length=8000)]
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None


class HookContext(BaseModel):
    """The hook's context: the user and patient, and for ``order-select`` the orders.

    Other fields are accepted and ignored (``ignored``): hooks add optional context
    fields in minor versions, and a service shall not refuse a call for them."""

    model_config = ConfigDict(extra="allow", frozen=True)
    userId: Text
    patientId: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-.]+$")]
    encounterId: Text | None = None
    selections: list[Text] | None = None
    draftOrders: dict[str, Any] | None = None

    def ignored(self) -> list[str]:
        """The context fields sent that the service does not read, sorted."""
        return sorted(self.model_extra or {})


class CdsRequest(BaseModel):
    """A CDS Hooks service call (only ``extension`` may be added to the fields the
    specification defines)."""

    model_config = STRICT
    hook: Literal["patient-view", "order-select"]
    hookInstance: Text
    fhirServer: Annotated[str, Field(pattern=r"^https?://", max_length=2000)] | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: HookContext
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None


class PrefetchMissing(Exception):
    """Required FHIR data was neither prefetched nor readable (answered with a 412)."""

    def __init__(self, keys: list[str], why: str) -> None:
        self.keys = keys
        super().__init__(why)


def _without_secrets(problem: Problem) -> Problem:
    """A problem of the lent FHIR authorization, without the value it quotes (a token)."""
    if not problem.field.startswith("fhirAuthorization"):
        return problem
    return Problem(problem.field, problem.message.split("; got ")[0], problem.code)


def without_token(body: Any) -> Any:
    """The call as it may be stored: the lent access token replaced by ``***``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("fhirAuthorization"), Mapping):
        return body
    lent = dict(body["fhirAuthorization"])
    if "access_token" in lent:
        lent["access_token"] = "***"
    return {**body, "fhirAuthorization": lent}


def parse_request(service: str, body: Any) -> CdsRequest:
    """Return the validated call of ``service``; raises ``ProfileError`` listing every
    problem (with its path) when the body is not a call of that service's hook."""
    if not isinstance(body, Mapping):
        raise ProfileError([Problem("", "a CDS Hooks request is a JSON object", "not_an_object")])
    try:
        request = CdsRequest.model_validate(dict(body))
    except ValidationError as error:
        raise ProfileError([_without_secrets(p) for p in problems_from(error)]) from None
    problems = []
    if request.hook != HOOKS[service]:
        problems.append(
            Problem("hook", f"{service} answers the {HOOKS[service]} hook", "invalid_value")
        )
    if request.fhirAuthorization is not None and request.fhirServer is None:
        problems.append(
            Problem("fhirServer", "required when fhirAuthorization is given", "missing_field")
        )
    if request.hook == "order-select":
        for name in ("selections", "draftOrders"):
            if getattr(request.context, name) is None:
                problems.append(
                    Problem(f"context.{name}", "order-select requires it", "missing_field")
                )
    if problems:
        raise ProfileError(problems)
    return request


def fetch_resources(
    request: CdsRequest, reader: Callable[[str, str, str | None], dict[str, Any]]
) -> dict[str, Any]:
    """The FHIR data for the call by prefetch key: prefetched, or read from the client's
    server (a key whose value is null, the record holding nothing, is left out)."""
    found: dict[str, Any] = {}
    absent: list[str] = []
    sent = request.prefetch or {}
    token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
    context = request.context.model_dump()
    for key, template in PREFETCH.items():
        value = sent.get(key, ...)
        if value is ... or failed_prefetch(value) or incomplete(value):
            if request.fhirServer is None:
                absent.append(key)
                continue
            try:
                value = reader(request.fhirServer, render_template(template, context), token)
            except FhirFetchError as error:
                raise PrefetchMissing([key], f"{key}: {error}") from None
        if value is not None:
            found[key] = value
    if absent:
        raise PrefetchMissing(
            absent,
            "not prefetched (or only partly: a failed search, or a page with a next link) "
            f"and no fhirServer to read them from: {', '.join(absent)}",
        )
    return found


def failed_prefetch(value: Any) -> bool:
    """Whether a prefetched value says the client's search failed: an OperationOutcome,
    or a searchset carrying one (search mode ``outcome``) with an error or fatal issue."""
    if not isinstance(value, Mapping):
        return False
    if value.get("resourceType") == "OperationOutcome":
        return True
    if value.get("resourceType") != "Bundle":
        return False
    for entry in value.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        mode = (entry.get("search") or {}).get("mode") if isinstance(entry, Mapping) else None
        if isinstance(resource, Mapping) and resource.get("resourceType") == "OperationOutcome":
            issues = resource.get("issue") or []
            severe = any(
                isinstance(i, Mapping) and i.get("severity") in ("error", "fatal") for i in issues
            )
            if severe and mode in ("outcome", None):
                return True
    return False


def incomplete(value: Any) -> bool:
    """Whether a prefetched searchset is one page of more (it has a ``next`` link): the
    client paginated, so the rest must be read from its FHIR server."""
    if not isinstance(value, Mapping) or value.get("resourceType") != "Bundle":
        return False
    links = value.get("link") or []
    return any(isinstance(link, Mapping) and link.get("relation") == "next" for link in links)


AS_OF = "sequencer.as_of"
"""A request extension naming the day to read the record as of (ISO date), for replaying
a past record (teaching, validation); without it, today."""


def as_of_day(request: CdsRequest) -> datetime.date | None:
    """The day the request reads the record as of (its ``sequencer.as_of`` extension)."""
    value = (request.extension or {}).get(AS_OF)
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise ProfileError(
            [Problem(f"extension.{AS_OF}", "an ISO date (YYYY-MM-DD)", "invalid_value")]
        ) from None
