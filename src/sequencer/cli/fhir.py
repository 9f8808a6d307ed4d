"""The ``fhir`` verb: a FHIR R4 Bundle (or resource, or list of them) mapped to a profile,
with what was found where, what was not found and what was not used; or, with
``--guidance``, the recommendation as a FHIR GuidanceResponse; or, with
``--questionnaire``, the Questionnaire sequencer ships.

Everything taken from the input is printed with its control characters escaped.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

from sequencer.cli.common import EXIT_INPUT, EXIT_OK, rulebook_from
from sequencer.present.terminal import printable, read_input, say

__all__ = ["add_fhir_verb", "cmd_fhir"]

MAX_BYTES = 20_000_000


def add_fhir_verb(verbs: Any) -> None:
    """Register ``sequencer fhir`` on the verbs' subparsers."""
    fhir = verbs.add_parser(
        "fhir",
        help="map a FHIR R4 Bundle to a profile and say what was and was not found",
    )
    fhir.add_argument(
        "file", nargs="?", help="FHIR JSON: a Bundle, a resource or a list; - for stdin"
    )
    fhir.add_argument(
        "--as-of",
        type=datetime.date.fromisoformat,
        help="the date ages are computed on, YYYY-MM-DD (default: today)",
    )
    fhir.add_argument("--format", choices=["text", "json"], default="text", help="default text")
    fhir.add_argument("--guidance", action="store_true", help="print the GuidanceResponse (JSON)")
    fhir.add_argument(
        "--questionnaire",
        action="store_true",
        help="print the Questionnaire for facts FHIR has no place for (JSON)",
    )
    fhir.add_argument("--context", help="regulatory context for --guidance")
    fhir.add_argument("--rules", type=Path, help="rule base directory (default: shipped)")


def _load(name: str) -> Any:
    """The JSON in ``name``; raises ``FhirError`` for text that is not JSON, too large, or
    holds a key more than once in one object (each with its path: which value would be
    meant is not guessed)."""
    from sequencer.errors import FhirError, Problem, ProfileError
    from sequencer.model.parsing import load_json_strict

    data = read_input(name)
    if len(data) > MAX_BYTES:
        raise FhirError([Problem("", f"larger than {MAX_BYTES:,} bytes", "too_large")], source=name)
    try:
        return load_json_strict(data)
    except ProfileError as error:
        raise FhirError(error.problems, source=name) from None


def _line(text: str) -> str:
    """Text from the input on one line: newlines and control characters escaped."""
    return printable(text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))


def _text(mapping: Any) -> str:
    """The mapping in words; every string from the input shown escaped, on its line."""
    profile = json.dumps(mapping.profile, indent=2, ensure_ascii=False)
    lines = [
        f"Profile mapped from FHIR (id {_line(str(mapping.profile['id']))}):",
        printable(profile),
    ]
    lines += ["", f"Found ({len(mapping.found)}):"]
    for fact in mapping.found:
        code = f" [{_line(fact.system)} {_line(fact.code)}]" if fact.system and fact.code else ""
        value = json.dumps(fact.value, ensure_ascii=False)
        lines.append(f"  {fact.field} = {_line(value)}  from {_line(fact.source)}{code}")
    for fact in mapping.given:
        note = "; the response is not in FHIR" if fact.field in mapping.not_found else ""
        lines.append(f"  {fact.field}: given, shown by {_line(fact.source)}{note}")
    lines.append(f"Not found, unknown ({len(mapping.not_found)}):")
    lines.extend(f"  {field}" for field in mapping.not_found)
    lines.append(f"Not used ({len(mapping.unused)}):")
    lines.extend(f"  {_line(u.source)}: {_line(u.reason)}" for u in mapping.unused)
    return "\n".join(lines)


def cmd_fhir(args: argparse.Namespace) -> int:
    """Run ``sequencer fhir``; return the exit status."""
    try:
        from sequencer.interop.fhir_in import profile_from_fhir
        from sequencer.interop.fhir_out import guidance_response
        from sequencer.interop.questionnaire import questionnaire
    except ImportError:  # pragma: no cover - the extra is installed by make test
        say("FHIR needs its extra: pip install 'sequencer[fhir]'")
        return EXIT_INPUT
    if args.questionnaire:  # generated now: `make questionnaire` writes the shipped file
        print(json.dumps(questionnaire(rulebook_from(args.rules)), indent=2, ensure_ascii=False))
        return EXIT_OK
    if args.file is None:
        say("give a FHIR JSON FILE (or - for standard input), or --questionnaire")
        return EXIT_INPUT
    try:
        data = _load(args.file)
    except OSError as error:
        say(f"cannot read {args.file}: {error.strerror or error}")
        return EXIT_INPUT
    if not isinstance(data, dict | list):
        say(f"{args.file}: a FHIR resource, Bundle or list is expected")
        return EXIT_INPUT
    from sequencer.errors import FhirError

    try:
        mapping = profile_from_fhir(data, as_of=args.as_of)
    except FhirError as error:
        raise FhirError(error.problems, source=args.file) from None
    if args.guidance:
        from sequencer.api import recommend

        rec = recommend(mapping.profile, rulebook=rulebook_from(args.rules), context=args.context)
        print(json.dumps(guidance_response(rec), indent=2, ensure_ascii=True))
    elif args.format == "json":
        print(json.dumps(mapping.model_dump(mode="json"), indent=2, ensure_ascii=True))
    else:
        sys.stdout.write(_text(mapping) + "\n")
    return EXIT_OK
