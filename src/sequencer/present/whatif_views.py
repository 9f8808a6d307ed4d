"""Views of a ``WhatIf``: terminal text and Markdown (``sequencer whatif``), and the
phrases the case report shares with them.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from sequencer.explain.whatif_model import Change, WhatIf
from sequencer.explain.whatif_words import choice_words, scores_text
from sequencer.present.phrases import summary_words

__all__ = [
    "KIND_HEADINGS",
    "ChangeGroup",
    "change_groups",
    "markdown_whatif",
    "md_escape",
    "narrowed",
    "result_words",
    "text_whatif",
    "unchanged_unknowns",
]

KIND_HEADINGS = {
    "flips_preferred": "Would change the preferred option",
    "flips_eligibility": "Would change whether an option can be given",
    "changes_scores": "Would change the weight of arguments, not the choice",
}


def narrowed(change: Change) -> bool:
    """Whether the change narrowed the preferred option's lead without flipping it."""
    preferred = change.outcome.preferred
    if preferred is None:
        return False
    sign = 1 if preferred == next(iter(change.outcome.scores)) else -1
    return sign * change.margin_change < 0


def result_words(change: Change, w: WhatIf) -> str:
    """The outcome in words: ``still Blinatumomab preferred; weights Blinatumomab 7, CAR T 5``."""
    words = choice_words(change.outcome, w.options)
    if change.kind in ("changes_scores", "flips_eligibility", "no_change"):
        words = "still " + words
    return f"{words}; weights {scores_text(change.outcome, w.options)}"


@dataclass(frozen=True)
class ChangeGroup:
    """The changes of one kind, under its heading: those shown, and how many are not."""

    heading: str
    shown: list[Change]
    hidden: int


def change_groups(w: WhatIf, limit_scores: int | None = None) -> list[ChangeGroup]:
    """The what-if changes by kind, in the order of ``KIND_HEADINGS``, empty kinds left
    out; at most ``limit_scores`` changes that only move scores are shown."""
    groups = []
    for kind, heading in KIND_HEADINGS.items():
        items = [c for c in w.changes if c.kind == kind]
        if not items:
            continue
        limited = limit_scores is not None and kind == "changes_scores"
        shown = items[:limit_scores] if limited else items
        groups.append(ChangeGroup(heading, shown, len(items) - len(shown)))
    return groups


def unchanged_unknowns(w: WhatIf) -> list[str]:
    """Unknown facts whose every value changes nothing, with the values tried."""
    return [
        f"{c.label} (tried: {' / '.join([c.to_text, *c.same_as_text])})"
        for c in w.changes
        if c.kind == "no_change"
    ]


def md_escape(text: object) -> str:
    """Escape Markdown's inline specials in text (patient ids)."""
    return "".join(f"\\{ch}" if ch in "\\`*_[]<>#|!" else ch for ch in str(text))


def _md_change(change: Change, w: WhatIf) -> str:
    also = " (same for " + " / ".join(change.same_as_text) + ")" if change.same_as else ""
    result = result_words(change, w)
    line = f"**{change.label}: {change.from_text} → {change.to_text}**{also}: {result}."
    moved = [s for s in change.rules if s.decisive]
    if moved:
        line += (
            " Rules: "
            + "; ".join(f"`{s.rule}` {'fires' if s.fires else 'stops'} ({s.effect})" for s in moved)
            + "."
        )
    if change.lead and narrowed(change):
        line += " Why not more: the lead rests on " + ", ".join(f"`{r}`" for r in change.lead) + "."
    for note in change.derived:
        line += f" {note}."
    return line


def markdown_whatif(w: WhatIf, heading: str = "#", limit_scores: int | None = None) -> str:
    """Return the what-if list as Markdown (``limit_scores`` caps score-only items)."""
    out = [
        f"{heading} What would change the decision for {md_escape(w.patient_id)}",
        "",
        f"Now: **{summary_words(w.summary)}** Context `{w.context}` ({w.context_title}).",
        "",
    ]
    if w.basis:
        out += [
            "Current weights come from: "
            + ", ".join(f"`{s.rule}` ({s.effect})" for s in w.basis)
            + ".",
            "",
        ]
    groups = change_groups(w, limit_scores)
    for group in groups:
        out += [f"{heading}# {group.heading}", ""]
        out += [f"{n}. {_md_change(c, w)}" for n, c in enumerate(group.shown, start=1)]
        if group.hidden:
            out.append(f"\n{group.hidden} more: `sequencer whatif` lists them all.")
        out.append("")
    if not groups:
        out += ["No single change of fact would change the decision or the weights.", ""]
    unchanged = unchanged_unknowns(w)
    if unchanged:
        out += ["**Unknown facts that would change nothing:** " + "; ".join(unchanged) + ".", ""]
    if w.skipped:
        out += [
            "_Not evaluated (would contradict the rest of the profile): "
            + "; ".join(f"{s.label} → {s.to_text} ({s.reason})" for s in w.skipped)
            + "._",
            "",
        ]
    out.append(f"_Rule base {w.rulebook.name} {w.rulebook.version}, {w.rulebook.digest}._")
    return "\n".join(out) + "\n"


def text_whatif(w: WhatIf, show_rules: bool = False, width: int | None = None) -> str:
    """Return the what-if list as plain terminal text: the rules behind the current
    weights by title (by id too with ``show_rules``), the changes not evaluated by the
    field's name (with the contradiction's field paths only with ``show_rules``); lines
    wrapped between words at ``width`` columns when given."""
    out = [
        f"What would change the decision for {w.patient_id}",
        f"Context {w.context}: {w.context_title}",
        f"Now: {summary_words(w.summary)}",
    ]
    if w.basis:
        out.append(
            "Current weights come from: "
            + ", ".join(
                f"{s.rule} ({s.effect})"
                if show_rules
                else f"{s.title} ({s.effect_words or s.effect})"
                for s in w.basis
            )
        )
    groups = change_groups(w)
    for group in groups:
        out += ["", group.heading + ":"]
        out += [
            f"{n:>3}. {c.text if show_rules or not c.words else c.words}"
            for n, c in enumerate(group.shown, start=1)
        ]
    if not groups:
        out += ["", "No single change of fact would change the decision or the weights."]
    unchanged = unchanged_unknowns(w)
    if unchanged:
        out += ["", "Unknown facts that would change nothing: " + "; ".join(unchanged) + "."]
    if w.skipped:
        out += [
            "",
            "Not evaluated (would contradict the rest of the profile): "
            + "; ".join(
                f"{s.label} → {s.to_text}" + (f" ({s.reason})" if show_rules else "")
                for s in w.skipped
            ),
        ]
    out += ["", f"Rule base {w.rulebook.name} {w.rulebook.version} {w.rulebook.digest}", w.notice]
    if width:
        out = [_wrapped(line, width) for line in out]
    return "\n".join(out) + "\n"


def _wrapped(line: str, width: int) -> str:
    """Return ``line`` wrapped between words (never inside one) at ``width`` columns,
    continuation lines indented under a numbered item's text."""
    indent = " " * 5 if re.match(r" *\d+\. ", line) else ""
    return (
        textwrap.fill(
            line,
            width=max(width, 20),
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        or line
    )
