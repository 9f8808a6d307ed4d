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
the advice came from, and the profile it was made from (so the report can be printed
again with the decision on it).

The database is named by a SQLAlchemy URL: ``sqlite:///PATH`` (a file) or
``postgresql://USER@HOST/DB`` (PostgreSQL through psycopg 3). SQLAlchemy Core keeps
one code path for both; the tables are created when missing. What is logged and for
how long is documented in the README ("Audit trail").
"""

from __future__ import annotations

import datetime
import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from sequencer.errors import UsageError

__all__ = [
    "BOARD_SERVICE",
    "AuditLog",
    "AuditRow",
    "BoardDecision",
    "CardRow",
    "ClassAnswer",
    "DecisionRow",
    "FeedbackRow",
    "IssuedCard",
]

BOARD_SERVICE = "board-page"
"""The feedback rows' service name for decisions recorded on the board's case page."""

_META = sa.MetaData()

_SERVED = sa.Table(
    "served",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("endpoint", sa.Text, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("rulebook_version", sa.Text, nullable=False),
    sa.Column("rulebook_digest", sa.Text, nullable=False),
    sa.Column("context", sa.Text),
    sa.Column("input_sha256", sa.Text, nullable=False),
    sa.Column("output_zlib", sa.LargeBinary, nullable=False),
    sa.Column("caller", sa.Text),
    sa.Column("profile", sa.Text),
)

_CARDS = sa.Table(
    "cards",
    _META,
    sa.Column("uuid", sa.String(64), primary_key=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("hook_instance", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("indicator", sa.Text, nullable=False),
    sa.Column("suggestions", sa.Text, nullable=False),
    sa.Column("input_sha256", sa.Text, nullable=False),
)

_FEEDBACK = sa.Table(
    "feedback",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("card", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("accepted_suggestions", sa.Text, nullable=False),
    sa.Column("reason_system", sa.Text),
    sa.Column("reason_code", sa.Text),
    sa.Column("reason_display", sa.Text),
    sa.Column("user_comment", sa.Text),
    sa.Column("outcome_at", sa.Text, nullable=False),
    sa.Column("caller", sa.Text),
)

_DECISIONS = sa.Table(
    "decisions",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("feedback_id", sa.Integer, sa.ForeignKey("feedback.id"), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("meeting_date", sa.String(10), nullable=False),
    sa.Column("signed_by", sa.String(200), nullable=False),
    sa.Column("patient_id", sa.String(200), nullable=False),
    sa.Column("chosen", sa.String(80), nullable=False),
    sa.Column("chosen_name", sa.String(200), nullable=False),
    sa.Column("advice", sa.String(80)),
    sa.Column("advice_name", sa.String(200), nullable=False),
    sa.Column("rulebook_version", sa.String(40), nullable=False),
    sa.Column("rulebook_digest", sa.String(80), nullable=False),
    sa.Column("context", sa.String(80), nullable=False),
    sa.Column("profile", sa.Text, nullable=False),
)


@dataclass(frozen=True)
class BoardDecision:
    """A tumor board's decision, as the case page sends it to be stored.

    ``chosen`` is an option id or ``other`` (then ``chosen_name`` names the therapy);
    ``advice`` is the preferred option's id, ``None`` when none was preferred; ``outcome``
    is ``accepted``, ``overridden`` or ``no-preference``.
    """

    uuid: str
    outcome: str
    reason_system: str | None
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
    profile: str


@dataclass(frozen=True)
class DecisionRow:
    """A recorded decision with its feedback row, as stored."""

    id: int
    at: str
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
    profile: str
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


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def _engine(url: str) -> sa.Engine:
    """The engine for ``url``: SQLite files and PostgreSQL; anything else refused."""
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _wal(connection: Any, _: Any) -> None:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA busy_timeout=5000")

        return engine
    if url.startswith(("postgresql://", "postgresql+psycopg://")):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        return sa.create_engine(url, pool_pre_ping=True)
    raise UsageError(
        "audit: only sqlite:///PATH and postgresql://... databases are supported; "
        f"got {url.split('://')[0]!r}"
    )


class AuditLog:
    """An append-only log of served answers, issued cards, feedback and the board's
    decisions in one database."""

    def __init__(self, url: str, keep_profiles: bool = False) -> None:
        """Open the database ``url`` names and create the tables that are missing.

        Raises ``UsageError`` for a URL that is neither ``sqlite:///PATH`` nor
        ``postgresql://...``, or a database that cannot be reached.
        """
        self.keep_profiles = keep_profiles
        try:
            self._engine = _engine(url)
            _META.create_all(self._engine)
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
    ) -> None:
        """Store one served answer (the body only as a hash unless profiles are kept;
        ``kept`` is what may be stored of it then, e.g. without a lent token), with the
        CDS cards it issued as ``(service, hook_instance, card)``."""
        at = _now()
        digest = hashlib.sha256(body).hexdigest()
        stored = kept if kept is not None else body
        profile = stored.decode("utf-8", "replace") if self.keep_profiles else None
        with self._engine.begin() as db:
            db.execute(
                _SERVED.insert().values(
                    at=at,
                    endpoint=endpoint,
                    status=status,
                    rulebook_version=rulebook_version,
                    rulebook_digest=rulebook_digest,
                    context=context,
                    input_sha256=digest,
                    output_zlib=zlib.compress(output.encode("utf-8"), 6),
                    caller=caller,
                    profile=profile,
                )
            )
            for service, hook_instance, card in cards:
                db.execute(
                    _CARDS.insert().values(
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

    def cards(self, uuids: Iterable[str]) -> dict[str, CardRow]:
        """The issued cards among ``uuids``, by uuid."""
        wanted = sorted(set(uuids))
        if not wanted:
            return {}
        with self._engine.connect() as db:
            found = db.execute(sa.select(_CARDS).where(_CARDS.c.uuid.in_(wanted))).mappings()
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
                    "at": _now(),
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
                db.execute(_FEEDBACK.insert(), rows)
        return len(rows)

    def record_decision(self, decision: BoardDecision, caller: str | None) -> int:
        """Store a board's decision as a feedback row and the decision row keyed to it,
        both or neither; returns the decision's id."""
        at = _now()
        with self._engine.begin() as db:
            feedback = db.execute(
                _FEEDBACK.insert().values(
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
                _DECISIONS.insert().values(
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
                    profile=decision.profile,
                )
            )
            return _inserted(row)

    def decisions(self, decision_id: int | None = None) -> list[DecisionRow]:
        """The recorded decisions with their feedback, newest first (only ``decision_id``
        when given)."""
        query = (
            sa.select(
                _DECISIONS,
                _FEEDBACK.c.outcome,
                _FEEDBACK.c.reason_code,
                _FEEDBACK.c.reason_display,
                _FEEDBACK.c.user_comment,
                _FEEDBACK.c.caller,
            )
            .join(_FEEDBACK, _FEEDBACK.c.id == _DECISIONS.c.feedback_id)
            .order_by(_DECISIONS.c.id.desc())
        )
        if decision_id is not None:
            query = query.where(_DECISIONS.c.id == decision_id)
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
                    caller=row["caller"],
                )
                for row in db.execute(query).mappings()
            ]

    def rows(self) -> list[AuditRow]:
        """Every stored answer, oldest first."""
        with self._engine.connect() as db:
            found = db.execute(sa.select(_SERVED).order_by(_SERVED.c.id)).mappings()
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
            found = db.execute(sa.select(_FEEDBACK).order_by(_FEEDBACK.c.id)).mappings()
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
                _CLASS_ANSWERS.insert().values(
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
        table = _CLASS_ANSWERS
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


# --- the classroom's answers (sequencer.service.classroom) ------------------------

_CLASS_ANSWERS = sa.Table(
    "class_answers",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("class_code", sa.String(64), nullable=False, index=True),
    sa.Column("student", sa.Text, nullable=False),
    sa.Column("case_key", sa.Text, nullable=False),
    sa.Column("rulebook_version", sa.Text, nullable=False),
    sa.Column("rulebook_digest", sa.Text, nullable=False),
    sa.Column("choice", sa.Text, nullable=False),
    sa.Column("deciding", sa.Text, nullable=False),
    sa.Column("set_aside", sa.Text, nullable=False),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Column("max_points", sa.Integer, nullable=False),
)


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
