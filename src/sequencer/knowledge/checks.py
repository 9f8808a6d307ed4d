"""Checks across a loaded rule base: references, concepts, arguments, and the rule
that an unknown value never scores."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sequencer.errors import RuleBaseError
from sequencer.knowledge.conditions import Compare, Node
from sequencer.knowledge.schema import (
    AddOn,
    Argument,
    Bibliography,
    Caution,
    Defer,
    Failed,
    Favors,
    LoadedRule,
    NotEligible,
    OutsideTherapies,
    SetsAside,
    SuggestOutsideTherapy,
)
from sequencer.knowledge.yamlsource import Located
from sequencer.model.fields import FIELDS


def first_line_mentioning(path: Path, text: str) -> int | None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return number
    return None


def check_references(
    entry: LoadedRule,
    doc: Located,
    base: tuple[int | str, ...],
    bib: Bibliography,
    alts: OutsideTherapies,
) -> None:
    rule = entry.rule
    for i, key in enumerate(rule.citations):
        if key not in bib.sources:
            raise RuleBaseError(
                f"citations[{i}]: unknown source '{key}' (not in bibliography.yaml)",
                path=entry.path,
                line=doc.line_of((*base, "citations", i)),
                rule_id=rule.id,
            )
    for k, effect in enumerate(rule.then):
        if (
            isinstance(effect, SuggestOutsideTherapy)
            and effect.alternative not in alts.alternatives
        ):
            raise RuleBaseError(
                f"then[{k}]: unknown alternative '{effect.alternative}' (not in alternatives.yaml)",
                path=entry.path,
                line=doc.line_of((*base, "then", k)),
                rule_id=rule.id,
            )


def check_concepts(loaded: list[LoadedRule]) -> None:
    """Fail on concepts used but never derived, and on rules that can never fire."""
    active = [r for r in loaded if r.rule.status == "active"]
    derived_by: dict[str, list[LoadedRule]] = {}
    for entry in active:
        for name in entry.rule.derives:
            derived_by.setdefault(name, []).append(entry)
    for entry in active:
        for name in entry.rule.condition.concepts:
            if name not in derived_by:
                raise RuleBaseError(
                    f"when: concept '{name}' is not derived by any active rule",
                    path=entry.path,
                    line=entry.line,
                    rule_id=entry.rule.id,
                )
    reachable: set[str] = set()
    changed = True
    while changed:
        changed = False
        for entry in active:
            if set(entry.rule.condition.concepts) <= reachable:
                new = set(entry.rule.derives) - reachable
                if new:
                    reachable |= new
                    changed = True
    for entry in active:
        blocked = set(entry.rule.condition.concepts) - reachable
        if blocked:
            raise RuleBaseError(
                f"can never fire: concept(s) {', '.join(sorted(blocked))} depend on each other "
                "in a cycle",
                path=entry.path,
                line=entry.line,
                rule_id=entry.rule.id,
            )


def check_arguments(
    loaded: list[LoadedRule],
    arguments: Mapping[str, Argument],
    lines: Mapping[str, tuple[str, int | None]],
) -> None:
    """Fail on an argument that no active rule makes (dead knowledge)."""
    made = {
        e.argues
        for entry in loaded
        if entry.rule.status == "active"
        for e in entry.rule.then
        if isinstance(e, Favors)
    }
    for name in arguments:
        if name not in made:
            path, line = lines[name]
            raise RuleBaseError(
                f"argument '{name}' is made by no active rule", path=path, line=line
            )


def tests_unknown(node: Node) -> bool:
    """Whether a condition can hold because a value is unknown: ``is: unknown``, or a
    comparison that names an enumeration's ``unknown`` value."""
    if isinstance(node, Compare):
        literal = FIELDS[node.field].unknown_value
        names = node.value if isinstance(node.value, tuple) else (node.value,)
        return node.op == "unknown" or (
            literal is not None and node.op in ("eq", "in") and literal in names
        )
    return any(tests_unknown(item) for item in node.items)


def check_unknown_never_scores(loaded: list[LoadedRule]) -> None:
    """Fail on a rule that could score, defeat, defer or exclude on an unknown value.

    A rule that tests ``is: unknown`` (directly, or through a concept derived by such a
    rule) may only report a missing fact, caution, suggest or derive: unknown is never
    "no", and never scores.
    """
    active = [r for r in loaded if r.rule.status == "active"]
    guessing: set[str] = set()
    changed = True
    while changed:
        changed = False
        for entry in active:
            rule = entry.rule
            unsure = tests_unknown(rule.condition.profile) or bool(
                set(rule.condition.concepts) & guessing
            )
            if unsure and not set(rule.derives) <= guessing:
                guessing |= set(rule.derives)
                changed = True
    for entry in active:
        rule = entry.rule
        unsure = tests_unknown(rule.condition.profile) or bool(
            set(rule.condition.concepts) & guessing
        )
        if not unsure:
            continue
        for k, effect in enumerate(rule.then):
            if isinstance(effect, Favors | Failed | SetsAside | Defer | NotEligible):
                raise RuleBaseError(
                    f"then[{k}]: a rule that tests an unknown value (is: unknown, or a "
                    "comparison naming 'unknown') may not argue, defeat, defer or exclude: "
                    "unknown never scores; report it with 'missing' instead",
                    path=entry.path,
                    line=entry.line,
                    rule_id=rule.id,
                )


def resolve_direction(
    argument: Argument, options: tuple[str, ...], path: str, line: int | None
) -> Argument:
    """Return the argument with the options it names checked and its direction set.

    A weakness alone pushes toward the other option when there are two; with more, the
    argument must say which (``toward``). Raises ``RuleBaseError`` at ``path:line``.
    """
    for key in ("pro_of", "con_of", "toward"):
        named = getattr(argument, key)
        if named is not None and named not in options:
            raise RuleBaseError(
                f"argument '{argument.id}': {key}: unknown option '{named}' "
                f"(options: {', '.join(options)})",
                path=path,
                line=line,
            )
    if argument.pro_of is not None or argument.toward is not None:
        return argument
    others = [o for o in options if o != argument.con_of]
    if len(others) != 1:
        raise RuleBaseError(
            f"argument '{argument.id}': a weakness alone must say which option it pushes "
            "toward ('toward:') when there are more than two options",
            path=path,
            line=line,
        )
    return argument.model_copy(update={"toward": others[0]})


def check_options(
    entry: LoadedRule, doc: Located, base: tuple[int | str, ...], options: tuple[str, ...]
) -> None:
    """Refuse an effect that names an option the manifest does not declare."""
    for k, effect in enumerate(entry.rule.then):
        named: tuple[str, ...] = ()
        if isinstance(effect, Favors) and effect.favors is not None:
            named = (effect.favors,)
        elif isinstance(effect, Failed):
            named = (effect.failed,)
        elif isinstance(effect, Defer):
            named = effect.defer
        elif isinstance(effect, NotEligible):
            named = effect.not_eligible
        elif isinstance(effect, Caution):
            named = effect.caution
        elif isinstance(effect, AddOn):
            named = (effect.to,)
        unknown = [n for n in named if n not in options]
        if unknown:
            raise RuleBaseError(
                f"then[{k}]: unknown option '{unknown[0]}' (options: {', '.join(options)})",
                path=entry.path,
                line=doc.line_of((*base, "then", k)),
                rule_id=entry.rule.id,
            )
