"""The teaching round on a terminal: each case's vignette and statements, the learner's
choice and letters asked for (asked again until they can be read), each answer marked
and its feedback shown, and the total.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from sequencer.explain.teach import Answer, Exercise, Marked, mark, parse_choice, parse_factors
from sequencer.knowledge.rulebook import Rulebook
from sequencer.present.teaching_feedback import feedback

__all__ = ["interactive"]


def _prompt(book: Rulebook) -> str:
    """``Your choice: [b]linatumomab, [c]AR T cells, [n]either or not [y]et? ``."""
    keys = []
    for o in book.options:
        letter = next((a for a in o.aliases if len(a) == 1), None)
        if letter is not None and o.in_sentence[:1].lower() == letter:
            keys.append(f"[{letter}]{o.in_sentence[1:]}")
        else:
            keys.append(o.in_sentence + (f" [{letter}]" if letter else ""))
    return f"Your choice: {', '.join(keys)}, [n]either or not [y]et? "


def _ask_letters(
    ex: Exercise, question: str, ask: Callable[[str], str], say: Callable[[str], Any]
) -> tuple[str, ...]:
    while True:
        typed = [t for t in re.split(r"[\s,;]+", ask(question)) if t and t.lower() != "none"]
        try:
            return parse_factors(ex, typed)
        except ValueError as error:
            say(str(error))


def interactive(
    sheets: Sequence[Exercise],
    fmt: str = "text",
    ask: Callable[[str], str] = input,
    say: Callable[[str], Any] = print,
) -> list[Marked]:
    """Ask the learner on a terminal, case by case; return the marked answers.

    Stops early (marking what was answered) at end of input or Ctrl-C.
    """
    marked: list[Marked] = []
    try:
        for ex in sheets:
            kind = "Discussion case" if ex.kind == "discussion" else "Case"
            say(f"\n{kind} {ex.case.number} of {len(sheets)}  ({ex.setting})\n")
            say(textwrap.fill(ex.vignette, 88) + "\n")
            choice = None
            while choice is None:
                choice = parse_choice(ask(_prompt(ex.rulebook)), ex.rulebook)
            say("\nEvery statement is true of the patient:")
            for f in ex.factors:
                say(textwrap.fill(f"  {f.key}. {f.text}", 88, subsequent_indent="     "))
            factors: tuple[str, ...] = ()
            aside: tuple[str, ...] = ()
            if ex.kind == "quiz":
                factors = _ask_letters(ex, "Which decided it? (letters) ", ask, say)
                while True:
                    aside = _ask_letters(ex, "Which were set aside? (letters, or none) ", ask, say)
                    if not set(aside) & set(factors):
                        break
                    say("A statement is either deciding or set aside, not both.")
            result = mark(ex, Answer(choice=choice, factors=factors, set_aside=aside))
            marked.append(result)
            say("")
            say(feedback([result], fmt, vignettes=False))
    except (EOFError, KeyboardInterrupt):
        say("\nStopped.")
    if marked:
        total = sum(m.points for m in marked)
        best = sum(m.max_points for m in marked)
        say(f"Total: {total} of {best} points over {len(marked)} case(s).")
    return marked
