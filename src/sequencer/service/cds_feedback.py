"""CDS Hooks feedback: what a clinician did with each card (accepted, with the
suggestions taken, or overridden, with a reason and comment), validated, and checked
against the cards issued and the override reasons they offer."""

from __future__ import annotations

import datetime
import re
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from sequencer.errors import Problem
from sequencer.service.cds_cards import OVERRIDE_SYSTEM
from sequencer.service.cds_request import STRICT, Text

__all__ = ["FeedbackRequest", "feedback_problems"]


class Coding(BaseModel):
    """A CDS Hooks Coding."""

    model_config = STRICT
    system: Text
    code: Text
    display: Text | None = None


class OverrideReason(BaseModel):
    """Why a clinician overrode a card: a reason from the card and/or a comment."""

    model_config = STRICT
    reason: Coding | None = None
    userComment: Annotated[str, Field(min_length=1, max_length=4000)] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> OverrideReason:
        if self.reason is None and self.userComment is None:
            raise ValueError("give a reason, a comment or both (empty objects are not sent)")
        return self


class AcceptedSuggestion(BaseModel):
    """A suggestion the clinician accepted."""

    model_config = STRICT
    id: Text


class FeedbackItem(BaseModel):
    """What happened to one card."""

    model_config = STRICT
    card: Text
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: Text
    extension: dict[str, Any] | None = None  # the spec's place for additions, kept unread

    @field_validator("outcomeTimestamp")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        try:
            when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if not _RFC3339.match(value) or when is None:
            raise ValueError("an RFC 3339 date and time with its offset (2026-11-29T10:05:31Z)")
        return value

    @model_validator(mode="after")
    def _suggestions_only_when_accepted(self) -> FeedbackItem:
        if self.outcome == "overridden" and self.acceptedSuggestions:
            raise ValueError("an overridden card has no accepted suggestions")
        return self


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


class FeedbackRequest(BaseModel):
    """The body of a feedback call."""

    model_config = STRICT
    feedback: Annotated[list[FeedbackItem], Field(min_length=1, max_length=100)]


def feedback_problems(
    request: FeedbackRequest,
    service: str,
    issued: Mapping[str, tuple[str, tuple[str, ...]]],
    reasons: Collection[str],
) -> list[Problem]:
    """Every problem of a feedback call against the cards issued (uuid -> service and
    suggestion uuids) and the override reasons offered (``reasons``, codes of
    ``OVERRIDE_SYSTEM``): unknown cards, suggestions not on the card, an acceptance
    without suggestions, a reason of ours the cards do not offer. A client's own reason
    codes (another system) are kept as sent."""
    problems = []
    for i, item in enumerate(request.feedback):
        where = f"feedback[{i}]"
        card = issued.get(item.card)
        if card is None or card[0] != service:
            problems.append(
                Problem(f"{where}.card", f"no card {item.card} of {service}", "invalid_value")
            )
            continue
        if item.outcome == "accepted":
            if not item.acceptedSuggestions:
                problems.append(
                    Problem(
                        f"{where}.acceptedSuggestions",
                        "required for an accepted outcome",
                        "missing_field",
                    )
                )
            for j, accepted in enumerate(item.acceptedSuggestions or []):
                if accepted.id not in card[1]:
                    problems.append(
                        Problem(
                            f"{where}.acceptedSuggestions[{j}].id",
                            "not a suggestion of this card",
                            "invalid_value",
                        )
                    )
        reason = item.overrideReason.reason if item.overrideReason else None
        if reason is not None and reason.system == OVERRIDE_SYSTEM and reason.code not in reasons:
            problems.append(
                Problem(
                    f"{where}.overrideReason.reason.code",
                    "not an override reason the cards offer",
                    "invalid_value",
                )
            )
    return problems
