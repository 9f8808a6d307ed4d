"""The classroom's pages and export: the list of exercises, a student's sheet with its
form, the feedback on an answer, a class's answers for the teacher, and the answers as
CSV.

Pages are rendered from ``present/templates/teaching/`` (autoescaped: a student's name
or a class code is shown as typed, never as markup; inline CSS, no scripts, nothing
fetched; native form controls, each with its label, so the keyboard reaches all of
them). The words are those of ``present.teaching_words`` and
``present.teaching_feedback``; the URLs are the caller's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from sequencer.explain.classroom import CaseTally, WrongReason
from sequencer.explain.deciding import NEITHER, NOT_YET
from sequencer.explain.teach import Exercise, Marked
from sequencer.present.teaching import sheet_view
from sequencer.present.teaching_feedback import feedback_parts
from sequencer.present.teaching_html import render_teaching_page
from sequencer.present.teaching_words import answer_name, case_title, role_words

__all__ = [
    "CSV_HEADER",
    "NAME_LIMIT",
    "PRIVACY",
    "class_csv",
    "html_class_view",
    "html_exercise_list",
    "html_feedback_page",
    "html_problems",
    "html_student_sheet",
    "safe_cell",
]

NAME_LIMIT = 80
"""The longest student name kept, in characters."""
PRIVACY = (
    "Your name is optional: leave it empty to answer anonymously. With a class code, your "
    "answer, the name you typed and your score are stored for your teacher, who sees them "
    "under that code."
)
CSV_HEADER = (
    "time",
    "class",
    "student",
    "case",
    "rule base version",
    "rule base digest",
    "choice",
    "ticked as deciding",
    "named as set aside",
    "points",
    "of",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
"""How a spreadsheet cell starts a formula (OWASP's CSV injection list)."""


def safe_cell(value: object) -> str:
    """Return ``value`` as a CSV cell a spreadsheet will not run: a cell starting with
    ``= + - @``, a tab or a carriage return gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def class_csv(rows: Sequence[Sequence[object]]) -> str:
    """Return ``rows`` (in ``CSV_HEADER``'s order) as CSV text with the header, every cell
    guarded against formula injection (``safe_cell``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()


def html_exercise_list(sheets: Sequence[Exercise], href: str, class_action: str) -> str:
    """Return the list of exercises (``href``: a format string taking the case key;
    ``class_action``: where the teacher's class-code form goes)."""
    return render_teaching_page(
        "index.html.j2",
        title=f"Teaching with sequencer: {len(sheets)} exercises",
        intro=(
            "Pick a case, choose, and name what decided it and what was set aside; the "
            "feedback explains each statement. Discussion cases are not marked."
        ),
        cases=[
            {
                "href": href.format(key=ex.case.key),
                "title": case_title(ex),
                "discussion": ex.kind == "discussion",
            }
            for ex in sheets
        ],
        class_action=class_action,
    )


def html_student_sheet(
    ex: Exercise,
    total: int,
    action: str,
    index: str,
    student: str = "",
    group: str = "",
    form_token: str = "",
) -> str:
    """Return a student's sheet with its form (``action``: where it posts), the name and
    class code filled in as given, and the browser session's ``form_token`` hidden in it."""
    book = ex.rulebook
    form_choices = [
        *({"value": o.id, "label": o.name} for o in book.options),
        {"value": NEITHER, "label": answer_name(NEITHER, book)},
        {"value": NOT_YET, "label": answer_name(NOT_YET, book)},
    ]
    return render_teaching_page(
        "student.html.j2",
        **sheet_view(ex, total),
        form_choices=form_choices,
        action=action,
        index=index,
        student=student,
        group=group,
        name_limit=NAME_LIMIT,
        privacy=PRIVACY,
        form_token=form_token,
    )


def html_feedback_page(m: Marked, stored: str, index: str, next_href: str | None) -> str:
    """Return the feedback on one answer, in the clinician's words (``feedback_parts``);
    ``stored`` says whether and where the answer was kept."""
    return render_teaching_page(
        "feedback.html.j2",
        title=f"Feedback: {case_title(m.exercise)}",
        stored=stored,
        vignette=m.exercise.vignette,
        parts=[
            {"heading": p.heading, "text": p.text, "lines": list(p.items)}
            for p in feedback_parts(m)
        ],
        index=index,
        next=next_href,
    )


def html_problems(title: str, problems: Sequence[str], back: str) -> str:
    """Return a page listing every problem with an answer or a request."""
    return render_teaching_page("problems.html.j2", title=title, problems=list(problems), back=back)


def _wrong_words(t: CaseTally, w: WrongReason) -> str:
    ex, book = t.exercise, t.exercise.rulebook
    of = f"{w.count} of {t.answers}"
    if w.kind == "choice":
        return (
            f"Chose {answer_name(w.what, book)} ({of}); the answer: {answer_name(ex.answer, book)}."
        )
    f = next(f for f in ex.factors if f.key == w.what)
    if w.kind == "not_deciding":
        return f"Ticked {f.key}. ({f.text}) as deciding ({of}); truly: {role_words(f)}."
    if w.kind == "not_set_aside":
        return f"Named {f.key}. ({f.text}) as set aside ({of}); truly: {role_words(f)}."
    return f"Missed {f.key}. ({f.text}), which decided it ({of})."


def _case_view(t: CaseTally) -> dict[str, object]:
    ex, book = t.exercise, t.exercise.rulebook
    if t.mean_points is None:
        score = "Not marked (a case for discussion)." if ex.kind == "discussion" else ""
    else:
        score = f"Mean score {t.mean_points:.1f} of {t.max_points} points."
    return {
        "key": ex.case.key,
        "title": case_title(ex),
        "quiz": ex.kind == "quiz",
        "summary": f"{t.answers} answer{'s' if t.answers != 1 else ''}. {score}".strip(),
        "elsewhere": (
            f"{t.elsewhere} more given under another rule base version (not counted here: "
            "its statements differ)."
            if t.elsewhere
            else ""
        ),
        "choices": [
            {
                "label": answer_name(choice, book),
                "count": count,
                "right": ex.kind == "quiz" and choice == ex.answer,
            }
            for choice, count in t.choices
        ],
        "statements": [
            {
                "key": s.factor.key,
                "text": s.factor.text,
                "role": role_words(s.factor),
                "deciding": s.ticked_deciding,
                "set_aside": s.ticked_set_aside,
            }
            for s in t.statements
        ],
        "wrong": [_wrong_words(t, w) for w in t.wrong],
    }


def html_class_view(group: str, tallies: Sequence[CaseTally], index: str, csv_href: str) -> str:
    """Return a class's answers per case, for the teacher (``group``: the class code, shown
    escaped)."""
    total = sum(t.answers + t.elsewhere for t in tallies)
    return render_teaching_page(
        "class.html.j2",
        title=f"Class {group}: {total} answer{'s' if total != 1 else ''}",
        intro=(
            "Per case: how many chose what, how often each statement was ticked as deciding "
            "or named as set aside beside what it truly was, the most common wrong reasons "
            "and the mean score."
        ),
        cases=[_case_view(t) for t in tallies],
        index=index,
        csv=csv_href,
    )
