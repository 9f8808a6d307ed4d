"""The teaching round's words: exercise sheets, the answer key, feedback (text or
Markdown), and the interactive prompt. The HTML sheets (``present.teaching_html``) use
the same words, from ``statement_words`` and ``feedback_parts``.

Everything a case file supplies (keys, summaries) is escaped for Markdown; the HTML
templates escape everything.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sequencer.explain.deciding import NEITHER, NO_PREFERENCE, NOT_YET
from sequencer.explain.published import choice_name
from sequencer.explain.statements import Factor
from sequencer.explain.teach import (
    CHOICE_POINTS,
    Answer,
    Exercise,
    Marked,
    mark,
    parse_choice,
    parse_factors,
)
from sequencer.explain.whatif_model import Change, WhatIf
from sequencer.explain.whatif_words import choice_words, scores_text
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.vocabulary import lower_label
from sequencer.model.recommendation import Citation

__all__ = [
    "DISCUSSION",
    "INSTRUCTIONS",
    "KEY_INTRO",
    "SCORING",
    "answer_key",
    "answer_name",
    "case_source",
    "case_title",
    "choices",
    "curious_line",
    "discussion_words",
    "exercise_sheet",
    "feedback",
    "feedback_parts",
    "hindsight_words",
    "interactive",
    "key_view",
    "letters",
    "md",
    "not_yet_lines",
    "role_words",
    "sheet_name",
    "sheet_view",
    "statement_words",
    "whatif_lines",
    "write_sheets",
]

_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>|#!~])")


def md(text: str) -> str:
    """``text`` safe inside Markdown: its markup characters escaped (``<`` included)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _count(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


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
        return f"A published case ({label})" if label else "A published case"
    return f"A teacher's case ({case.key})"


def sheet_name(ex: Exercise, suffix: str = "md") -> str:
    """The file name of an exercise's sheet: ``patient-4.md``, ``case-7-<key>.html``."""
    if ex.case.source == "published":
        return f"{ex.case.key}.{suffix}"
    return f"case-{ex.case.number}-{ex.case.key}.{suffix}"


# --- what each statement is, in a clinician's words -----------------------------------


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
        f"{choice_words(change.outcome, w.options)} (scores {scores})"
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


@dataclass(frozen=True)
class Part:
    """One paragraph of feedback: a heading (may be empty), its text and bullet lines."""

    heading: str
    text: str
    items: tuple[str, ...] = ()


def feedback_parts(m: Marked) -> list[Part]:
    """Return the feedback for one marked answer, paragraph by paragraph (plain text)."""
    ex, case, book = m.exercise, m.exercise.case, m.exercise.rulebook
    parts: list[Part] = []
    if ex.kind == "discussion":
        parts.append(Part("A case for discussion", discussion_words(ex)))
        if m.answer is not None:
            parts.append(
                Part("Your view", f"{answer_name(m.answer.choice, book)}: not marked, discuss it.")
            )
    elif m.answer is None:
        parts.append(Part("Your answer", f"None given (0 of {m.max_points} points)."))
    else:
        right = answer_name(ex.answer, book)
        verdict = (
            "right."
            if m.choice_correct
            else f"not the {'published ' if case.published_choice else ''}choice, which is "
            f"{right.lower()}."
        )
        parts.append(
            Part(
                "Your answer",
                f"{answer_name(m.answer.choice, book)}: {verdict} {m.points} of {m.max_points} "
                "points.",
            )
        )
        parts.append(
            Part(
                "What decided it",
                f"Deciding: {letters(ex.deciding)}. You named {letters(m.right)} and missed "
                f"{letters(m.missed)}; you ticked {letters(m.wrong)} that did not decide it"
                + (f" (and {letters(m.spared)}, not counted against you)" if m.spared else "")
                + ".",
            )
        )
        if ex.set_aside or m.aside_wrong:
            parts.append(
                Part(
                    "What was set aside",
                    f"Set aside: {letters(ex.set_aside)}. You recognised {letters(m.aside_right)}, "
                    f"missed {letters(m.aside_missed)} and named {letters(m.aside_wrong)} that "
                    "were not set aside.",
                )
            )
    if ex.answer == NOT_YET and ex.kind == "quiz":
        parts.append(Part("Before choosing", "", tuple(not_yet_lines(ex))))
    parts.append(
        Part(
            "Each statement",
            "",
            tuple(f"{f.key}. {f.text}: {statement_words(ex, f)}" for f in ex.factors),
        )
    )
    if case.published_choice is not None:
        parts.append(
            Part(
                "Published decision",
                f"{answer_name(case.published_choice, book)}. {case.published_rationale}".strip(),
            )
        )
    hindsight = hindsight_words(ex)
    if hindsight:
        parts.append(Part("In hindsight", hindsight))
    rec = ex.recommendation
    parts.append(Part(f"The rules ({rec.context.title})", rec.summary))
    parts.append(Part("What would change it", "", tuple(whatif_lines(ex.whatif))))
    if case.source == "published" and ex.today.context.name != rec.context.name:
        parts.append(Part(f"Today ({ex.today.context.title})", ex.today.summary))
    parts.append(Part("", curious_line(ex)))
    return parts


def _render(parts: Sequence[Part], markdown: bool) -> list[str]:
    out: list[str] = []
    for part in parts:
        if markdown:
            head = f"**{md(part.heading)}:** " if part.heading else ""
            line = (head + md(part.text)).strip()
            if part.heading == "" and part.text.startswith("For the curious"):
                line = f"_{md(part.text)}_"
            if line:
                out += [line, ""]
            if part.items:
                out += [f"- {md(i)}" for i in part.items] + [""]
        else:
            head = f"{part.heading}: " if part.heading else ""
            if (head + part.text).strip():
                out.append(textwrap.fill(head + part.text, 88, break_on_hyphens=False))
            out += [
                textwrap.fill(
                    i, 88, initial_indent="  - ", subsequent_indent="    ", break_on_hyphens=False
                )
                for i in part.items
            ]
            out.append("")
    return out


def case_title(ex: Exercise) -> str:
    kind = "Discussion case" if ex.kind == "discussion" else "Case"
    return f"{kind} {ex.case.number}: {case_source(ex)}"


def feedback(marked: Sequence[Marked], fmt: str = "text", vignettes: bool = True) -> str:
    """Return the feedback for marked answers and the total score (text or Markdown)."""
    markdown = fmt == "markdown"
    out = ["# Teaching round: feedback", ""] if markdown else []
    for m in marked:
        ex = m.exercise
        title = case_title(ex)
        out += [f"## {md(title)}", ""] if markdown else [title, "=" * len(title)]
        if vignettes:
            out += [f"_{md(ex.vignette)}_" if markdown else textwrap.fill(ex.vignette, 88), ""]
        out += _render(feedback_parts(m), markdown)
    total = sum(m.points for m in marked)
    best = sum(m.max_points for m in marked)
    share = f" ({100 * total / best:.0f}%)" if best else ""
    out.append(f"{'**Score:**' if markdown else 'Score:'} {total} of {best} points{share}.")
    return "\n".join(out) + "\n"


# --- printable sheets and the answer key -----------------------------------------------


def choices(book: Rulebook) -> list[str]:
    """The choices a sheet offers, in words."""
    return [
        *(o.name for o in book.options),
        answer_name(NEITHER, book),
        "Not yet: first establish (name the fact) ____________________",
    ]


SCORING = (
    f"Scoring: {CHOICE_POINTS} points for the right choice; one point per statement that "
    "decided it ticked under 'decided', minus one per other statement ticked there; one "
    "point per argument rightly named under 'set aside', minus one per other named there "
    "(neither part below zero). Every statement is true of the patient: ticking them all "
    "never earns full marks."
)
INSTRUCTIONS = (
    "Every statement is true of this patient. Tick 'decided' for those the choice turns "
    "on, and 'set aside' for arguments that would count but that a fact of the patient "
    "defeats. Leave the others: true, but the choice does not turn on them."
)
DISCUSSION = (
    "The rules do not settle this case on their own. Which option would you choose, and "
    "which of these true statements would you weigh most? What would you want to know?"
)


def exercise_sheet(ex: Exercise, total: int = 5) -> str:
    """Return a printable Markdown exercise sheet for one case (no answers)."""
    book = ex.rulebook
    question = ", ".join(o.in_sentence for o in book.options) + ", or neither?"
    heading = (
        f"# Exercise {ex.case.number} of {total}: {question}"
        if ex.kind == "quiz"
        else f"# Discussion case {ex.case.number} of {total}"
    )
    out = [
        heading,
        "",
        f"_Setting: {md(ex.setting)}. {md(case_source(ex))}; the vignette is written from "
        "the patient's profile._",
        "",
        "## The patient",
        "",
        md(ex.vignette),
        "",
        "## Your choice",
        "",
        *(f"- [ ] {md(c)}" for c in choices(book)),
        "",
    ]
    all_choices = " | ".join([*book.option_ids, NEITHER, NOT_YET])
    if ex.kind == "quiz":
        out += ["## Which of these decided it, and which were set aside?", "", INSTRUCTIONS, ""]
        out += [f"- [ ] decided [ ] set aside: **{f.key}.** {md(f.text)}" for f in ex.factors]
        out += [
            "",
            f"_{SCORING}_",
            "",
            "_To have it marked: `sequencer teach --answers answers.yaml`, one line per "
            f"case: `{ex.case.number}: {{choice: {all_choices}, "
            "factors: [letters], set_aside: [letters]}`._",
            "",
        ]
    else:
        out += ["## For discussion", "", DISCUSSION, ""]
        out += [f"- **{f.key}.** {md(f.text)}" for f in ex.factors]
        out.append("")
    return "\n".join(out)


def role_words(f: Factor) -> str:
    if f.deciding:
        return "decided it"
    if f.role == "set_aside":
        return "set aside"
    if f.neutral:
        return "did not decide; the authors' hindsight (not counted against)"
    return "true, did not decide"


def answer_key(sheets: Sequence[Exercise]) -> str:
    """Return the answer key for the exercise sheets (Markdown)."""
    out = [
        f"# Answer key: {_count(len(sheets))} cases",
        "",
        f"_{md(KEY_INTRO)}_",
        "",
    ]
    for ex in sheets:
        book = ex.rulebook
        out += [f"## {md(case_title(ex))}", ""]
        if ex.kind == "discussion":
            out += [f"**A case for discussion:** {md(discussion_words(ex))}", ""]
        else:
            out += [
                f"**Answer:** {md(answer_name(ex.answer, book))}. **Decided it:** "
                f"{letters(ex.deciding)}. **Set aside:** {letters(ex.set_aside)}. Full marks: "
                f"{ex.max_points} points.",
                "",
            ]
        if ex.answer == NOT_YET and ex.kind == "quiz":
            out += ["**Before choosing:**", ""] + [f"- {md(x)}" for x in not_yet_lines(ex)] + [""]
        for f in ex.factors:
            out.append(
                f"- **{f.key}.** {md(f.text)}: _{role_words(f)}._ {md(statement_words(ex, f))}"
            )
        out.append("")
        case = ex.case
        if case.published_choice is not None:
            out += [
                f"**Published decision:** {md(answer_name(case.published_choice, book))}. "
                f"{md(case.published_rationale)}",
                "",
            ]
        hindsight = hindsight_words(ex)
        if hindsight:
            out += [f"**In hindsight:** {md(hindsight)}", ""]
        rec = ex.recommendation
        out += [f"**The rules** ({md(rec.context.title)}): {md(rec.summary)}", ""]
        out += ["**What would change it:**", ""]
        out += [f"- {md(line)}" for line in whatif_lines(ex.whatif)] + [""]
        if case.source == "published" and ex.today.context.name != rec.context.name:
            out += [f"**Today** ({md(ex.today.context.title)}): {md(ex.today.summary)}", ""]
        out += [f"_{md(curious_line(ex))}_", ""]
    return "\n".join(out)


KEY_INTRO = (
    "For the teacher. Each case in its regulatory context. A statement decides the choice "
    "when, with the rule base's own weighing, taking it away (alone or once some of its "
    "companions are gone) changes the choice."
)


def sheet_view(ex: Exercise, total: int = 5) -> dict[str, Any]:
    """Return what a student's sheet shows, as plain JSON-able values (no answers): the
    HTML sheet renders it, and a web page can too."""
    book = ex.rulebook
    question = ", ".join(o.in_sentence for o in book.options) + ", or neither?"
    return {
        "number": ex.case.number,
        "key": ex.case.key,
        "title": (
            f"Exercise {ex.case.number} of {total}: {question}"
            if ex.kind == "quiz"
            else f"Discussion case {ex.case.number} of {total}"
        ),
        "setting": ex.setting,
        "source": case_source(ex),
        "vignette": ex.vignette,
        "choices": choices(book),
        "quiz": ex.kind == "quiz",
        "instructions": INSTRUCTIONS,
        "scoring": SCORING,
        "discussion": DISCUSSION,
        "statements": [{"key": f.key, "text": f.text} for f in ex.factors],
    }


def key_view(ex: Exercise) -> dict[str, Any]:
    """Return the teacher's key for one case as plain JSON-able values: the answer, each
    statement's role and words, the published decision, hindsight, the rules' summary."""
    book, case, rec = ex.rulebook, ex.case, ex.recommendation
    today = case.source == "published" and ex.today.context.name != rec.context.name
    return {
        "number": case.number,
        "key": case.key,
        "title": case_title(ex),
        "quiz": ex.kind == "quiz",
        "answer": answer_name(ex.answer, book),
        "deciding": letters(ex.deciding),
        "set_aside": letters(ex.set_aside),
        "max_points": ex.max_points,
        "discussion": discussion_words(ex) if ex.kind == "discussion" else "",
        "before": not_yet_lines(ex) if ex.answer == NOT_YET and ex.kind == "quiz" else [],
        "statements": [
            {"key": f.key, "text": f.text, "role": role_words(f), "words": statement_words(ex, f)}
            for f in ex.factors
        ],
        "published": (
            f"{answer_name(case.published_choice, book)}. {case.published_rationale}".strip()
            if case.published_choice is not None
            else ""
        ),
        "hindsight": hindsight_words(ex) or "",
        "context": rec.context.title,
        "summary": rec.summary,
        "whatif": whatif_lines(ex.whatif),
        "today": ex.today.summary if today else "",
        "today_context": ex.today.context.title,
        "curious": curious_line(ex),
    }


def write_sheets(sheets: Sequence[Exercise], directory: Path, html: bool = True) -> list[Path]:
    """Write one sheet per case and the answer key into ``directory`` (Markdown, and
    HTML unless ``html`` is false); return the paths written. Raises ``OSError``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for ex in sheets:
        path = directory / sheet_name(ex)
        path.write_text(exercise_sheet(ex, len(sheets)), encoding="utf-8")
        written.append(path)
    key = directory / "answer-key.md"
    key.write_text(answer_key(sheets), encoding="utf-8")
    written.append(key)
    if html:
        from sequencer.present.teaching_html import html_answer_key, html_sheet

        for ex in sheets:
            path = directory / sheet_name(ex, "html")
            path.write_text(html_sheet(ex, len(sheets)), encoding="utf-8")
            written.append(path)
        key = directory / "answer-key.html"
        key.write_text(html_answer_key(sheets), encoding="utf-8")
        written.append(key)
    return written


# --- on a terminal -------------------------------------------------------------------


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
