"""A what-if in words: an outcome's choice and scores, and one line per change (the
change, what it does, the rules behind it)."""

from __future__ import annotations

from collections.abc import Iterable

from sequencer.explain.whatif_model import Change, OptionWords, Outcome, RuleShift
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import Favors
from sequencer.knowledge.vocabulary import lower_label

__all__ = ["change_text", "choice_words", "option_words", "scores_text"]

_NO_CHOICE_WORDS: dict[str, str] = {
    "no-preference": "no preference (the options tie)",
    "neither": "neither option eligible",
    "not-now": "no option can be given now (deferred)",
    "blocked": "no choice yet (a blocking fact is missing)",
}


def choice_words(result: Outcome, words: OptionWords) -> str:
    """The outcome's choice in words: ``Blinatumomab preferred``, ``no preference ...``."""
    if result.choice in words.names:
        return f"{words.names[result.choice]} preferred"
    return _NO_CHOICE_WORDS[result.choice]


def option_words(book: Rulebook) -> OptionWords:
    """The rule base's option words, built once with it."""
    return book.compiled(
        "option-words", lambda b: OptionWords(names=b.option_names, short=b.option_short)
    )


def _names(book: Rulebook, therapies: Iterable[str]) -> str:
    return " and ".join(book.option_names[t] for t in therapies)


def _points(book: Rulebook, rule_id: str, therapy: str) -> int:
    return sum(
        book.weights[e.strength]
        for e in book.rule(rule_id).then
        if isinstance(e, Favors) and e.favors == therapy
    )


def scores_text(result: Outcome, words: OptionWords) -> str:
    """``Blinatumomab 7, CAR T 5`` (ineligible options marked)."""
    parts = []
    for therapy, score in result.scores.items():
        mark = "" if therapy in result.eligible else " (not eligible)"
        parts.append(f"{words.short.get(therapy, therapy)} {score}{mark}")
    return ", ".join(parts)


def _shift_words(shift: RuleShift, plain: bool) -> str:
    """A rule that starts or stops applying: by id and effect, or (``plain``) by title
    and effect in words."""
    if plain:
        verb = "applies" if shift.fires else "no longer applies"
        return f"{shift.title}: {verb} ({shift.effect_words or shift.effect})"
    return f"{shift.rule} {'fires' if shift.fires else 'stops'} ({shift.effect})"


def change_text(book: Rulebook, base: Outcome, change: Change, plain: bool = False) -> str:
    """One line: the change, what it does, and the rules behind it (by id; by title,
    their effects in words, with ``plain``)."""
    words = option_words(book)
    head = f"{change.label}: {change.from_text} → {change.to_text}"
    if change.same_as:
        head += " (same for " + " / ".join(change.same_as_text) + ")"
    new = change.outcome
    narrowed = False
    if change.kind == "flips_preferred":
        what = f"{choice_words(new, words)} instead of {choice_words(base, words)}"
    elif change.kind == "flips_eligibility":
        lost = [t for t in base.eligible if t not in new.eligible]
        gained = [t for t in new.eligible if t not in base.eligible]
        bits = []
        if lost:
            bits.append(f"{_names(book, lost)} not eligible")
        if gained:
            bits.append(f"{_names(book, gained)} eligible again")
        what = "; ".join(bits) + f"; still {choice_words(new, words)}"
    elif change.kind == "changes_scores":
        what = f"still {choice_words(new, words)}"
        if new.preferred is not None and len(new.eligible) == 2:
            other = next(t for t in new.eligible if t != new.preferred)
            before = base.scores[new.preferred] - base.scores[other]
            after = new.scores[new.preferred] - new.scores[other]
            what += f", lead {before} → {after}"
            narrowed = after < before
    else:
        what = "no change to the choice or the weights"
    line = f"{head}: {what}; weights {scores_text(new, words)}."
    moved = [s for s in change.rules if s.decisive] or [
        s for s in change.rules if s.effect.startswith("caution")
    ]
    if moved:
        line += " " + "; ".join(_shift_words(s, plain) for s in moved) + "."
    if narrowed and change.lead and new.preferred is not None:
        kept = [
            f"{lower_label(book.rule(r).title) if plain else r} +{_points(book, r, new.preferred)}"
            for r in change.lead
        ]
        line += (
            f" Not enough to change the choice: {book.option_names[new.preferred]} keeps "
            + ", ".join(kept)
            + "."
        )
    for note in change.derived:
        line += f" {note}."
    return line
