"""Teaching's words for one exercise, shared by the sheets, the answer key, the feedback,
the HTML pages and the classroom: a choice and a case's source in words, sources cited
as a clinician cites them aloud, what each statement is and why it did or did not decide
the choice, what must be established first, what would change the choice, the authors'
hindsight, and ``md`` to escape text for Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sequencer.explain.deciding import NO_PREFERENCE, NOT_YET
from sequencer.explain.published import choice_name
from sequencer.explain.statements import Factor
from sequencer.explain.teach import Exercise
from sequencer.explain.whatif_model import Change, WhatIf
from sequencer.explain.whatif_words import choice_words, scores_text
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.vocabulary import lower_label
from sequencer.model.recommendation import Citation

__all__ = [
    "answer_name",
    "case_source",
    "case_title",
    "curious_line",
    "decision_heading",
    "discussion_words",
    "hindsight_words",
    "letters",
    "md",
    "not_yet_lines",
    "role_words",
    "short_source",
    "statement_words",
    "whatif_lines",
]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>|#!~])")


def md(text: str) -> str:
    """``text`` safe inside Markdown: its markup characters escaped (``<`` included)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def answer_name(choice: str, book: Rulebook) -> str:
    """A choice in words: an option's name, neither, not yet, or no preference."""
    if choice == NOT_YET:
        return "Not yet (a fact must be established or a hold must pass first)"
    if choice == NO_PREFERENCE:
        return "No preference (the options tie)"
    return choice_name(choice, book)


def _surname(author: str) -> str:
    """``von Stackelberg`` from ``von Stackelberg A``; an organisation stays whole."""
    words = author.split()
    if len(words) > 1 and words[-1].isupper() and len(words[-1]) <= 3:
        return " ".join(words[:-1])
    return " ".join(words)


def short_source(book: Rulebook, key: str) -> str:
    """A source as a clinician cites it aloud: ``Aldoss & Forman 2020``, ``Park et al.
    2018``, or the journal and year when the authors were not verified."""
    source = book.sources.get(key)
    if source is None:
        return key
    if source.authors:
        authors = [a.replace("et al", "").strip() for a in source.authors.split(",")]
        names = [_surname(a) for a in authors if a]
        who = (
            " & ".join(names)
            if len(names) <= 2 and "et al" not in source.authors
            else f"{names[0]} et al."
        )
        return f"{who} {source.year}"
    return f"{source.journal} {source.year}"


def _cited_keys(book: Rulebook, keys: Sequence[str]) -> str:
    labels = list(dict.fromkeys(short_source(book, k) for k in keys))
    return f" ({'; '.join(labels)})" if labels else ""


def _cited(book: Rulebook, citations: Sequence[Citation]) -> str:
    return _cited_keys(book, [c.key for c in citations])


def _labels(book: Rulebook, keys: Sequence[str]) -> str:
    """The sources, short (``Aldoss & Forman 2020; Park et al. 2018``)."""
    return _cited_keys(book, keys).strip()[1:-1]


def _in_sentence(book: Rulebook, choice: str | None) -> str:
    """An option as a sentence names it (``CAR T cells``), or the choice in words."""
    for option in book.options:
        if option.id == choice:
            return option.in_sentence
    return answer_name(choice or "", book).split(" (")[0].lower()


def letters(factors: Sequence[Factor]) -> str:
    return ", ".join(f.key for f in factors) or "none"


def case_source(ex: Exercise) -> str:
    """Where the case comes from, in words."""
    case, book = ex.case, ex.rulebook
    if case.source == "published":
        return f"Patient {case.key.split('-')[-1]} of {book.review.short}"
    label = _labels(book, [case.citation] if case.citation else [])
    if case.source == "literature":
        return f"A case from the literature ({label})" if label else "A case from the literature"
    return f"A teacher's case ({case.key})"


def decision_heading(ex: Exercise) -> str:
    """What the case's recorded decision is called: the review's patients' decisions
    were published; a literature case records the choice its source reports or, for a
    scenario built on a trial's criteria or a cohort, the choice they imply."""
    return {
        "published": "Published decision",
        "literature": "The choice its source supports",
    }.get(ex.case.source, "The teacher's decision")


def statement_words(ex: Exercise, f: Factor) -> str:
    """Why a statement did or did not decide the choice, with the figures and sources."""
    book = ex.rulebook
    if f.deciding:
        out = f"It decided the choice. {f.why}".strip()
        if f.without is not None:
            out += (
                f" Take it away on its own and the choice becomes: {answer_name(f.without, book)}."
            )
        elif f.together and f.then is not None:
            out += (
                f" Others point the same way, so it is not indispensable alone: taken away "
                f"together with {', '.join(f.together)}, the choice becomes: "
                f"{answer_name(f.then, book)}."
            )
    elif f.role == "set_aside":
        by = " ".join(s.text for s in f.set_aside_by)
        out = f"True, but set aside, so it weighs nothing here: {by}".strip()
        out += f" Had it counted: {f.why}"
    elif f.kind == "caution":
        out = (
            f"True, and worth saying to the patient, but a caution never moves the choice. {f.why}"
        )
    elif f.kind == "fact":
        out = "True of the patient, but nothing in the choice turns on it."
    elif f.kind == "standing":
        out = f"True, but it changes nothing for this patient. {f.why}"
    else:
        out = (
            f"True, and it counts for {_in_sentence(book, f.favors)}, but the choice "
            f"({_in_sentence(book, ex.answer)}) stands without it, on its own or with "
            f"others taken away. {f.why}"
        )
        if f.neutral:
            out = "Not counted against you: the authors' hindsight (below) is about it. " + out
    return out.strip() + _cited(book, f.citations)


def hindsight_words(ex: Exercise) -> str | None:
    note = ex.case.hindsight
    if note is None:
        return None
    book = ex.rulebook
    cited = _labels(book, note.citations)
    return note.text + (f" ({cited})" if cited else "")


def _change_line(w: WhatIf, change: Change) -> str:
    """One single change in words: the fact, the new choice, and the findings behind it
    (rule titles, not ids)."""
    scores = scores_text(change.outcome, w.options)
    line = (
        f"{change.label}: {change.from_text} → {change.to_text}: "
        f"{choice_words(change.outcome, w.options)} (weight of arguments {scores})"
    )
    titles = list(dict.fromkeys(s.title for s in change.rules if s.decisive and s.fires))
    gone = list(dict.fromkeys(s.title for s in change.rules if s.decisive and not s.fires))
    if titles:
        line += "; now: " + "; ".join(titles)
    if gone:
        line += "; no longer: " + "; ".join(gone)
    return line + "."


def whatif_lines(w: WhatIf, flips: int = 4) -> list[str]:
    """The single changes of fact that would change the choice, in words (at most
    ``flips``, then how many more)."""
    found = w.flips()
    lines = [_change_line(w, c) for c in found[:flips]]
    if len(found) > flips:
        lines.append(
            f"... and {len(found) - flips} more single "
            f"{'change' if len(found) - flips == 1 else 'changes'} that would flip it "
            "(`sequencer whatif` lists them all)."
        )
    return lines or ["No single change of fact would change the decision."]


def _establish(ex: Exercise) -> list[str]:
    book = ex.rulebook
    out = []
    for field in ex.recommendation.provisional_on:
        how = book.vocabulary.establish.get(field)
        label = book.vocabulary.label(field)
        out.append(f"{label}: {how.how}" if how else label)
    return out


def not_yet_lines(ex: Exercise) -> list[str]:
    """What must be established, or must pass, before an option can be chosen."""
    book, rec = ex.rulebook, ex.recommendation
    out = []
    for fact in rec.missing:
        if fact.blocking:
            how = book.vocabulary.establish.get(fact.field)
            label = book.vocabulary.label(fact.field)
            out.append(f"Establish {lower_label(label)}" + (f": {how.how}." if how else "."))
    for option in rec.options:
        if option.status == "deferred" and option.deferred_until:
            out.append(f"{option.name} can follow once {option.deferred_until}.")
    return out


def curious_line(ex: Exercise) -> str:
    rules = list(dict.fromkeys(r for f in ex.factors for r in f.rules))
    arguments = [f"{f.key} {a}" for f in ex.factors for a in f.arguments]
    return (
        f"For the curious: the rule base {ex.recommendation.rulebook.name} "
        f"{ex.recommendation.rulebook.version} in context {ex.recommendation.context.name}; "
        f"rules {', '.join(rules) or 'none'}; arguments {', '.join(arguments) or 'none'}."
    )


def discussion_words(ex: Exercise) -> str:
    book = ex.rulebook
    if ex.discussion == "tie":
        return (
            "The rules weigh the arguments for each option equally, so they make no choice: "
            "the board has to weigh them."
        )
    if ex.discussion == "differs":
        said = ex.case.documented_difference or ""
        return (
            f"The rules reach {answer_name(ex.answer, book).lower()}, not the published "
            f"choice ({answer_name(ex.case.published_choice or '', book).lower()}). {said}"
        ).strip()
    facts = "; ".join(_establish(ex)) or "facts that are not known"
    return f"The rules lean one way, but the choice could change with what is not known: {facts}."


def case_title(ex: Exercise) -> str:
    kind = "Discussion case" if ex.kind == "discussion" else "Case"
    return f"{kind} {ex.case.number}: {case_source(ex)}"


def role_words(f: Factor) -> str:
    if f.deciding:
        return "decided it"
    if f.role == "set_aside":
        return "set aside"
    if f.neutral:
        return "did not decide; the authors' hindsight (not counted against)"
    return "true, did not decide"
