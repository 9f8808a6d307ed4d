"""How a tumor-board system would use sequencer: score a day's list, store the results.

Run it on the example list (one v1 profile per line, one deliberately invalid, so
``sequencer recommend --batch`` on the same file exits 2 by design)::

    python examples/tumor_board.py examples/tumor_board_day.jsonl --db board.sqlite3

Each patient gets a row with the preferred option, whether it is a close call, the full
recommendation as JSON, and the rule base version and digest, so that the advice can be
audited later against the exact rules that produced it. A profile that fails validation
is stored with its problems instead; it never gets a recommendation.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sequencer import ProfileError, Recommendation, SequencerError, recommend

SCHEMA = """
CREATE TABLE IF NOT EXISTS recommendations (
    board_date   TEXT NOT NULL,
    line         INTEGER NOT NULL,
    patient_id   TEXT,
    preferred    TEXT,
    choice       TEXT,
    close_call   INTEGER,
    summary      TEXT,
    problems     TEXT,
    result_json  TEXT,
    rules_version TEXT,
    rules_digest TEXT,
    created_at   TEXT NOT NULL
)
"""


def read_list(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON or the raw text if it is not JSON) per line."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError:
                yield number, line


def choice(rec: Recommendation) -> str:
    """What to show the board: the preferred option, or why there is none."""
    if rec.preferred:
        return rec.preferred
    if any(o.status != "not_eligible" for o in rec.options):
        return "undecided"  # a tie, or a blocking missing fact such as CD19 status
    return "neither"


def score_day(path: Path, db: sqlite3.Connection, board_date: str) -> dict[str, int]:
    """Score every patient on the list; return counts of stored results and rejections."""
    db.execute(SCHEMA)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    counts = {"recommended": 0, "rejected": 0}
    for line, data in read_list(path):
        given_id = data.get("id") if isinstance(data, dict) else None
        patient_id = given_id if isinstance(given_id, str) else None
        try:
            rec = recommend(data if isinstance(data, dict) else str(data))
        except ProfileError as error:
            problems = json.dumps(
                [{"field": p.field, "message": p.message} for p in error.problems]
            )
            db.execute(
                "INSERT INTO recommendations (board_date, line, patient_id, problems, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (board_date, line, patient_id, problems, now),
            )
            counts["rejected"] += 1
            continue
        db.execute(
            "INSERT INTO recommendations VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
            (
                board_date,
                line,
                rec.patient_id,
                rec.preferred,
                choice(rec),
                int(rec.close_call),
                rec.summary,
                rec.model_dump_json(),
                rec.rulebook.version,
                rec.rulebook.digest,
                now,
            ),
        )
        counts["recommended"] += 1
    db.commit()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("day_list", type=Path, help="JSON Lines file, one profile per line")
    parser.add_argument("--db", type=Path, default=Path("tumor_board.sqlite3"))
    parser.add_argument("--date", default=datetime.now(UTC).date().isoformat())
    args = parser.parse_args(argv)
    try:
        with sqlite3.connect(args.db) as db:
            counts = score_day(args.day_list, db, args.date)
            rows = db.execute(
                "SELECT line, patient_id, choice, close_call, summary, problems "
                "FROM recommendations WHERE board_date = ? ORDER BY rowid DESC LIMIT ?",
                (args.date, sum(counts.values())),
            ).fetchall()
    except (OSError, SequencerError) as error:
        print(f"tumor_board: {error}", file=sys.stderr)
        return 2
    for line, pid, shown, close, summary, problems in reversed(rows):
        if problems:
            fields = ", ".join(p["field"] or "<profile>" for p in json.loads(problems))
            print(f"line {line:>2} {pid or '?':<24} REJECTED ({fields})")
        else:
            flag = " [close call]" if close else ""
            print(f"line {line:>2} {pid:<24} {shown:<13}{flag} {summary}")
    print(
        f"{counts['recommended']} recommended, {counts['rejected']} rejected; stored in {args.db}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
