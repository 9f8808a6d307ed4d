"""A context file's rules: its ``rules:`` list, each product's ``criteria`` (compiled
into rules that hold the patient back from that product) and ``no_product_admits``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sequencer.errors import RuleBaseError
from sequencer.knowledge.checks import first_line_mentioning
from sequencer.knowledge.contexts import (
    ACCESS_FIELD,
    Context,
    ContextHead,
    ContextProduct,
    OptionLabel,
    ProductAccess,
)
from sequencer.knowledge.parsing import load_rule, validate_model
from sequencer.knowledge.schema import Argument, Bibliography, OptionSpec, Rule
from sequencer.knowledge.yamlsource import Located, load_yaml
from sequencer.model.fields import number_ranges

_Loc = tuple[int | str, ...]
_ContextRule = tuple[str, Path, Located, _Loc, Any, "ContextProduct | None"]


def load_contexts(
    paths: list[Path],
    shown: Callable[[Path], str],
    bib: Bibliography,
    options: Sequence[OptionSpec],
) -> tuple[dict[str, Context], list[_ContextRule]]:
    """Return the contexts, and their rules: the ``rules:`` list, each product's
    ``criteria`` (with the product they belong to), and the ``no_product_admits`` rule
    compiled from them.

    Raises ``RuleBaseError`` at the line of the first problem.
    """
    contexts: dict[str, Context] = {}
    rules: list[_ContextRule] = []
    for path in paths:
        doc = load_yaml(path, shown(path))
        data = doc.data
        products_option = _products_option(options, data, shown(path))
        raw_rules = data.pop("rules", []) if isinstance(data, dict) else []
        if not isinstance(raw_rules, list):
            raise RuleBaseError(
                "rules: a list of rules", path=shown(path), line=doc.line_of(("rules",))
            )
        criteria, admits_spec = _pop_product_criteria(data, doc, shown(path), products_option)
        context = _validate_context(data, doc, shown(path), options, products_option)
        if context.context in contexts:
            raise RuleBaseError(
                f"context '{context.context}' is defined twice",
                path=shown(path),
                line=doc.line_of(("context",)),
            )
        for key in context.citations():
            if key not in bib.sources:
                raise RuleBaseError(
                    f"unknown source '{key}' (not in bibliography.yaml)",
                    path=shown(path),
                    line=first_line_mentioning(path, key),
                )
        contexts[context.context] = context
        name = context.context
        rules.extend((name, path, doc, ("rules", i), raw, None) for i, raw in enumerate(raw_rules))
        for p_index, c_index, raw in criteria:
            product = context.product_access.products[p_index]
            at: _Loc = (products_option, "products", p_index, "criteria", c_index)
            rules.append((name, path, doc, at, raw, product))
        admits = _no_product_admits(context, criteria, admits_spec, doc, shown(path))
        if admits is not None:
            at = (products_option, "no_product_admits")
            rules.append((name, path, doc, at, admits, None))
    return contexts, rules


def _products_option(options: Sequence[OptionSpec], data: Any, shown: str) -> str:
    """Return the id of the option given as products: the one ``rulebook.yaml`` marks
    ``has_products``, or in a rule base written before that mark, the one whose section
    in this context file lists ``products``. Raises ``RuleBaseError`` when neither
    names exactly one."""
    marked = [o.id for o in options if o.has_products]
    if marked:
        return marked[0]
    listing = [
        o.id
        for o in options
        if isinstance(data, dict) and isinstance(data.get(o.id), dict) and "products" in data[o.id]
    ]
    if len(listing) != 1:
        raise RuleBaseError(
            "no option is given as products: mark it in rulebook.yaml (has_products: true) "
            "and list its products under its id in each context",
            path=shown,
        )
    return listing[0]


def _validate_context(
    data: Any,
    doc: Located,
    shown: str,
    options: Sequence[OptionSpec],
    products_option: str,
) -> Context:
    """Validate a context file's data (its rules taken out): the head, and a section
    under each option's id (the products option's access rules, the others' labels).

    Raises ``RuleBaseError`` at the line of the first problem.
    """
    if not isinstance(data, dict):
        data = {}
    ids = {o.id for o in options}
    head: ContextHead = validate_model(
        ContextHead, {k: v for k, v in data.items() if k not in ids}, doc, shown
    )
    access: ProductAccess | None = None
    labels: dict[str, OptionLabel] = {}
    for option in options:
        if option.id not in data:
            raise RuleBaseError(
                f"{option.id}: Field required (a section for each option in rulebook.yaml)",
                path=shown,
            )
        given_as_products = option.id == products_option
        model = ProductAccess if given_as_products else OptionLabel
        section = validate_model(model, data[option.id], doc, shown, base=(option.id,), named=True)
        if given_as_products:
            access = section
        else:
            labels[option.id] = section
    assert access is not None  # products_option is one of the options
    return Context(
        **head.model_dump(),
        products_option=products_option,
        product_access=access,
        labels=labels,
    )


def _pop_product_criteria(
    data: Any, doc: Located, shown: str, products_option: str
) -> tuple[list[tuple[int, int, Any]], Any]:
    """Take the products' ``criteria`` lists and ``no_product_admits`` out of a context
    file's data (they are rules, loaded as such); return them."""
    section = data.get(products_option) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        return [], None
    admits_spec = section.pop("no_product_admits", None)
    found: list[tuple[int, int, Any]] = []
    products = section.get("products")
    for p_index, product in enumerate(products if isinstance(products, list) else []):
        if not isinstance(product, dict) or "criteria" not in product:
            continue
        raw = product.pop("criteria")
        if not isinstance(raw, list):
            raise RuleBaseError(
                "criteria: a list of the product's criteria",
                path=shown,
                line=doc.line_of((products_option, "products", p_index, "criteria")),
            )
        found.extend((p_index, c_index, item) for c_index, item in enumerate(raw))
    return found, admits_spec


def _age_bounds(product: ContextProduct, inside: bool) -> list[dict[str, Any]]:
    """Conditions on age inside (``inside``) or outside the product's label ages, as far
    as adult profiles can fall outside them."""
    low, high, _ = number_ranges()["age"]
    out: list[dict[str, Any]] = []
    if product.min_age > low:
        out.append({"age": {"ge" if inside else "lt": product.min_age}})
    if product.max_age is not None and product.max_age < high:
        out.append({"age": {"le" if inside else "gt": product.max_age}})
    return out


def product_criterion(
    raw: Any,
    doc: Located,
    shown: str,
    loc: _Loc,
    product: ContextProduct,
    context: str,
    arguments: Mapping[str, Argument],
) -> Rule:
    """Compile one product criterion into a rule that holds the patient back from the
    product when the condition holds, the product is available (approved access) and
    its label covers the patient's age."""
    rule_id = raw.get("id") if isinstance(raw, Mapping) else None
    rule_id = rule_id if isinstance(rule_id, str) else None
    if not isinstance(raw, Mapping):
        raise RuleBaseError("a criterion is a mapping", path=shown, line=doc.line_of(loc))
    if "then" in raw or "until" not in raw:
        raise RuleBaseError(
            "a product criterion has no 'then': it says 'until' (what lifts it), and holds "
            "the patient back from its product until then",
            path=shown,
            line=doc.line_of(loc),
            rule_id=rule_id,
        )
    written = {k: v for k, v in raw.items() if k != "until"}
    written["then"] = [{"holds_back": product.name, "until": raw["until"]}]
    rule = load_rule(written, doc, shown, 0, arguments, base=loc)
    if rule.condition.concepts:
        raise RuleBaseError(
            "when: a product criterion tests profile facts only (no concept)",
            path=shown,
            line=doc.line_of((*loc, "when")),
            rule_id=rule.id,
        )
    when = {"all": [rule.when, {ACCESS_FIELD: "approved"}, *_age_bounds(product, True)]}
    dumped = rule.model_dump(exclude={"when", "context"})
    return Rule.model_validate({**dumped, "when": when, "context": context})


def _no_product_admits(
    context: Context,
    criteria: list[tuple[int, int, Any]],
    spec: Any,
    doc: Located,
    shown: str,
) -> dict[str, Any] | None:
    """Return the raw rule that defers the products option when no available product
    admits the patient, or ``None`` when some product always admits (then ``spec`` must
    be absent). Raises ``RuleBaseError`` when ``spec`` is missing, malformed or can
    never fire."""
    if not criteria and spec is None:
        return None
    option = context.products_option
    loc = (option, "no_product_admits")
    branches: list[list[dict[str, Any]]] = []
    for p_index, product in enumerate(context.product_access.products):
        own = [
            raw["when"]
            for i, _, raw in criteria
            if i == p_index and isinstance(raw, Mapping) and isinstance(raw.get("when"), Mapping)
        ]
        branch = [*_age_bounds(product, False), *own]
        if not branch:
            if spec is not None:
                raise RuleBaseError(
                    f"can never fire: {product.name} has no criteria of its own and covers "
                    "every adult, so some product always admits the patient",
                    path=shown,
                    line=doc.line_of(loc),
                    rule_id=spec.get("id") if isinstance(spec, Mapping) else None,
                )
            return None
        branches.append(branch)
    if spec is None:
        raise RuleBaseError(
            f"{option}.no_product_admits: every product can hold a patient back, so the "
            "context must say (as a rule with id, title, evidence, until, rationale and "
            f"citations) why {option} waits when none admits",
            path=shown,
            line=doc.line_of((option,)),
        )
    if not isinstance(spec, Mapping) or "when" in spec or "then" in spec:
        raise RuleBaseError(
            "no_product_admits: a mapping with id, title, evidence, until, rationale and "
            "citations (its condition is compiled from the products' criteria)",
            path=shown,
            line=doc.line_of(loc),
        )
    written = {k: v for k, v in spec.items() if k != "until"}
    written["when"] = {
        ACCESS_FIELD: "approved",
        "all": [{"any": branch} for branch in branches],
    }
    written["then"] = [{"defer": option, "until": spec.get("until")}]
    return written
