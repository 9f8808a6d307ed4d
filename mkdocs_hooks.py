"""MkDocs hooks: the generated parts of the documentation site, written at build time
from the rule base and the FHIR code table so that the pages cannot drift from them.

A page marks a generated part with ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``;
whatever stands between the markers in the file is replaced by the generated text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sequencer import default_rulebook
from sequencer.interop.code_docs import markdown_code_table
from sequencer.present.markdown import markdown_catalogue

GENERATED: dict[str, Callable[[], str]] = {
    "catalogue": lambda: markdown_catalogue(default_rulebook()),
    "fhir-codes": markdown_code_table,
}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Return the page's Markdown with every generated part written afresh."""
    for name, generate in GENERATED.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start in markdown and end in markdown:
            head, rest = markdown.split(start, 1)
            _, tail = rest.split(end, 1)
            markdown = f"{head}{start}\n{generate()}{end}{tail}"
    return markdown
