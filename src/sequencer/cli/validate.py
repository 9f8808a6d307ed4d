"""The ``sequencer validate`` verb: a corpus of past decisions (case files, a CSV of board
minutes, or the shipped corpus) judged against the rule base, with the figures the
validation studies report."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sequencer.cli.common import EXIT_DISAGREE, EXIT_INPUT, EXIT_OK, rulebook_from
from sequencer.present.terminal import say

__all__ = ["add_validate_verb", "cmd_validate"]


def add_validate_verb(verbs: Any) -> None:
    """Add the ``validate`` subparser to ``verbs``."""
    v = verbs.add_parser(
        "validate",
        help="judge past decisions (case files, a board-minutes CSV; default: the shipped "
        "corpus) against the rule base: concordant, conditional, discordant",
    )
    v.add_argument(
        "corpus", nargs="*", type=Path, help="case files (.json), CSV files or directories"
    )
    v.add_argument(
        "--format",
        choices=["text", "markdown", "json", "html"],
        default="text",
        help="default: text",
    )
    v.add_argument("--output", type=Path, help="write the report to this file")
    v.add_argument(
        "--min-concordance",
        type=float,
        metavar="PCT",
        help="exit 1 when concordant plus conditional is below PCT percent of the assessable cases",
    )
    v.add_argument("--context", help="judge every case in this context instead of its own")
    v.add_argument("--rules", type=Path, help="rule base directory (default: shipped)")
    v.add_argument(
        "--csv-template",
        action="store_true",
        help="print the header of the board-minutes CSV and exit",
    )


@contextmanager
def _progress(total_hint: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on a terminal's standard error; nothing when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(total_hint, total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield step


def cmd_validate(args: argparse.Namespace) -> int:
    """Run the verb; the library's errors become exit statuses in ``cli.main``."""
    from sequencer.explain.corpus_csv import csv_header
    from sequencer.explain.validation import validate
    from sequencer.present.validation_views import (
        html_validation,
        markdown_validation,
        text_validation,
    )

    if args.csv_template:
        sys.stdout.write(csv_header())
        return EXIT_OK
    if args.min_concordance is not None and not 0 <= args.min_concordance <= 100:
        say("--min-concordance is a percentage from 0 to 100")
        return EXIT_INPUT
    book = rulebook_from(args.rules)
    with _progress("judging past decisions") as step:
        report = validate(args.corpus or None, rulebook=book, context=args.context, progress=step)
    if args.format == "json":
        text = json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    elif args.format == "markdown":
        text = markdown_validation(report, book)
    elif args.format == "html":
        text = html_validation(report, book)
    else:
        text = text_validation(report, book)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    floor = args.min_concordance
    if floor is not None and report.concordant_or_conditional.share * 100 < floor:
        shown = report.concordant_or_conditional.share * 100
        say(f"concordant or conditional {shown:.1f}% is below --min-concordance {floor:g}%")
        return EXIT_DISAGREE
    return EXIT_OK
