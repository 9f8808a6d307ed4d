"""YAML loading that remembers where every value came from.

PyYAML does the parsing; this module keeps the line of every mapping key and list
item, rejects duplicate keys (PyYAML silently keeps the last one), and leaves dates
as plain strings. ``Located.line_of(loc)`` maps a pydantic error location back to the
nearest line in the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sequencer.errors import RuleBaseError

if TYPE_CHECKING:
    import yaml

__all__ = ["Located", "load_yaml"]

Loc = tuple[int | str, ...]


@cache
def _loader_class() -> type[yaml.SafeLoader]:
    """SafeLoader without the implicit timestamp type (dates stay strings), on libyaml's
    parser (shipped in PyYAML's wheels) when present: several times faster.

    Built on first use: a process that finds its rule base already loaded and kept
    (``sequencer.knowledge.kept``) never imports PyYAML.
    """
    import yaml

    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _Loader(base):  # type: ignore[valid-type, misc]
        pass

    _Loader.yaml_implicit_resolvers = {
        key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return _Loader


@dataclass
class Located:
    """A parsed YAML document with the 1-based line of each value, by location."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Sequence[int | str]) -> int | None:
        """Return the line of ``loc``, or of its nearest enclosing value that has one."""
        key = tuple(loc)
        while True:
            if key in self.lines:
                return self.lines[key]
            if not key:
                return None
            key = key[:-1]


def load_yaml(path: Path, display: str | None = None) -> Located:
    """Parse one YAML file, keeping line numbers.

    Returns a ``Located``. Raises ``RuleBaseError`` (with file and line) for a file
    that cannot be read, is not valid YAML, holds several documents, or repeats a key.
    """
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RuleBaseError(f"cannot read file: {error}", path=shown) from None
    import yaml

    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        problem = error.problem or str(error)
        raise RuleBaseError(f"invalid YAML: {problem}", path=shown, line=line) from None
    except yaml.YAMLError as error:
        raise RuleBaseError(f"invalid YAML: {error}", path=shown) from None
    finally:
        loader.dispose()
    located = Located(path=path, data=None)
    if node is None:
        return located
    located.data = _Converter(located, loader, shown, yaml.MappingNode, yaml.SequenceNode).value(
        node, ()
    )
    return located


@dataclass
class _Converter:
    """Turns one document's nodes into plain values, noting each value's line."""

    out: Located
    loader: yaml.SafeLoader
    shown: str
    mapping: type[yaml.MappingNode]
    sequence: type[yaml.SequenceNode]
    seen: set[int] = field(default_factory=set)

    def value(self, node: yaml.Node, loc: Loc) -> Any:
        """Return the plain value of ``node`` at ``loc``. Raises ``RuleBaseError`` for an
        alias, a key that is not a plain scalar, or a repeated key."""
        out, shown = self.out, self.shown
        if isinstance(node, self.mapping | self.sequence):
            # An alias makes the composer hand back a node it already gave: expanding
            # them can grow a small file exponentially (the "billion laughs"). Rule files
            # are read by people, so anchors and aliases are simply not allowed.
            if id(node) in self.seen:
                raise RuleBaseError(
                    "anchors and aliases (& and *) are not allowed in rule files; write the "
                    "content out",
                    path=shown,
                    line=out.line_of(loc) or node.start_mark.line + 1,
                )
            self.seen.add(id(node))
        out.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, self.mapping):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) or key is None:
                    raise RuleBaseError(
                        "mapping keys must be plain scalars",
                        path=shown,
                        line=key_node.start_mark.line + 1,
                    )
                if key in result:
                    raise RuleBaseError(
                        f"duplicate key {key!r}", path=shown, line=key_node.start_mark.line + 1
                    )
                child = (*loc, key) if isinstance(key, str | int) else (*loc, str(key))
                out.lines[child] = key_node.start_mark.line + 1
                result[key] = self.value(value_node, child)
            return result
        if isinstance(node, self.sequence):
            return [self.value(item, (*loc, index)) for index, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)
