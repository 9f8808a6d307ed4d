"""YAML loading that remembers where every value came from.

PyYAML does the parsing; this module keeps the line of every mapping key and list
item, rejects duplicate keys (PyYAML silently keeps the last one), and leaves dates
as plain strings. ``Located.line_of(loc)`` maps a pydantic error location back to the
nearest line in the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sequencer.errors import RuleBaseError

__all__ = ["Located", "load_yaml"]

Loc = tuple[int | str, ...]


# libyaml's parser (shipped in PyYAML's wheels) when present: several times faster.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type, misc]
    """SafeLoader without the implicit timestamp type: dates stay strings."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


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
    loader = _Loader(text)
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
    located.data = _convert(node, (), located, loader, shown, set())
    return located


def _convert(
    node: yaml.Node, loc: Loc, out: Located, loader: _Loader, shown: str, seen: set[int]
) -> Any:
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        # An alias makes the composer hand back a node it already gave: expanding them
        # can grow a small file exponentially (the "billion laughs"). Rule files are
        # read by people, so anchors and aliases are simply not allowed.
        if id(node) in seen:
            raise RuleBaseError(
                "anchors and aliases (& and *) are not allowed in rule files; write the "
                "content out",
                path=shown,
                line=out.line_of(loc) or node.start_mark.line + 1,
            )
        seen.add(id(node))
    out.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
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
            result[key] = _convert(value_node, child, out, loader, shown, seen)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, (*loc, index), out, loader, shown, seen)
            for index, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)
