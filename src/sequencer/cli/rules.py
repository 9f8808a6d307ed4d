"""The ``sequencer rules`` verb: the rule base listed, its coverage over a generated
cohort, what needs clinical review, and the impact of a change (``rules diff``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sequencer.cli.common import EXIT_DISAGREE, EXIT_INPUT, EXIT_OK, console, rulebook_from
from sequencer.present.terminal import say

__all__ = ["add_rules_verb", "cmd_rules", "coverage_json", "impact_json"]


def add_rules_verb(verbs: Any, fmt: dict[str, Any]) -> None:
    """Add the ``rules`` verb: list, coverage, stale, diff."""
    rules = verbs.add_parser(
        "rules",
        help="validate and list the rule base; `rules diff OLD NEW` shows a change's impact",
    )
    rules.add_argument("action", nargs="?", choices=["diff"], help="diff: compare two rule bases")
    rules.add_argument(
        "bases",
        nargs="*",
        metavar="OLD NEW",
        help="two rule-base directories, or git revisions of this checkout's rules/",
    )
    rules.add_argument("--format", **fmt)
    rules.add_argument("--rules", type=Path, help="rule base directory (default: shipped)")
    rules.add_argument(
        "--coverage",
        action="store_true",
        help="how often each rule fires and decides over a seeded generated cohort",
    )
    rules.add_argument(
        "--cohort", type=_cohort_size, default=10_000, help="cohort size (default 10000)"
    )
    rules.add_argument("--seed", type=int, default=2020, help="cohort seed (default 2020)")
    rules.add_argument(
        "--processes",
        type=int,
        default=0,
        help="with diff: worker processes for the cohort (default 0: one per CPU)",
    )
    rules.add_argument(
        "--require-bump",
        action="store_true",
        help="with diff: exit 1 when decisions change but NEW keeps OLD's version",
    )
    rules.add_argument(
        "--stale",
        action="store_true",
        help="list the rule base and the rules never signed off or past their review date",
    )
    rules.add_argument(
        "--today", type=_iso_date, help="the date to judge reviews by (default: today)"
    )
    rules.add_argument("--context", help="regulatory context (default: the current one)")


def _cmd_rules_diff(args: argparse.Namespace) -> int:
    from sequencer.explain.corpus_impact import corpus_impact
    from sequencer.explain.impact import load_revision, rules_diff
    from sequencer.present.markdown import markdown_impact
    from sequencer.present.validation_views import markdown_corpus_impact

    if len(args.bases) != 2:
        say("rules diff takes two rule bases: OLD NEW")
        return EXIT_INPUT
    keep: list[Any] = []
    books = []
    for base in args.bases:
        path = Path(base)
        books.append(
            rulebook_from(path) if path.is_dir() else load_revision(base, Path.cwd(), keep)
        )
    from sequencer.cli.progress import progress

    with progress("cohort", args.cohort) as advance:
        impact = rules_diff(
            books[0],
            books[1],
            size=args.cohort,
            seed=args.seed,
            context=args.context,
            processes=args.processes,
            progress=advance,
        )
    found = corpus_impact(books[0], books[1])
    if args.format == "json":
        print(
            json.dumps({**impact_json(impact), "corpus": found.model_dump(mode="json")}, indent=2)
        )
    else:
        print(markdown_impact(impact) + "\n" + markdown_corpus_impact(found), end="")
    if args.require_bump and impact.changes and not _raised(books[0].version, books[1].version):
        say(
            f"{len(impact.changes)} decisions change but the rule base's version goes from "
            f"{books[0].version} to {books[1].version}: raise `version` in rules/rulebook.yaml"
        )
        return EXIT_DISAGREE
    return EXIT_OK


def _raised(old: str, new: str) -> bool:
    """Whether version ``new`` is later than ``old`` (dotted numbers compared as numbers;
    any other spelling only has to differ)."""
    try:
        return tuple(map(int, new.split("."))) > tuple(map(int, old.split(".")))
    except ValueError:
        return new != old


def impact_json(impact: Any) -> dict[str, Any]:
    """A rule-base change as JSON: rule changes, counts, and every changed decision."""
    return {
        "old": impact.old,
        "new": impact.new,
        "rules": [
            {"id": c.rule, "kind": c.kind, "parts": list(c.parts), "strength": c.strength}
            for c in impact.rules
        ],
        "evaluated": dict(impact.evaluated),
        "changed": dict(impact.changed),
        "changes": [
            {
                "source": c.source,
                "patient": c.patient,
                "context": c.context,
                "before": c.before,
                "after": c.after,
                "gained": list(c.gained),
                "lost": list(c.lost),
            }
            for c in impact.changes
        ],
        "coverage": coverage_json(impact.coverage, 0)["rules"] if impact.coverage else [],
        "never_fire": impact.coverage.never_fire if impact.coverage else [],
        "never_decide": impact.coverage.never_decide if impact.coverage else [],
    }


def coverage_json(found: Any, seed: int) -> dict[str, Any]:
    """The coverage as JSON: the cohort, and per rule its fires and decisions."""
    return {
        "context": found.context,
        "cohort": found.size,
        "seed": seed,
        "rules": [{"id": r.rule, "fires": r.fires, "decides": r.decides} for r in found.rules],
        "never_fire": found.never_fire,
        "never_decide": found.never_decide,
    }


def _iso_date(text: str) -> Any:
    """argparse type: a date as YYYY-MM-DD."""
    import datetime

    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _print_stale(book: Any, args: argparse.Namespace) -> int:
    from sequencer.knowledge.review import stale_rules, today

    on = args.today or today()
    entries = stale_rules(book, on)
    if args.format == "json":
        payload = {
            "on": on.isoformat(),
            "needs_review": [
                {"rule": e.rule, "reason": e.reason, "due": e.due.isoformat() if e.due else None}
                for e in entries
            ],
        }
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    print(f"Review of {book.name} {book.version} on {on}: {len(entries)} need review.")
    for e in entries:
        name = "the rule base" if e.rule == "*" else e.rule
        print(f"- {name}: {e.reason}")
    return EXIT_OK


def _cohort_size(text: str) -> int:
    """argparse type: a cohort size from 1 to 10,000,000."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 10_000_000:
        raise argparse.ArgumentTypeError("between 1 and 10000000")
    return value


def cmd_rules(args: argparse.Namespace) -> int:
    from sequencer.present.console import print_rules
    from sequencer.present.markdown import markdown_coverage, markdown_rules

    if args.action == "diff":
        return _cmd_rules_diff(args)
    if args.bases:
        say("rule bases are given only with `rules diff OLD NEW`")
        return EXIT_INPUT
    book = rulebook_from(args.rules)
    if args.stale:
        return _print_stale(book, args)
    if args.coverage:
        from sequencer.cli.progress import tracked
        from sequencer.explain.cohort import cohort, coverage
        from sequencer.present.console import print_coverage

        patients = tracked(cohort(book, args.cohort, args.seed), "coverage", args.cohort)
        found = coverage(book, patients, args.context)
        if args.format == "json":
            print(json.dumps(coverage_json(found, args.seed), indent=2))
        elif args.format == "markdown":
            print(markdown_coverage(found, book, args.seed), end="")
        else:
            print_coverage(found, book, args.seed, console())
        return EXIT_OK
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
        print_rules(book, console())
    return EXIT_OK
