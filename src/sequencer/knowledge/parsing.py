"""Validating one YAML document against a schema model, and one rule, with errors that
name the file, the line and the rule id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from sequencer.errors import RuleBaseError
from sequencer.knowledge.conditions import ConditionError
from sequencer.knowledge.schema import EFFECT_MODELS, Argument, Effect, Favors, Rule, SetsAside
from sequencer.knowledge.yamlsource import Located


def validate_model(
    model: type[BaseModel],
    data: Any,
    doc: Located,
    shown: str,
    base: tuple[int | str, ...] = (),
    rule_id: str | None = None,
    named: bool = False,
) -> Any:
    """Validate ``data`` (found at ``base`` in ``doc``); raise ``RuleBaseError`` at its line
    (its message names the path from ``base`` on, or with ``named`` from the file's top)."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        # A misspelt key shows up twice: as an unknown key and as a missing one.
        # Report the unknown key (it has a line), naming what is missing beside it.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = tuple(p for p in first["loc"] if not _is_union_tag(p))
        full = (*base, *loc)
        shown_loc = full if named else loc
        where = ".".join(str(p) for p in shown_loc) or "<top>"
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'"
            where = ".".join(str(p) for p in shown_loc[:-1]) or "<top>"
            absent = [
                str(e["loc"][-1])
                for e in errors
                if e["type"] == "missing" and tuple(e["loc"][:-1]) == loc[:-1]
            ]
            if absent:
                message += f" (missing: {', '.join(absent)})"
        text = message if where == "<top>" else f"{where}: {message}"
        raise RuleBaseError(text, path=shown, line=doc.line_of(full), rule_id=rule_id) from None


def _is_union_tag(part: int | str) -> bool:
    return isinstance(part, str) and part[:1].isupper()


def _effect_model(raw: Any) -> type[BaseModel] | None:
    """Pick the effect schema from the effect's leading key, for precise errors."""
    if not isinstance(raw, Mapping):
        return None
    for model in EFFECT_MODELS:
        key = next(iter(model.model_fields))
        if key in raw:
            return model
    return None


def load_rule(
    raw: Any,
    doc: Located,
    shown: str,
    index: int,
    arguments: Mapping[str, Argument],
    base: tuple[int | str, ...] | None = None,
) -> Rule:
    base = base if base is not None else ("rules", index)
    rule_id = raw.get("id") if isinstance(raw, Mapping) else None
    rule_id = rule_id if isinstance(rule_id, str) else None
    if isinstance(raw, Mapping) and isinstance(raw.get("then"), list):
        for k, effect in enumerate(raw["then"]):
            model = _effect_model(effect)
            if model is None:
                raise RuleBaseError(
                    "then: each effect starts with one of "
                    + ", ".join(next(iter(m.model_fields)) for m in EFFECT_MODELS),
                    path=shown,
                    line=doc.line_of((*base, "then", k)),
                    rule_id=rule_id,
                )
            validate_model(model, effect, doc, shown, (*base, "then", k), rule_id)
    rule: Rule = validate_model(Rule, raw, doc, shown, base, rule_id)
    try:
        rule.condition  # noqa: B018 - parse now so faults surface at load
    except ConditionError as error:
        raise RuleBaseError(
            f"when: {error.message}",
            path=shown,
            line=doc.line_of((*base, "when", *error.loc)),
            rule_id=rule.id,
        ) from None
    return _resolve_arguments(rule, doc, shown, base, arguments)


def _resolve_arguments(
    rule: Rule,
    doc: Located,
    shown: str,
    base: tuple[int | str, ...],
    arguments: Mapping[str, Argument],
) -> Rule:
    """Fill in each ``argues`` effect's direction from its argument; check references."""
    then: list[Effect] = []
    for k, effect in enumerate(rule.then):
        where = doc.line_of((*base, "then", k))
        if isinstance(effect, Favors):
            argument = arguments.get(effect.argues)
            if argument is None:
                raise RuleBaseError(
                    f"then[{k}]: unknown argument '{effect.argues}' (declare it under "
                    "'arguments:' in a considerations file)",
                    path=shown,
                    line=where,
                    rule_id=rule.id,
                )
            if effect.favors is not None and effect.favors != argument.favors:
                raise RuleBaseError(
                    f"then[{k}]: says favors {effect.favors}, but argument "
                    f"'{argument.id}' favors {argument.favors}",
                    path=shown,
                    line=where,
                    rule_id=rule.id,
                )
            effect = effect.model_copy(update={"favors": argument.favors})
        elif isinstance(effect, SetsAside):
            for name in effect.sets_aside:
                if name not in arguments:
                    raise RuleBaseError(
                        f"then[{k}]: sets aside unknown argument '{name}'",
                        path=shown,
                        line=where,
                        rule_id=rule.id,
                    )
        then.append(effect)
    return rule.model_copy(update={"then": then})
