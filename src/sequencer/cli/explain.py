"""The explaining and teaching verbs of the ``sequencer`` command.

Verbs::

    sequencer whatif FILE [--format text|json|markdown] [--context C]
    sequencer report FILE [--format html|markdown] [--output PATH] [--context C]
    sequencer teach [--cases published|literature|PATH ...] [--answers FILE]
                    [--format text|markdown] [--output DIR] [--context C]

They follow ``sequencer.cli.main``'s conventions (exit 2 for bad input, no tracebacks):
``cli.main`` registers them and turns the library's exceptions into exit statuses.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sequencer.cli.common import EXIT_INPUT, EXIT_OK
from sequencer.present.terminal import printable, read_input, say

__all__ = ["add_verbs"]


def add_verbs(verbs: Any) -> None:
    """Add the ``whatif``, ``report`` and ``teach`` subparsers to ``verbs``."""
    context_help = "regulatory context (default: the current one; `sequencer rules` lists them)"
    whatif = verbs.add_parser(
        "whatif", help="which single change of fact would change the recommendation"
    )
    whatif.add_argument("file", help="profile in the v1 JSON format, or - for standard input")
    whatif.add_argument(
        "--format", choices=["text", "json", "markdown"], default="text", help="default: text"
    )
    whatif.add_argument("--context", help=context_help)
    whatif.add_argument(
        "--show-rules",
        action="store_true",
        help="name the rules behind each line (rule ids; the JSON always has them)",
    )

    report = verbs.add_parser(
        "report",
        help="a case report (HTML that prints on two pages, or Markdown) for a tumor board",
    )
    report.add_argument("file", help="profile in the v1 JSON format, or - for standard input")
    report.add_argument(
        "--format", choices=["html", "markdown"], default="html", help="default: html"
    )
    report.add_argument("--output", type=Path, help="write to this file (default: stdout)")
    report.add_argument("--context", help=context_help)
    report.add_argument(
        "--hide-id", action="store_true", help="leave the patient id out (often a record number)"
    )
    report.add_argument(
        "--paper", choices=["A4", "letter"], help="lay the HTML out for this paper (default: any)"
    )

    teach = verbs.add_parser(
        "teach", help="published, literature or your own cases as exercises, with feedback"
    )
    teach.add_argument(
        "--cases",
        action="append",
        metavar="SOURCE",
        help="published (the review's patients, the default), literature (the literature "
        "cases), or a path: a v1 profile (.json), a directory of profiles, a directory with "
        "a published.yaml, or a YAML case file; repeat to combine",
    )
    teach.add_argument(
        "--answers",
        type=Path,
        help="JSON or YAML answers (case number or key -> {choice, factors, set_aside}); "
        "without it, asks on the terminal",
    )
    teach.add_argument("--context", help=context_help + "; for cases that do not name one")
    teach.add_argument(
        "--format", choices=["text", "markdown"], default="text", help="feedback format"
    )
    teach.add_argument(
        "--output",
        type=Path,
        help="write printable exercise sheets and the answer key (Markdown and HTML) into "
        "this directory",
    )


def _read(file: str) -> bytes | None:
    try:
        return read_input(file)
    except OSError as error:
        say(f"cannot read {file}: {error.strerror}")
        return None


def _evaluate(args: argparse.Namespace, work: Any) -> Any:
    from sequencer.errors import ProfileError

    data = _read(args.file)
    if data is None:
        return None
    try:
        return work(data)
    except ProfileError as error:
        raise ProfileError(error.problems, source=args.file) from None


def _write(path: Path | None, text: str) -> int:
    if path is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        say(f"cannot write {path}: {error.strerror}")
        return EXIT_INPUT
    print(printable(f"wrote {path}"), file=sys.stderr)
    return EXIT_OK


def cmd_whatif(args: argparse.Namespace) -> int:
    """``sequencer whatif FILE``."""
    from sequencer.explain.whatif import what_if
    from sequencer.present.whatif_views import markdown_whatif, text_whatif

    result = _evaluate(args, lambda data: what_if(data, context=args.context))
    if result is None:
        return EXIT_INPUT
    if args.format == "json":
        text = json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    elif args.format == "markdown":
        text = markdown_whatif(result)
    else:
        import shutil

        width = shutil.get_terminal_size().columns  # COLUMNS, the terminal, or 80
        text = text_whatif(result, show_rules=args.show_rules, width=width)
    return _write(None, text)


def cmd_report(args: argparse.Namespace) -> int:
    """``sequencer report FILE``."""
    from sequencer.present.report import case_report, html_report, markdown_report

    built = _evaluate(args, lambda data: case_report(data, context=args.context))
    if built is None:
        return EXIT_INPUT
    text = (
        html_report(built, show_id=not args.hide_id, paper=args.paper)
        if args.format == "html"
        else markdown_report(built)
    )
    return _write(args.output, text)


def cmd_teach(args: argparse.Namespace) -> int:
    """``sequencer teach``."""
    from sequencer.explain.casebook import gather
    from sequencer.explain.teach import answers_from_file, exercises, mark
    from sequencer.present.teaching import write_sheets
    from sequencer.present.teaching_feedback import feedback
    from sequencer.present.teaching_prompt import interactive

    sheets = exercises(gather(args.cases or ["published"], context=args.context))
    if args.output is not None:
        try:
            written = write_sheets(sheets, args.output)
        except OSError as error:
            say(f"cannot write into {args.output}: {error.strerror}")
            return EXIT_INPUT
        for path in written:
            print(printable(f"wrote {path}"), file=sys.stderr)
    if args.answers is not None:
        answers = answers_from_file(args.answers, sheets)
        marked = [mark(ex, answers.get(ex.case.number)) for ex in sheets]
        sys.stdout.write(feedback(marked, args.format))
        return EXIT_OK
    if args.output is not None:
        return EXIT_OK
    if sys.stdin is None or not sys.stdin.isatty():
        print(
            "sequencer: teach asks its questions on a terminal; give --answers FILE "
            "(or --output DIR to write exercise sheets)",
            file=sys.stderr,
        )
        return EXIT_INPUT
    marked = interactive(sheets, args.format)
    return EXIT_OK if marked is not None else EXIT_INPUT
