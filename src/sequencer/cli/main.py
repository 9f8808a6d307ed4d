"""The ``sequencer`` command: a thin layer over the library.

Verbs::

    sequencer recommend FILE [--format text|json|markdown] [--rules DIR]
    sequencer replay [N | --all] [--format text|json|markdown]
    sequencer rules [--format text|json|markdown] [--rules DIR]
    sequencer whatif FILE [--format text|json|markdown] [--context C]
    sequencer report FILE [--format html|markdown] [--output PATH] [--context C]
    sequencer teach [--answers FILE] [--format text|markdown] [--output DIR]
    sequencer fhir BUNDLE.json [--as-of DATE] [--format text|json] [--guidance]
    sequencer about [--format markdown|json] [--context C] [--rules DIR]
    sequencer validate [CORPUS...] [--format text|markdown|json|html] [--min-concordance PCT]

Exit status: 0 success; 1 the replay disagrees with a published decision;
2 bad input (invalid profile, unreadable file or JSON, bad arguments);
3 the rule base is broken; 4 the rule engine failed; 5 the output could not be written
(a reader closed the pipe early, a full disk). Errors are printed without a traceback
(set ``SEQUENCER_DEBUG=1`` to see one), with control characters shown escaped.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sequencer import __version__
from sequencer.cli.about import add_about_verb, cmd_about
from sequencer.cli.common import (
    EXIT_DISAGREE,
    EXIT_ENGINE,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_RULES,
    console,
    rulebook_from,
)
from sequencer.cli.explain import add_verbs as add_explain_verbs
from sequencer.cli.explain import cmd_report, cmd_teach, cmd_whatif
from sequencer.cli.fhir import add_fhir_verb, cmd_fhir
from sequencer.cli.rules import add_rules_verb, cmd_rules
from sequencer.cli.validate import add_validate_verb, cmd_validate
from sequencer.present.terminal import read_input, say


class _Parser(argparse.ArgumentParser):
    """argparse with the project's exit status for usage errors."""

    def error(self, message: str) -> Any:  # pragma: no cover - exercised via main()
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sequencer",
        description="Cited decision support from a rule base of clinical knowledge (`sequencer "
        "rules` says which, and what it chooses between). Decision support, not an order.",
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
        metavar="FILE.jsonl",
        help="JSON Lines, one profile per line (- for standard input); prints one JSON "
        "result per input line, in order",
    )
    rec.add_argument(
        "--processes",
        type=int,
        default=1,
        help="with --batch: worker processes (0 = one per CPU; default 1)",
    )
    rec.add_argument("--format", **fmt)  # type: ignore[arg-type]
    rec.add_argument(
        "--show-rules",
        action="store_true",
        help="name the rules behind each line (rule ids; the JSON always has them)",
    )
    rec.add_argument("--rules", type=Path, help="rule base directory (default: shipped)")
    rec.add_argument(
        "--context",
        help="regulatory context (default: the current one; `sequencer rules` lists them)",
    )

    rep = verbs.add_parser("replay", help="replay the review's published patients")
    rep.add_argument(
        "patient", nargs="?", type=int, choices=range(1, 6), metavar="N", help="patient number 1-5"
    )
    rep.add_argument("--all", action="store_true", help="all the published patients (the default)")
    rep.add_argument("--format", **fmt)  # type: ignore[arg-type]
    rep.add_argument(
        "--show-rules",
        action="store_true",
        help="name the rules behind each line (rule ids; the JSON always has them)",
    )

    add_rules_verb(verbs, fmt)
    sch = verbs.add_parser("schema", help="the JSON Schema of the profile or the recommendation")
    sch.add_argument("name", choices=["profile", "recommendation"])
    srv = verbs.add_parser("serve", help="the HTTP API and CDS Hooks service")
    srv.add_argument(
        "--host",
        default="127.0.0.1",
        help="default 127.0.0.1; any other address needs --auth and --tls-cert/--tls-key",
    )
    srv.add_argument("--port", type=int, default=8080, help="default 8080")
    srv.add_argument("--rules", type=Path, help="rule base directory (default: shipped)")
    srv.add_argument(
        "--audit",
        default="sqlite:///sequencer-audit.sqlite3",
        help="audit database URL (default sqlite:///sequencer-audit.sqlite3)",
    )
    srv.add_argument(
        "--keep-profiles",
        action="store_true",
        help="store raw profiles in the audit trail (default: a SHA-256 of each body only)",
    )
    srv.add_argument(
        "--auth",
        type=Path,
        help="JSON file of trusted CDS clients (issuers, JWK Sets, public URL): "
        "every call then needs a signed JWT",
    )
    srv.add_argument("--tls-cert", type=Path, help="TLS certificate (PEM) to serve HTTPS")
    srv.add_argument("--tls-key", type=Path, help="TLS private key (PEM)")
    srv.add_argument(
        "--fhir-server",
        action="append",
        default=[],
        metavar="URL",
        help="a FHIR base URL a CDS call may have the service read (repeat; none by default)",
    )
    srv.add_argument(
        "--public-url", help="where clients reach the service (card links; default: the address)"
    )
    srv.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="URL",
        help="a browser origin (scheme://host[:port]) allowed to call the service across "
        "sites: CORS preflights answered for it only (repeat; none by default)",
    )
    srv.add_argument(
        "--audit-timeout",
        type=float,
        metavar="SECONDS",
        help="how long an answer waits for the audit database before it is a 503 (default 3)",
    )
    srv.add_argument(
        "--access-log", action="store_true", help="log every request on standard error"
    )
    srv.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes on one port, sharing the audit database (default 1)",
    )
    add_explain_verbs(verbs)  # whatif, report, teach (sequencer.cli.explain)
    add_fhir_verb(verbs)  # fhir (sequencer.cli.fhir)
    add_about_verb(verbs)  # the transparency document (sequencer.cli.about)
    add_validate_verb(verbs)  # past decisions judged (sequencer.cli.validate)
    return parser


def _cmd_recommend(args: argparse.Namespace) -> int:
    from sequencer.api import recommend
    from sequencer.errors import ProfileError
    from sequencer.present.console import print_recommendation
    from sequencer.present.markdown import markdown_recommendation

    if (args.file is None) == (args.batch is None):
        print("sequencer: give either a profile FILE or --batch FILE.jsonl", file=sys.stderr)
        return EXIT_INPUT
    if args.batch is not None:
        return _cmd_batch(args)
    try:
        data = read_input(args.file)
    except OSError as error:
        say(f"cannot read {args.file}: {error.strerror}")
        return EXIT_INPUT
    book = rulebook_from(args.rules)
    try:
        rec = recommend(data, rulebook=book, context=args.context)
    except ProfileError as error:
        raise ProfileError(error.problems, source=args.file) from None
    if args.format == "json":
        print(json.dumps(rec.model_dump(mode="json"), indent=2, ensure_ascii=False))
    elif args.format == "markdown":
        print(markdown_recommendation(rec), end="")
    else:
        print_recommendation(rec, console(), book.vocabulary.label, args.show_rules)
    return EXIT_OK


def _cmd_batch(args: argparse.Namespace) -> int:
    """Stream JSON Lines through recommend_many: one JSON result per input line, in order.

    The input is read once, as it comes (a file, a pipe, a FIFO or ``-``); a blank line
    is answered ``{"line": n, "blank": true}``, a bad one with its problems. Memory stays
    flat: only the first rejected line numbers are kept, for the summary.
    """
    from sequencer.batch import recommend_many

    name: str = args.batch
    try:
        handle = _open_lines(name)
    except OSError as error:
        say(f"cannot read {name}: {error.strerror}")
        return EXIT_INPUT
    book = rulebook_from(args.rules)
    tally = {"recommended": 0, "rejected": 0, "blank": 0}
    first_rejected: list[int] = []
    out = sys.stdout
    progress = _progress(None) if sys.stderr.isatty() else None
    try:
        results = recommend_many(
            iter(handle), rulebook=book, context=args.context, processes=args.processes,
            as_json=True,
        )  # fmt: skip
        for result in results:
            number = result.index + 1
            if result.blank:
                tally["blank"] += 1
                out.write(f'{{"line": {number}, "blank": true}}\n')
            elif result.ok:
                tally["recommended"] += 1
                out.write(f'{{"line": {number}, "recommendation": {result.json}}}\n')
            else:
                tally["rejected"] += 1
                if len(first_rejected) < 20:
                    first_rejected.append(number)
                    for p in result.problems:
                        say(f"{name}:{number}: {p}")
                problems = [p.as_json() for p in result.problems]
                out.write(json.dumps({"line": number, "problems": problems}) + "\n")
            if progress is not None and number % 64 == 0:
                progress[0].update(progress[1], completed=number)
    except BrokenPipeError:
        raise
    except OSError as error:
        say(f"cannot read {name}: {error.strerror or error}")
        return EXIT_INPUT
    finally:
        if progress is not None:
            progress[0].stop()
        if name != "-":
            handle.close()
    more = " ..." if tally["rejected"] > len(first_rejected) else ""
    lines = f" (lines {', '.join(map(str, first_rejected))}{more})" if first_rejected else ""
    blanks = f", {tally['blank']} blank" if tally["blank"] else ""
    say(f"{tally['recommended']} recommended, {tally['rejected']} rejected{lines}{blanks}")
    return EXIT_INPUT if tally["rejected"] else EXIT_OK


def _open_lines(name: str) -> Any:
    """A binary stream of ``name``'s lines (``-``: standard input). Raises ``OSError``."""
    if name == "-":
        if sys.stdin is None:
            raise OSError(9, "standard input is closed")
        return sys.stdin.buffer
    return Path(name).open("rb")


def _progress(total: int | None) -> Any:
    from rich.progress import Progress

    progress = Progress(console=console(stderr=True), transient=True)
    task = progress.add_task("recommending", total=total)
    progress.start()
    return progress, task


def _cmd_replay(args: argparse.Namespace) -> int:
    from sequencer.explain.published import load_cases, replay
    from sequencer.present.console import print_replay
    from sequencer.present.markdown import markdown_replay

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
        print_replay(results, console(), show_rules=args.show_rules)
    return EXIT_OK if all(r.agrees for r in results) else EXIT_DISAGREE


def _cmd_schema(args: argparse.Namespace) -> int:
    from sequencer.model.schemas import schema

    print(json.dumps(schema(args.name), indent=2))
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from sequencer.service.serve import serve
    except ImportError:  # pragma: no cover - the extra is installed by make test
        say("the service needs its extra: pip install 'sequencer[service]'")
        return EXIT_INPUT
    book = rulebook_from(args.rules)
    serve(
        args.host,
        args.port,
        book,
        audit=args.audit,
        keep_profiles=args.keep_profiles,
        auth=args.auth,
        tls=(args.tls_cert, args.tls_key) if args.tls_cert or args.tls_key else None,
        fhir_servers=tuple(args.fhir_server),
        public_url=args.public_url,
        allow_origins=tuple(args.allow_origin),
        audit_timeout=args.audit_timeout,
        access_log=args.access_log,
        workers=args.workers,
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    from sequencer.errors import EngineError, ProfileError, RuleBaseError, SequencerError

    handlers = {"recommend": _cmd_recommend, "replay": _cmd_replay, "rules": cmd_rules}
    handlers["serve"] = _cmd_serve
    handlers["schema"] = _cmd_schema
    handlers |= {"whatif": cmd_whatif, "report": cmd_report, "teach": cmd_teach}
    handlers["fhir"] = cmd_fhir
    handlers["about"] = cmd_about
    handlers["validate"] = cmd_validate
    try:
        status = handlers[args.verb](args)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
        return status
    except ProfileError as error:
        say(str(error))
        return EXIT_INPUT
    except RuleBaseError as error:
        say(f"rule base error: {error}")
        return EXIT_RULES
    except EngineError as error:
        say(f"engine error: {error}")
        return EXIT_ENGINE
    except SequencerError as error:
        say(str(error))
        return EXIT_INPUT
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OUTPUT  # the reader went away: the output is incomplete
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EIO, errno.EPIPE, errno.EBADF):
            _silence_stdout()
            say(f"cannot write the output: {error.strerror}")
            return EXIT_OUTPUT
        say(f"{error.strerror or error}")
        return EXIT_INPUT
    except Exception as error:  # pragma: no cover - a defect; say so without a traceback
        if os.environ.get("SEQUENCER_DEBUG"):
            raise
        say(f"internal error ({type(error).__name__}: {error}); set SEQUENCER_DEBUG=1 for details")
        return EXIT_ENGINE


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no stdout at all
        pass
