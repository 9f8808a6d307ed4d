"""The audit trail's records: a board's decision as the case page sends it, a card as
issued, a student's answer, and each row as it is read back."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AuditRow",
    "BoardDecision",
    "CardRow",
    "ClassAnswer",
    "DecisionFacts",
    "DecisionRow",
    "FeedbackRow",
    "IssuedCard",
]


@dataclass(frozen=True)
class DecisionFacts:
    """What a board's decision says, as sent and as stored: the outcome against the
    advice, the override reason, the comment, the meeting, the signer, the chosen and the
    advised option (ids and names), and the rule base and context it was made under.

    ``chosen`` is an option id or ``other`` (then ``chosen_name`` names the therapy);
    ``advice`` is the preferred option's id, ``None`` when none was preferred; ``outcome``
    is ``accepted``, ``overridden`` or ``no-preference``.
    """

    outcome: str
    reason_code: str | None
    reason_display: str | None
    comment: str | None
    meeting_date: str
    signed_by: str
    patient_id: str
    chosen: str
    chosen_name: str
    advice: str | None
    advice_name: str
    rulebook_version: str
    rulebook_digest: str
    context: str


@dataclass(frozen=True)
class BoardDecision(DecisionFacts):
    """A tumor board's decision, as the case page sends it to be stored.

    ``profile`` is the profile as JSON (stored only when the site keeps profiles; its
    hash always); ``report`` and ``report_no_id`` the case report with the decision on it,
    with and without the patient id, as rendered when the decision is recorded at ``at``.
    """

    uuid: str
    reason_system: str | None
    profile: str
    at: str
    report: str
    report_no_id: str


@dataclass(frozen=True)
class DecisionRow(DecisionFacts):
    """A recorded decision with its feedback row, as stored."""

    id: int
    at: str
    profile: str | None
    """The raw profile: only when the site keeps profiles (and in rows of older databases)."""
    profile_sha256: str | None
    report: str | None
    """The report as rendered when recorded (``None`` in rows of older databases)."""
    report_no_id: str | None
    caller: str | None


@dataclass(frozen=True)
class AuditRow:
    """One served answer, as stored."""

    at: str
    endpoint: str
    status: int
    rulebook_version: str
    rulebook_digest: str
    context: str | None
    input_sha256: str
    output: str
    caller: str | None
    profile: str | None


@dataclass(frozen=True)
class IssuedCard:
    """A CDS Hooks card as issued: its uuid, summary, indicator and suggestion uuids."""

    uuid: str
    summary: str
    indicator: str
    suggestions: tuple[str, ...]


@dataclass(frozen=True)
class CardRow:
    """A card issued, as stored."""

    uuid: str
    at: str
    service: str
    hook_instance: str
    summary: str
    indicator: str
    suggestions: tuple[str, ...]
    input_sha256: str


@dataclass(frozen=True)
class FeedbackRow:
    """What a clinician did with a card, as the CDS client reported it."""

    at: str
    service: str
    card: str
    outcome: str
    accepted_suggestions: tuple[str, ...]
    reason_system: str | None
    reason_code: str | None
    reason_display: str | None
    user_comment: str | None
    outcome_at: str
    caller: str | None


@dataclass(frozen=True)
class ClassAnswer:
    """A student's answer to one exercise, as stored for the class's teacher."""

    at: str
    class_code: str
    student: str
    """The name as typed (may be empty: anonymous); shown escaped."""
    case_key: str
    rulebook_version: str
    rulebook_digest: str
    choice: str
    deciding: tuple[str, ...]
    """The statements' letters ticked as deciding (letters of that rule base's exercise)."""
    set_aside: tuple[str, ...]
    points: int
    max_points: int
