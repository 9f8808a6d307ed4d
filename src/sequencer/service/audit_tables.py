"""The audit database: its tables (SQLAlchemy Core: one definition for SQLite and
PostgreSQL, created when missing) and how its URL is opened."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from sequencer.errors import UsageError

__all__ = [
    "CARDS",
    "CLASS_ANSWERS",
    "DECISIONS",
    "FEEDBACK",
    "METADATA",
    "SERVED",
    "TOKEN_IDS",
    "create_or_upgrade",
    "open_engine",
]

METADATA = sa.MetaData()

SERVED = sa.Table(
    "served",
    METADATA,
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

CARDS = sa.Table(
    "cards",
    METADATA,
    sa.Column("uuid", sa.String(64), primary_key=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("hook_instance", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("indicator", sa.Text, nullable=False),
    sa.Column("suggestions", sa.Text, nullable=False),
    sa.Column("input_sha256", sa.Text, nullable=False),
)

FEEDBACK = sa.Table(
    "feedback",
    METADATA,
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

DECISIONS = sa.Table(
    "decisions",
    METADATA,
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
    sa.Column("profile", sa.Text),  # only with keep_profiles (NOT NULL in older databases)
    sa.Column("profile_sha256", sa.Text),
    sa.Column("report_zlib", sa.LargeBinary),
    sa.Column("report_no_id_zlib", sa.LargeBinary),
)
"""A board's decision. ``profile`` is the raw profile, stored only when the site keeps
profiles; ``profile_sha256`` its hash; ``report_zlib`` and ``report_no_id_zlib`` the case
report with the decision on it as rendered when it was recorded, with and without the
patient id (zlib-compressed HTML). Rows of older databases have the profile and no
report."""

# CDS Hooks client token ids seen (jti), until they expire: one table every worker and
# replica shares, so a token is accepted once across all of them (sequencer.service.auth).
TOKEN_IDS = sa.Table(
    "token_ids",
    METADATA,
    sa.Column("issuer", sa.String(512), primary_key=True),
    sa.Column("jti", sa.String(512), primary_key=True),
    sa.Column("expires", sa.Float, nullable=False, index=True),
)

# The classroom's answers (sequencer.service.classroom).
CLASS_ANSWERS = sa.Table(
    "class_answers",
    METADATA,
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


def open_engine(url: str, wait: float = 5.0) -> sa.Engine:
    """The engine for ``url``: SQLite files and PostgreSQL; anything else refused. A
    lock or a statement is waited for at most ``wait`` seconds, so that a write the
    service has given up on fails in the database rather than landing later."""
    millis = max(50, int(wait * 1000))
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": max(0.05, wait)}
        )

        @sa.event.listens_for(engine, "connect")
        def _wal(connection: Any, _: Any) -> None:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA busy_timeout={millis}")

        return engine
    if url.startswith(("postgresql://", "postgresql+psycopg://")):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        options = f"-c statement_timeout={millis} -c lock_timeout={millis}"
        return sa.create_engine(
            url,
            pool_pre_ping=True,
            pool_timeout=max(1.0, wait),
            connect_args={"connect_timeout": max(1, round(wait)), "options": options},
        )
    raise UsageError(
        "audit: only sqlite:///PATH and postgresql://... databases are supported; "
        f"got {url.split('://')[0]!r}"
    )


_ADDED = ("profile_sha256", "report_zlib", "report_no_id_zlib")
"""Columns of ``decisions`` that older databases lack (added when the database opens)."""


def create_or_upgrade(engine: sa.Engine) -> None:
    """Create the tables that are missing and bring an older ``decisions`` table up to
    date: the columns it lacks added, and its ``profile`` made optional (PostgreSQL drops
    the NOT NULL; SQLite, which cannot, copies the table into the new definition inside
    one transaction). Every row is kept as it was."""
    METADATA.create_all(engine)
    columns = {c["name"]: c for c in sa.inspect(engine).get_columns("decisions")}
    with engine.begin() as db:
        for name in _ADDED:
            if name not in columns:
                kind = DECISIONS.c[name].type.compile(engine.dialect)
                db.execute(sa.text(f"ALTER TABLE decisions ADD COLUMN {name} {kind}"))
        if columns["profile"]["nullable"]:
            return
        if engine.dialect.name == "postgresql":
            db.execute(sa.text("ALTER TABLE decisions ALTER COLUMN profile DROP NOT NULL"))
            return
        copy = sa.MetaData()
        FEEDBACK.to_metadata(copy)  # the foreign key's target, for the DDL
        upgraded = DECISIONS.to_metadata(copy, name="decisions_upgraded")
        upgraded.create(db)
        names = ", ".join(c.name for c in DECISIONS.columns)
        db.execute(
            sa.text(f"INSERT INTO decisions_upgraded ({names}) SELECT {names} FROM decisions")
        )
        db.execute(sa.text("DROP TABLE decisions"))
        db.execute(sa.text("ALTER TABLE decisions_upgraded RENAME TO decisions"))
