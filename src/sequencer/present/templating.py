"""The Jinja2 templates the case report and the board's page share.

The templates ship in the package (``sequencer/present/templates/``) and are rendered
with autoescaping on, so nothing a user typed reaches a page as markup. Every value a
template prints also passes through ``plain_words``: a profile field's dotted path
(``disease.cd19``) that slipped into a sentence is shown by its label from the rule
base's vocabulary instead, so a clinician never reads a raw field path.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jinja2
from markupsafe import Markup, escape

from sequencer.knowledge.vocabulary import Vocabulary, lower_label
from sequencer.model.fields import FIELDS

__all__ = [
    "DOTTED_FIELDS",
    "environment",
    "plain_words",
    "problem_words",
    "render",
    "teaching_environment",
]

DOTTED_FIELDS: tuple[str, ...] = tuple(
    sorted((f for f in FIELDS if "." in f), key=len, reverse=True)
)
"""The profile's dotted field paths, longest first (the ones that read as code)."""

_PATH = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, DOTTED_FIELDS)) + r")(?![\w])")


def plain_words(text: str, vocabulary: Vocabulary) -> str:
    """Return ``text`` with every dotted field path replaced by the field's label
    (lower-cased inside a sentence, as written at its start)."""

    def label(match: re.Match[str]) -> str:
        words = vocabulary.label(match.group(1))
        start = match.start() == 0 or text[: match.start()].rstrip().endswith((".", ":"))
        return words if start else lower_label(words)

    return _PATH.sub(label, text)


def problem_words(field: str, message: str, vocabulary: Vocabulary) -> tuple[str, str]:
    """A validation problem in the rule base's words: the label of the field it is about
    ("The record" for one the vocabulary does not name) and its message with every field
    named by its label, the bare names of ``field``'s sibling fields included
    (``prior_allo_hct`` in a message about ``transplant.months_since_hct``)."""
    label = vocabulary.label(field) if field in FIELDS else "The record"
    prefix = field.rpartition(".")[0]
    if prefix:
        siblings = {f.rpartition(".")[2] for f in FIELDS if f.rpartition(".")[0] == prefix}
        names = "|".join(sorted(map(re.escape, siblings), key=len, reverse=True))
        message = re.sub(rf"(?<![\w.])({names})(?![\w])", rf"{prefix}.\1", message)
    return label, plain_words(message, vocabulary)


@functools.lru_cache(maxsize=8)
def environment(vocabulary: Vocabulary) -> jinja2.Environment:
    """The template environment for one rule base's ``vocabulary`` (cached): package
    templates, autoescaping, undefined names an error, field paths finalized to labels."""

    def finalize(value: Any) -> Any:
        if isinstance(value, Markup):
            return value  # already markup made by our own code (the SVG chart)
        if isinstance(value, str):
            return plain_words(value, vocabulary)
        return value

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sequencer.present", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["plain"] = lambda text: escape(plain_words(str(text), vocabulary))
    return env


@functools.cache
def teaching_environment() -> jinja2.Environment:
    """The template environment of the teaching pages (``templates/teaching/``):
    autoescaped, undefined names an error; their words come ready-made from
    ``present.teaching``, so no field paths are translated here."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("sequencer.present", "templates/teaching"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )


def render(vocabulary: Vocabulary, template: str, **context: Any) -> str:
    """Render the packaged ``template`` with ``context``; raises ``jinja2.TemplateError``
    for a template that is missing or uses a name not given."""
    return environment(vocabulary).get_template(template).render(**context)
