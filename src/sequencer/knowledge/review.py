"""Clinical sign-off of the rule base: who reviewed each rule, and whether it is due.

A rule (and the rule base as a whole, in ``rulebook.yaml``) may carry
``sign_off: {by, signed, due}``. A rule without one has no recorded clinical sign-off; a
rule whose ``due`` date has passed is stale. Both are said out loud: ``sequencer rules
--stale`` lists them, and every recommendation's rule-base stamp names the rules that
fired for it without a current sign-off.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import SignOff

__all__ = ["ReviewEntry", "review_of", "rule_base_review", "stale_rules", "today"]


def today() -> datetime.date:
    """Today's date (one place, so that tests can fix it)."""
    return datetime.date.today()


@dataclass(frozen=True)
class ReviewEntry:
    """A rule (or ``*`` for the rule base) that needs review, and why."""

    rule: str
    reason: str  # "never signed off" or "due <date> (signed off by <who> on <date>)"
    due: datetime.date | None


def _reason(sign_off: SignOff | None, on: datetime.date) -> str | None:
    if sign_off is None:
        return "never signed off"
    if sign_off.due < on:
        return f"due {sign_off.due} (signed off by {sign_off.by} on {sign_off.signed})"
    return None


def stale_rules(book: Rulebook, on: datetime.date | None = None) -> list[ReviewEntry]:
    """Return the rule base itself (``*``) and every active rule that has no sign-off or
    whose review is past due ``on`` (default: today), the oldest due first."""
    when = on or today()
    out = []
    reason = _reason(book.sign_off, when)
    if reason is not None:
        out.append(ReviewEntry("*", reason, book.sign_off.due if book.sign_off else None))
    for rule in book.active:
        reason = _reason(rule.sign_off, when)
        if reason is not None:
            out.append(ReviewEntry(rule.id, reason, rule.sign_off.due if rule.sign_off else None))
    return sorted(out, key=lambda e: (e.due is None, e.due or when, e.rule))


def review_of(
    book: Rulebook, fired: Iterable[str], on: datetime.date | None = None
) -> tuple[list[str], list[str]]:
    """Return (stale, unsigned): the rules among ``fired`` whose review is past due
    ``on`` (default: today), and those never signed off, in the order given."""
    when = on or today()
    stale, unsigned = [], []
    for rule_id in fired:
        sign_off = book.rule(rule_id).sign_off
        if sign_off is None:
            unsigned.append(rule_id)
        elif sign_off.due < when:
            stale.append(rule_id)
    return stale, unsigned


def rule_base_review(book: Rulebook, on: datetime.date | None = None) -> str:
    """The rule base's own review state ``on`` (default: today), in words."""
    own = book.sign_off
    if own is None:
        return "never signed off"
    if own.due < (on or today()):
        return f"past due since {own.due} (signed off by {own.by} on {own.signed})"
    return f"signed off by {own.by} on {own.signed}, due {own.due}"
