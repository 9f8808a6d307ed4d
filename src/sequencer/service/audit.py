"""The audit trail: every served answer, every card issued and every feedback, stored in
a database.

Each served answer keeps when, which endpoint, the rule base's version and digest, the
context, a SHA-256 of the request body, the answer itself (zlib-compressed: an answer is
some 30 KB of JSON) and the caller (the verified
token's issuer when authentication is on, else the address). The raw profile is stored
only when the site asks for it (``keep_profiles``): a profile's ``id`` is often a record
number. Each CDS Hooks card issued is kept by its uuid (with its suggestions), so that
feedback can be checked against what was shown; each feedback (accepted or overridden,
the suggestions accepted, the override reason and comment) is stored beside it.

A tumor board's decision recorded on the case page is the same kind of record: a
feedback row (service ``board-page``; its card is the decision's own uuid; outcome
``accepted`` when the board follows the advice, ``overridden`` when it does not,
``no-preference`` when no option was preferred; the override reason and comment) with a
``decisions`` row keyed to it holding what only a board has: the meeting date, who
signed, the option chosen (or another therapy), the advice, the rule base and context
the advice came from, a SHA-256 of the profile it was made from, and the case report
with the decision on it as rendered then (with and without the patient id, compressed),
so the report can be printed again exactly as it was, whatever the rule base has become.
The raw profile is stored there too only when the site keeps profiles.

The database is named by a SQLAlchemy URL: ``sqlite:///PATH`` (a file) or
``postgresql://USER@HOST/DB`` (PostgreSQL through psycopg 3). SQLAlchemy Core keeps
one code path for both; the tables are created when missing (``audit_tables`` defines
them, ``audit_rows`` the records). What is logged and for how long is documented in
docs/service.md ("Audit trail").
"""

from __future__ import annotations

import datetime
import hashlib
import json
import threading
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from sequencer.errors import UsageError
from sequencer.service.audit_rows import (
    AuditRow,
    BoardDecision,
    CardRow,
    ClassAnswer,
    DecisionRow,
    FeedbackRow,
    IssuedCard,
)
from sequencer.service.audit_tables import (
    CARDS,
    CLASS_ANSWERS,
    DECISIONS,
    FEEDBACK,
    SERVED,
    TOKEN_IDS,
    create_or_upgrade,
    open_engine,
)

__all__ = ["BOARD_SERVICE", "AuditLog", "now"]

BOARD_SERVICE = "board-page"
"""The feedback rows' service name for decisions recorded on the board's case page."""


def now() -> str:
    """The time now (UTC, ISO 8601 to the millisecond), as the audit trail stamps rows."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


class _Abandoned(Exception):
    """The answer a record belongs to was given up (a 503 was sent instead)."""


class AuditLog:
    """An append-only log of served answers, issued cards, feedback and the board's
    decisions in one database."""

    def __init__(self, url: str, keep_profiles: bool = False, wait: float = 5.0) -> None:
        """Open the database ``url`` names and create the tables that are missing.

        Raises ``UsageError`` for a URL that is neither ``sqlite:///PATH`` nor
        ``postgresql://...``, or a database that cannot be reached.
        """
        self.keep_profiles = keep_profiles
        self.location = url.split("@")[-1] if "@" in url else url
        """Where the audit is kept, as it may be shown (no password)."""
        try:
            self._engine = open_engine(url, wait)
            create_or_upgrade(self._engine)
        except (ArgumentError, NoSuchModuleError, SQLAlchemyError) as error:
            where = url.split("@")[-1]  # never print a password
            raise UsageError(f"audit: cannot open {where} ({type(error).__name__})") from None

    def record(
        self,
        *,
        endpoint: str,
        status: int,
        rulebook_version: str,
        rulebook_digest: str,
        context: str | None,
        body: bytes,
        output: str,
        caller: str | None,
        cards: Iterable[tuple[str, str, IssuedCard]] = (),
        kept: bytes | None = None,
        abandoned: threading.Event | None = None,
    ) -> None:
        """Store one served answer (the body only as a hash unless profiles are kept;
        ``kept`` is what may be stored of it then, e.g. without a lent token), with the
        CDS cards it issued as ``(service, hook_instance, card)``. When ``abandoned`` is
        set by the time the rows are written (the answer was given up as a 503), they
        are rolled back: the trail holds no answer that was never sent."""
        at = now()
        digest = hashlib.sha256(body).hexdigest()
        stored = kept if kept is not None else body
        profile = stored.decode("utf-8", "replace") if self.keep_profiles else None
        try:
            with self._engine.begin() as db:
                db.execute(
                    SERVED.insert().values(
                        at=at,
                        endpoint=endpoint,
                        status=status,
                        rulebook_version=rulebook_version,
                        rulebook_digest=rulebook_digest,
                        context=context,
                        input_sha256=digest,
                        output_zlib=_pack(output),
                        caller=caller,
                        profile=profile,
                    )
                )
                for service, hook_instance, card in cards:
                    db.execute(
                        CARDS.insert().values(
                            uuid=card.uuid,
                            at=at,
                            service=service,
                            hook_instance=hook_instance,
                            summary=card.summary,
                            indicator=card.indicator,
                            suggestions=json.dumps(list(card.suggestions)),
                            input_sha256=digest,
                        )
                    )
                if abandoned is not None and abandoned.is_set():
                    raise _Abandoned  # rolls the rows back
        except _Abandoned:
            return

    def claim_token(self, issuer: str, jti: str, expires: float, now: float) -> bool:
        """Record the token id ``jti`` of ``issuer`` until ``expires``; return False when
        it is already recorded (a replay), whichever worker or replica saw it first.
        Expired ids are dropped first. Raises SQLAlchemy's errors when the database fails."""
        with self._engine.begin() as db:
            db.execute(TOKEN_IDS.delete().where(TOKEN_IDS.c.expires < now))
        try:
            with self._engine.begin() as db:
                db.execute(TOKEN_IDS.insert().values(issuer=issuer, jti=jti, expires=expires))
        except IntegrityError:
            return False
        return True

    def probe(self) -> None:
        """Check that a record can be written, writing none (the row is rolled back).

        Raises ``UsageError`` naming the database (never its password) when it cannot."""
        try:
            with self._engine.connect() as db:
                trial = db.begin()
                try:
                    db.execute(
                        SERVED.insert().values(
                            at=now(),
                            endpoint="probe",
                            status=0,
                            rulebook_version="",
                            rulebook_digest="",
                            context=None,
                            input_sha256="",
                            output_zlib=b"",
                            caller=None,
                            profile=None,
                        )
                    )
                finally:
                    trial.rollback()
        except SQLAlchemyError as error:
            reason = str(error.orig if hasattr(error, "orig") else error).splitlines()[0][:200]
            raise UsageError(f"audit: cannot write to {self.location} ({reason})") from None

    def cards(self, uuids: Iterable[str]) -> dict[str, CardRow]:
        """The issued cards among ``uuids``, by uuid."""
        wanted = sorted(set(uuids))
        if not wanted:
            return {}
        with self._engine.connect() as db:
            found = db.execute(sa.select(CARDS).where(CARDS.c.uuid.in_(wanted))).mappings()
            return {row["uuid"]: _card(dict(row)) for row in found}

    def record_feedback(
        self, service: str, items: Iterable[Mapping[str, Any]], caller: str | None
    ) -> int:
        """Store feedback items (already checked against the issued cards); returns how
        many were stored. All are stored or none."""
        rows = []
        for item in items:
            reason = (item.get("overrideReason") or {}).get("reason") or {}
            rows.append(
                {
                    "at": now(),
                    "service": service,
                    "card": item["card"],
                    "outcome": item["outcome"],
                    "accepted_suggestions": json.dumps(
                        [s["id"] for s in item.get("acceptedSuggestions") or []]
                    ),
                    "reason_system": reason.get("system"),
                    "reason_code": reason.get("code"),
                    "reason_display": reason.get("display"),
                    "user_comment": (item.get("overrideReason") or {}).get("userComment"),
                    "outcome_at": item["outcomeTimestamp"],
                    "caller": caller,
                }
            )
        if rows:
            with self._engine.begin() as db:
                db.execute(FEEDBACK.insert(), rows)
        return len(rows)

    def record_decision(self, decision: BoardDecision, caller: str | None) -> int:
        """Store a board's decision as a feedback row and the decision row keyed to it,
        both or neither; returns the decision's id. The raw profile is stored only when
        the site keeps profiles; its SHA-256 and the rendered reports always."""
        at = decision.at
        with self._engine.begin() as db:
            feedback = db.execute(
                FEEDBACK.insert().values(
                    at=at,
                    service=BOARD_SERVICE,
                    card=decision.uuid,
                    outcome=decision.outcome,
                    accepted_suggestions="[]",
                    reason_system=decision.reason_system,
                    reason_code=decision.reason_code,
                    reason_display=decision.reason_display,
                    user_comment=decision.comment,
                    outcome_at=decision.meeting_date,
                    caller=caller,
                )
            )
            feedback_id = _inserted(feedback)
            row = db.execute(
                DECISIONS.insert().values(
                    feedback_id=feedback_id,
                    at=at,
                    meeting_date=decision.meeting_date,
                    signed_by=decision.signed_by,
                    patient_id=decision.patient_id,
                    chosen=decision.chosen,
                    chosen_name=decision.chosen_name,
                    advice=decision.advice,
                    advice_name=decision.advice_name,
                    rulebook_version=decision.rulebook_version,
                    rulebook_digest=decision.rulebook_digest,
                    context=decision.context,
                    profile=decision.profile if self.keep_profiles else None,
                    profile_sha256=hashlib.sha256(decision.profile.encode()).hexdigest(),
                    report_zlib=_pack(decision.report),
                    report_no_id_zlib=_pack(decision.report_no_id),
                )
            )
            return _inserted(row)

    def decisions(self, decision_id: int | None = None) -> list[DecisionRow]:
        """The recorded decisions with their feedback, newest first (only ``decision_id``
        when given)."""
        query = (
            sa.select(
                DECISIONS,
                FEEDBACK.c.outcome,
                FEEDBACK.c.reason_code,
                FEEDBACK.c.reason_display,
                FEEDBACK.c.user_comment,
                FEEDBACK.c.caller,
            )
            .join(FEEDBACK, FEEDBACK.c.id == DECISIONS.c.feedback_id)
            .order_by(DECISIONS.c.id.desc())
        )
        if decision_id is not None:
            query = query.where(DECISIONS.c.id == decision_id)
        with self._engine.connect() as db:
            return [
                DecisionRow(
                    id=row["id"],
                    at=row["at"],
                    outcome=row["outcome"],
                    reason_code=row["reason_code"],
                    reason_display=row["reason_display"],
                    comment=row["user_comment"],
                    meeting_date=row["meeting_date"],
                    signed_by=row["signed_by"],
                    patient_id=row["patient_id"],
                    chosen=row["chosen"],
                    chosen_name=row["chosen_name"],
                    advice=row["advice"],
                    advice_name=row["advice_name"],
                    rulebook_version=row["rulebook_version"],
                    rulebook_digest=row["rulebook_digest"],
                    context=row["context"],
                    profile=row["profile"],
                    profile_sha256=row["profile_sha256"],
                    report=_unpack(row["report_zlib"]),
                    report_no_id=_unpack(row["report_no_id_zlib"]),
                    caller=row["caller"],
                )
                for row in db.execute(query).mappings()
            ]

    def rows(self) -> list[AuditRow]:
        """Every stored answer, oldest first."""
        with self._engine.connect() as db:
            found = db.execute(sa.select(SERVED).order_by(SERVED.c.id)).mappings()
            return [
                AuditRow(
                    **{str(k): v for k, v in row.items() if k not in ("id", "output_zlib")},
                    output=zlib.decompress(row["output_zlib"]).decode("utf-8"),
                )
                for row in found
            ]

    def feedback(self) -> list[FeedbackRow]:
        """Every feedback stored, oldest first."""
        with self._engine.connect() as db:
            found = db.execute(sa.select(FEEDBACK).order_by(FEEDBACK.c.id)).mappings()
            return [
                FeedbackRow(
                    at=row["at"],
                    service=row["service"],
                    card=row["card"],
                    outcome=row["outcome"],
                    accepted_suggestions=tuple(json.loads(row["accepted_suggestions"])),
                    reason_system=row["reason_system"],
                    reason_code=row["reason_code"],
                    reason_display=row["reason_display"],
                    user_comment=row["user_comment"],
                    outcome_at=row["outcome_at"],
                    caller=row["caller"],
                )
                for row in found
            ]

    def record_class_answer(self, answer: ClassAnswer) -> None:
        """Store one student's answer (the classroom)."""
        with self._engine.begin() as db:
            db.execute(
                CLASS_ANSWERS.insert().values(
                    at=answer.at,
                    class_code=answer.class_code,
                    student=answer.student,
                    case_key=answer.case_key,
                    rulebook_version=answer.rulebook_version,
                    rulebook_digest=answer.rulebook_digest,
                    choice=answer.choice,
                    deciding=json.dumps(list(answer.deciding)),
                    set_aside=json.dumps(list(answer.set_aside)),
                    points=answer.points,
                    max_points=answer.max_points,
                )
            )

    def class_answers(self, class_code: str) -> list[ClassAnswer]:
        """Every answer stored under ``class_code`` oldest first."""
        table = CLASS_ANSWERS
        with self._engine.connect() as db:
            found = db.execute(
                sa.select(table).where(table.c.class_code == class_code).order_by(table.c.id)
            ).mappings()
            return [
                ClassAnswer(
                    **{
                        str(k): v
                        for k, v in row.items()
                        if k not in ("id", "deciding", "set_aside")
                    },
                    deciding=tuple(json.loads(row["deciding"])),
                    set_aside=tuple(json.loads(row["set_aside"])),
                )
                for row in found
            ]

    def close(self) -> None:
        """Close every connection to the database."""
        self._engine.dispose()


def _pack(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), 6)


def _unpack(packed: bytes | None) -> str | None:
    return None if packed is None else zlib.decompress(packed).decode("utf-8")


def _inserted(result: sa.CursorResult[Any]) -> int:
    """The primary key of the row ``result`` inserted (both databases return it)."""
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - SQLite and PostgreSQL always return it
        raise SQLAlchemyError("the database returned no key for the inserted row")
    return int(key[0])


def _card(row: Mapping[str, Any]) -> CardRow:
    return CardRow(
        uuid=row["uuid"],
        at=row["at"],
        service=row["service"],
        hook_instance=row["hook_instance"],
        summary=row["summary"],
        indicator=row["indicator"],
        suggestions=tuple(json.loads(row["suggestions"])),
        input_sha256=row["input_sha256"],
    )
