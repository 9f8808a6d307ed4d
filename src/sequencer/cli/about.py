"""The ``sequencer about`` verb: the transparency document of the rule base (intended
use, inputs, evidence, developer, funding, dates, validation, limitations), as Markdown
or JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sequencer.cli.common import EXIT_OK, rulebook_from

__all__ = ["add_about_verb", "cmd_about"]


def add_about_verb(verbs: Any) -> None:
    """Add the ``about`` subparser to ``verbs``."""
    about = verbs.add_parser(
        "about",
        help="the transparency document: intended use, inputs, evidence, developer, "
        "funding, dates, validation, limitations (ONC HTI-1 source attributes)",
    )
    about.add_argument(
        "--format", choices=["markdown", "json"], default="markdown", help="default: markdown"
    )
    about.add_argument(
        "--context", help="regulatory context (default: the current one; `sequencer rules`)"
    )
    about.add_argument("--rules", type=Path, help="rule base directory (default: shipped)")


def cmd_about(args: argparse.Namespace) -> int:
    """Print the document; the library's errors become exit statuses in ``cli.main``."""
    from sequencer.present.about import about_document
    from sequencer.present.about_views import markdown_about

    doc = about_document(rulebook_from(args.rules), args.context)
    if args.format == "json":
        print(json.dumps(doc.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        print(markdown_about(doc), end="")
    return EXIT_OK
