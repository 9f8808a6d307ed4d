"""The ``sequencer`` command: a thin layer over the library.

Verbs::

    sequencer recommend FILE [--format text|json|markdown] [--rules DIR]
    sequencer replay [N | --all] [--format text|json|markdown]
    sequencer rules [--format text|json|markdown] [--rules DIR]
    sequencer whatif FILE [--format text|json|markdown] [--context C]
    sequencer report FILE [--format html|markdown] [--output PATH] [--context C]
    sequencer teach [--answers FILE] [--format text|markdown] [--output DIR]

Exit status: 0 success; 1 the replay disagrees with a published decision;
2 bad input (invalid profile, unreadable file or JSON, bad arguments);
3 the rule base is broken; 4 the rule engine failed. Errors are printed without a
traceback (set ``SEQUENCER_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sequencer import __version__
from sequencer.cli_explain import add_verbs as add_explain_verbs
from sequencer.cli_explain import cmd_report, cmd_teach, cmd_whatif

EXIT_OK, EXIT_DISAGREE, EXIT_INPUT, EXIT_RULES, EXIT_ENGINE = 0, 1, 2, 3, 4


class _Parser(argparse.ArgumentParser):
    """argparse with the project's exit status for usage errors."""

    def error(self, message: str) -> Any:  # pragma: no cover - exercised via main()
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sequencer",
        description="Cited decision support for choosing blinatumomab or CD19 CAR T cells "
        "in adult relapsed/refractory B-ALL. Decision support, not an order.",
    )
    parser.add_argument("--version", action="version", version=f"sequencer {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    fmt = {
        "choices": ["text", "json", "markdown"],
        "default": "text",
        "help": "output format (default: text)",
    }

    rec = verbs.add_parser(
        "recommend", help="recommend for one patient profile (JSON), or a batch (JSON Lines)"
    )
    rec.add_argument(
        "file", nargs="?", help="profile in the v1 JSON format, or - for standard input"
    )
    rec.add_argument(
        "--batch",
        type=Path,
        metavar="FILE.jsonl",
        help="JSON Lines, one profile per line; prints one JSON result per line",
    )
    rec.add_argument(
        "--processes",
        type=int,
        default=1,
        help="with --batch: worker processes (0 = one per CPU; default 1)",
    )
    rec.add_argument("--format", **fmt)  # type: ignore[arg-type]
    rec.add_argument("--rules", type=Path, help="rule base directory (default: shipped)")
    rec.add_argument(
        "--context",
        help="regulatory context (default: the current one; `sequencer rules` lists them)",
    )

    rep = verbs.add_parser("replay", help="replay the review's five published patients")
    rep.add_argument(
        "patient", nargs="?", type=int, choices=range(1, 6), metavar="N", help="patient number 1-5"
    )
    rep.add_argument("--all", action="store_true", help="all five patients (the default)")
    rep.add_argument("--format", **fmt)  # type: ignore[arg-type]

    rules = verbs.add_parser("rules", help="validate and list the rule base")
    rules.add_argument("--format", **fmt)  # type: ignore[arg-type]
    rules.add_argument("--rules", type=Path, help="rule base directory (default: shipped)")
    add_explain_verbs(verbs)  # whatif, report, teach (sequencer.cli_explain)
    return parser


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=False, highlight=False)


def _read(file: str) -> bytes:
    if file == "-":
        return sys.stdin.buffer.read()
    return Path(file).read_bytes()


def _rulebook(directory: Path | None) -> Any:
    from sequencer.api import default_rulebook
    from sequencer.rulebook import load_rulebook

    return load_rulebook(directory) if directory else default_rulebook()


def _cmd_recommend(args: argparse.Namespace) -> int:
    from sequencer.api import recommend
    from sequencer.errors import ProfileError
    from sequencer.render import markdown_recommendation, print_recommendation

    if (args.file is None) == (args.batch is None):
        print("sequencer: give either a profile FILE or --batch FILE.jsonl", file=sys.stderr)
        return EXIT_INPUT
    if args.batch is not None:
        return _cmd_batch(args)
    try:
        data = _read(args.file)
    except OSError as error:
        print(f"sequencer: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return EXIT_INPUT
    book = _rulebook(args.rules)
    try:
        rec = recommend(data, rulebook=book, context=args.context)
    except ProfileError as error:
        raise ProfileError(error.problems, source=args.file) from None
    if args.format == "json":
        print(json.dumps(rec.model_dump(mode="json"), indent=2, ensure_ascii=False))
    elif args.format == "markdown":
        print(markdown_recommendation(rec), end="")
    else:
        print_recommendation(rec, _console())
    return EXIT_OK


def _cmd_batch(args: argparse.Namespace) -> int:
    """Stream a JSON Lines file through recommend_many, one JSON result per line."""
    from sequencer.batch import recommend_many

    path: Path = args.batch
    try:
        with path.open("rb") as handle:
            total = sum(1 for line in handle if line.strip())
    except OSError as error:
        print(f"sequencer: cannot read {path}: {error.strerror}", file=sys.stderr)
        return EXIT_INPUT
    book = _rulebook(args.rules)
    line_numbers: list[int] = []

    def lines() -> Any:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    line_numbers.append(number)
                    yield raw

    rejected: list[int] = []
    out = sys.stdout
    progress = _progress(total) if sys.stderr.isatty() else None
    results = recommend_many(
        lines(), rulebook=book, context=args.context, processes=args.processes, as_json=True
    )
    try:
        for done, result in enumerate(results, start=1):
            number = line_numbers[result.index]
            if result.ok:
                out.write(f'{{"line": {number}, "recommendation": {result.json}}}\n')
            else:
                rejected.append(number)
                problems = [{"field": p.field, "message": p.message} for p in result.problems]
                out.write(json.dumps({"line": number, "problems": problems}) + "\n")
                for p in result.problems:
                    print(f"sequencer: {path}:{number}: {p}", file=sys.stderr)
            if progress is not None and done % 64 == 0:
                progress[0].update(progress[1], completed=done)
    finally:
        if progress is not None:
            progress[0].stop()
    print(
        f"sequencer: {total - len(rejected)} recommended, {len(rejected)} rejected"
        + (
            f" (lines {', '.join(map(str, rejected[:20]))}{' ...' if len(rejected) > 20 else ''})"
            if rejected
            else ""
        ),
        file=sys.stderr,
    )
    return EXIT_INPUT if rejected else EXIT_OK


def _progress(total: int) -> Any:
    from rich.progress import Progress

    progress = Progress(console=_console(stderr=True), transient=True)
    task = progress.add_task("recommending", total=total)
    progress.start()
    return progress, task


def _cmd_replay(args: argparse.Namespace) -> int:
    from sequencer.published import load_cases, replay
    from sequencer.render import markdown_replay, print_replay

    cases = load_cases()
    if args.patient is not None and not args.all:
        cases = [c for c in cases if c.number == args.patient]
    results = replay(cases)
    if args.format == "json":
        payload = [
            {
                "patient": r.case.number,
                "context": r.case.context,
                "published_choice": r.case.published_choice,
                "library_choice": r.choice,
                "agrees": r.agrees,
                "recommendation": r.recommendation.model_dump(mode="json"),
                "today": {
                    "context": r.today.context.name,
                    "library_choice": r.today_choice,
                    "summary": r.today.summary,
                },
            }
            for r in results
        ]
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    elif args.format == "markdown":
        print(markdown_replay(results), end="")
    else:
        print_replay(results, _console())
    return EXIT_OK if all(r.agrees for r in results) else EXIT_DISAGREE


def _cmd_rules(args: argparse.Namespace) -> int:
    from sequencer.render import markdown_rules, print_rules

    book = _rulebook(args.rules)
    if args.format == "json":
        payload = {
            "name": book.name,
            "version": book.version,
            "digest": book.digest,
            "rules": [
                {
                    "id": r.rule.id,
                    "title": r.rule.title,
                    "consideration": r.consideration,
                    "status": r.rule.status,
                    "evidence": r.rule.evidence,
                    "file": r.path,
                    "line": r.line,
                    "citations": list(r.rule.citations),
                }
                for r in book.rules
            ],
        }
        print(json.dumps(payload, indent=2))
    elif args.format == "markdown":
        print(markdown_rules(book), end="")
    else:
        print_rules(book, _console())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    from sequencer.errors import EngineError, ProfileError, RuleBaseError, SequencerError

    handlers = {"recommend": _cmd_recommend, "replay": _cmd_replay, "rules": _cmd_rules}
    handlers |= {"whatif": cmd_whatif, "report": cmd_report, "teach": cmd_teach}
    try:
        return handlers[args.verb](args)
    except ProfileError as error:
        print(f"sequencer: {error}", file=sys.stderr)
        return EXIT_INPUT
    except RuleBaseError as error:
        print(f"sequencer: rule base error: {error}", file=sys.stderr)
        return EXIT_RULES
    except EngineError as error:
        print(f"sequencer: engine error: {error}", file=sys.stderr)
        return EXIT_ENGINE
    except SequencerError as error:
        print(f"sequencer: {error}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:  # pragma: no cover - e.g. piped into head
        return EXIT_OK
    except Exception as error:  # pragma: no cover - a defect; say so without a traceback
        if os.environ.get("SEQUENCER_DEBUG"):
            raise
        print(
            f"sequencer: internal error ({type(error).__name__}: {error}); "
            "set SEQUENCER_DEBUG=1 for details",
            file=sys.stderr,
        )
        return EXIT_ENGINE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
