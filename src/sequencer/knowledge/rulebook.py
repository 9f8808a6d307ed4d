"""The rule base: loading, validating and compiling the YAML files in ``rules/``.

Layout of a rule base directory::

    rulebook.yaml          name, version, the decision-support notice
    bibliography.yaml      every citable source, by key
    alternatives.yaml      therapies other than the two CD19-directed options
    contexts/*.yaml        regulatory contexts (what is approved for whom), one default
    considerations/*.yaml  one file per clinical consideration, each a list of rules

Loading checks in two tiers, and stops at the first fault with ``file:line``, the
rule id and what is wrong (``RuleBaseError``):

1. each file against its schema (unknown keys, wrong types, empty rationale, a
   condition on a field the profile does not have, an unknown operator, bad YAML,
   duplicate keys);
2. across files (duplicate rule ids, dangling citations or alternatives, concepts
   used but never derived, rules that can never fire).

The result is a frozen ``Rulebook`` carrying every rule in an engine-neutral compiled
form, the version, and a SHA-256 digest of the files it was read from.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sequencer.errors import RuleBaseError, SequencerError
from sequencer.knowledge.conditions import (
    Compare,
    ConditionError,
    Node,
    ParsedCondition,
    parse_condition,
)
from sequencer.knowledge.contexts import Context, ContextProduct
from sequencer.knowledge.yamlsource import Located, load_yaml
from sequencer.model.profile import FIELDS, number_ranges

__all__ = [
    "EFFECT_MODELS",
    "THERAPIES",
    "WEIGHTS",
    "Alternative",
    "Argument",
    "Defer",
    "Effect",
    "Failed",
    "Favors",
    "HoldsBack",
    "Rule",
    "Rulebook",
    "SetsAside",
    "Source",
    "default_rules_dir",
    "load_rulebook",
    "tests_unknown",
]

Therapy = Literal["blinatumomab", "car_t"]
THERAPIES: tuple[Therapy, ...] = ("blinatumomab", "car_t")
Strength = Literal["weak", "moderate", "strong"]
WEIGHTS: dict[str, int] = {"weak": 1, "moderate": 2, "strong": 3}
"""Points an argument adds at each strength."""
Evidence = Literal[
    "regulatory",
    "meta-analysis",
    "randomized",
    "prospective",
    "retrospective",
    "case-series",
    "case-report",
    "expert-opinion",
]
KebabId = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80)]
Prose = Annotated[str, Field(min_length=20)]

_STRICT = ConfigDict(extra="forbid", frozen=True)


def _therapies(value: object) -> object:
    """Accept one therapy or a list of them; store a tuple."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(value)
    return value


TherapySet = Annotated[tuple[Therapy, ...], Field(min_length=1)]


# --- bibliography and alternatives ------------------------------------------------


class Source(BaseModel):
    """One citable source.

    Only verified details are given: ``doi``/``pmid`` where verified, and ``authors``
    or ``title`` may be left out when they could not be checked (the journal, year,
    volume and first page then identify the paper).
    """

    model_config = _STRICT

    authors: Annotated[str, Field(min_length=2)] | None = None
    title: Annotated[str, Field(min_length=5)] | None = None
    journal: Annotated[str, Field(min_length=2)]
    year: Annotated[int, Field(ge=1950, le=2100)]
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    doi: Annotated[str, Field(pattern=r"^10\.\d{4,9}/\S+$")] | None = None
    pmid: Annotated[str, Field(pattern=r"^\d{5,9}$")] | None = None
    kind: Evidence
    review_ref: Annotated[int, Field(ge=1, le=200)] | None = None
    note: str | None = None

    def label(self) -> str:
        """Return a short citation such as ``Park JH, et al. N Engl J Med 2018;378(5):449-459``."""
        where = f"{self.journal} {self.year}"
        if self.volume:
            where += f";{self.volume}"
            if self.issue:
                where += f"({self.issue})"
            if self.pages:
                where += f":{self.pages}"
        text = ". ".join(part for part in (self.authors, self.title, where) if part)
        if self.authors is None and self.title is None and self.note:
            # Without authors or title, say what the paper is (the note says why not).
            text += f" ({' '.join(self.note.split())})"
        if self.review_ref is not None:
            text += f" [ref. {self.review_ref} of Aldoss & Forman 2020]"
        return text


class Bibliography(BaseModel):
    model_config = _STRICT

    sources: dict[KebabId, Source]


class Alternative(BaseModel):
    """A therapy outside the two CD19-directed options (for CD19-negative disease, say)."""

    model_config = _STRICT

    name: Annotated[str, Field(min_length=3)]
    target: str | None = None
    description: Prose
    citations: Annotated[tuple[str, ...], Field(min_length=1)]


class Alternatives(BaseModel):
    model_config = _STRICT

    alternatives: dict[KebabId, Alternative]


class Manifest(BaseModel):
    model_config = _STRICT

    name: str
    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")]
    title: str
    notice: Prose


# --- rules --------------------------------------------------------------------


class Favors(BaseModel):
    """Makes one argument (declared under ``arguments:``) at a strength.

    ``favors`` is the option the argument pushes toward; the loader fills it in from the
    argument (a rule file may state it too, and it must then agree).
    """

    model_config = _STRICT
    argues: KebabId
    strength: Strength
    favors: Therapy | None = None


class Failed(BaseModel):
    """Documented failure of a therapy: every argument that is a strength of it
    (``pro_of``) is set aside, and it cannot be preferred.

    Also derives ``<therapy>-failed`` (``blinatumomab-failed``, ``car-t-failed``).
    """

    model_config = _STRICT
    failed: Therapy
    text: Prose | None = None


class SetsAside(BaseModel):
    """A fact contradicts these arguments' premise: they are set aside (still shown)."""

    model_config = _STRICT
    sets_aside: Annotated[tuple[KebabId, ...], Field(min_length=1)]
    text: Prose | None = None

    _split = field_validator("sets_aside", mode="before")(_therapies)


class Defer(BaseModel):
    """Not now, for a reason that can pass: the options cannot be preferred until ``until``.

    Also derives ``<therapy>-deferred``.
    """

    model_config = _STRICT
    defer: TherapySet
    until: Prose
    text: Prose | None = None

    _split = field_validator("defer", mode="before")(_therapies)


class NotEligible(BaseModel):
    """Takes options off the table (and derives ``<therapy>-not-eligible``)."""

    model_config = _STRICT
    not_eligible: Annotated[TherapySet, Field(min_length=1)]
    text: Prose | None = None

    _split = field_validator("not_eligible", mode="before")(_therapies)


class Caution(BaseModel):
    """A warning attached to options; does not change the score."""

    model_config = _STRICT
    caution: TherapySet
    text: Prose | None = None

    _split = field_validator("caution", mode="before")(_therapies)


class Missing(BaseModel):
    """Reports a profile field whose value matters but is unknown.

    A ``blocking`` missing fact stops the choice: no option is preferred until it is known.
    """

    model_config = _STRICT
    missing: str
    blocking: bool = False
    text: Prose | None = None

    @field_validator("missing")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in FIELDS:
            raise ValueError(f"unknown profile field '{value}'")
        return value


class AddOn(BaseModel):
    """Suggests something to give together with one option."""

    model_config = _STRICT
    add_on: KebabId
    to: Therapy
    name: Annotated[str, Field(min_length=2)]
    text: Prose | None = None


class SuggestAlternative(BaseModel):
    """Lists an alternative therapy (from ``alternatives.yaml``)."""

    model_config = _STRICT
    alternative: KebabId


class Derive(BaseModel):
    """Asserts a derived concept that other rules may join on."""

    model_config = _STRICT
    derive: KebabId


class HoldsBack(BaseModel):
    """One product's criterion keeps the patient from that product for now.

    Written only under a product in a context file (``car_t.products[].criteria``);
    the loader adds the product's ages and approved access to the condition. CAR T
    cells as a whole wait only when no available product admits the patient (the
    context's ``no_product_admits`` rule).
    """

    model_config = _STRICT
    holds_back: Annotated[str, Field(min_length=3)]
    until: Prose
    text: Prose | None = None


Effect = (
    Favors
    | Failed
    | SetsAside
    | Defer
    | NotEligible
    | Caution
    | Missing
    | AddOn
    | SuggestAlternative
    | Derive
    | HoldsBack
)
EFFECT_MODELS: tuple[type[BaseModel], ...] = (
    Favors, Failed, SetsAside, Defer, NotEligible, Caution, Missing, AddOn,
    SuggestAlternative, Derive, HoldsBack,
)  # fmt: skip


class Argument(BaseModel):
    """A clinical consideration with a direction; rules make it at a strength.

    ``pro_of`` names the option it is a strength of, ``con_of`` the option it is a
    weakness of (at least one; both when it is both). It pushes toward ``pro_of``, or
    away from ``con_of``. It counts once, at its strongest applicable rule, and every
    argument that is a strength of a therapy presumes that therapy can work: a
    documented failure of it (``failed:``) sets the argument aside. (A weakness of the
    other option stays a weakness.)
    """

    model_config = _STRICT

    id: KebabId
    title: Annotated[str, Field(min_length=5)]
    pro_of: Therapy | None = None
    con_of: Therapy | None = None

    @model_validator(mode="after")
    def _sided(self) -> Argument:
        if self.pro_of is None and self.con_of is None:
            raise ValueError("an argument needs pro_of, con_of or both")
        if self.pro_of is not None and self.pro_of == self.con_of:
            raise ValueError("pro_of and con_of must name different options")
        return self

    @property
    def favors(self) -> Therapy:
        """The option this argument pushes toward."""
        if self.pro_of is not None:
            return self.pro_of
        return "car_t" if self.con_of == "blinatumomab" else "blinatumomab"


class Rule(BaseModel):
    """One rule: a condition on the profile, its effects, why, and the sources."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    id: KebabId
    title: Annotated[str, Field(min_length=5)]
    status: Literal["draft", "active", "retired"] = "active"
    version: Annotated[int, Field(ge=1)] = 1
    evidence: Evidence
    when: dict[str, Any]
    then: Annotated[list[Effect], Field(min_length=1)]
    rationale: Prose
    citations: Annotated[tuple[str, ...], Field(min_length=1)]
    context: str | None = Field(
        default=None,
        description="set by the loader for rules written in a regulatory context's file: "
        "they apply only in that context",
    )

    @cached_property
    def condition(self) -> ParsedCondition:
        """The parsed condition (validated when the rule base is loaded)."""
        return parse_condition(self.when)

    @cached_property
    def derives(self) -> tuple[str, ...]:
        """Concepts this rule asserts when it fires, implied ones included."""
        out = [e.derive for e in self.then if isinstance(e, Derive)]
        for effect in self.then:
            if isinstance(effect, NotEligible):
                out.extend(f"{t.replace('_', '-')}-not-eligible" for t in effect.not_eligible)
            elif isinstance(effect, Defer):
                out.extend(f"{t.replace('_', '-')}-deferred" for t in effect.defer)
            elif isinstance(effect, Failed):
                out.append(f"{effect.failed.replace('_', '-')}-failed")
        return tuple(dict.fromkeys(out))

    @cached_property
    def changes_standing(self) -> bool:
        """Whether the rule can fail, defer or exclude an option, or block the choice."""
        return any(
            isinstance(e, Failed | Defer | NotEligible) or (isinstance(e, Missing) and e.blocking)
            for e in self.then
        )

    @cached_property
    def decisive(self) -> bool:
        """Whether the rule can change a score, a status or block the choice."""
        return self.changes_standing or any(isinstance(e, Favors | SetsAside) for e in self.then)


class ConsiderationFile(BaseModel):
    model_config = _STRICT

    consideration: KebabId
    title: str
    summary: Prose
    arguments: list[dict[str, Any]] = []
    rules: Annotated[list[dict[str, Any]], Field(min_length=1)]


@dataclass(frozen=True)
class LoadedRule:
    """A rule with where it came from."""

    rule: Rule
    consideration: str
    path: str
    line: int | None


# --- the rule base ---------------------------------------------------------------


@dataclass(frozen=True)
class Rulebook:
    """A validated rule base: rules, sources, alternatives, version and digest."""

    name: str
    version: str
    title: str
    notice: str
    digest: str
    rules: tuple[LoadedRule, ...]
    sources: Mapping[str, Source]
    alternatives: Mapping[str, Alternative]
    considerations: Mapping[str, str]
    arguments: Mapping[str, Argument]
    contexts: Mapping[str, Context]
    default_context: str
    root: Path

    @cached_property
    def active(self) -> tuple[Rule, ...]:
        """Rules that take part in evaluation (in any context), in load order."""
        return tuple(r.rule for r in self.rules if r.rule.status == "active")

    def active_in(self, context: str | None) -> tuple[Rule, ...]:
        """Active rules that apply in ``context``: the general ones and that context's own."""
        return tuple(r for r in self.active if r.context is None or r.context == context)

    def context(self, name: str | None = None) -> Context:
        """Return the named regulatory context (default: the rule base's default one).

        Raises ``SequencerError`` naming the known contexts when there is no such context.
        """
        key = name or self.default_context
        if key not in self.contexts:
            known = ", ".join(sorted(self.contexts))
            raise SequencerError(f"unknown context '{key}' (known: {known})")
        return self.contexts[key]

    def rule(self, rule_id: str) -> Rule:
        """Return the rule with this id. Raises ``KeyError`` when there is none."""
        return self._by_id[rule_id].rule

    def located(self, rule_id: str) -> LoadedRule:
        """Return the rule with its file and line. Raises ``KeyError`` when there is none."""
        return self._by_id[rule_id]

    @cached_property
    def _by_id(self) -> dict[str, LoadedRule]:
        return {r.rule.id: r for r in self.rules}

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.active)


def default_rules_dir() -> Path:
    """Return the rule base shipped with the package (or the checkout's ``rules/``)."""
    shipped = importlib.resources.files("sequencer").joinpath("rules")
    if shipped.is_dir():
        return Path(str(shipped))
    checkout = Path(__file__).resolve().parents[3] / "rules"
    if checkout.is_dir():
        return checkout
    raise RuleBaseError("no rule base found: the package was installed without its rules/")


def _digest(root: Path, files: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in files:
        sha.update(path.relative_to(root).as_posix().encode())
        sha.update(b"\0")
        sha.update(path.read_bytes())
        sha.update(b"\0")
    return f"sha256:{sha.hexdigest()}"


def _validate(
    model: type[BaseModel],
    data: Any,
    doc: Located,
    shown: str,
    base: tuple[int | str, ...] = (),
    rule_id: str | None = None,
) -> Any:
    """Validate ``data`` (found at ``base`` in ``doc``); raise ``RuleBaseError`` at its line."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        # A misspelt key shows up twice: as an unknown key and as a missing one.
        # Report the unknown key (it has a line), naming what is missing beside it.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = tuple(p for p in first["loc"] if not _is_union_tag(p))
        full = (*base, *loc)
        where = ".".join(str(p) for p in loc) or "<top>"
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'"
            where = ".".join(str(p) for p in loc[:-1]) or "<top>"
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


def _load_rule(
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
            _validate(model, effect, doc, shown, (*base, "then", k), rule_id)
    rule: Rule = _validate(Rule, raw, doc, shown, base, rule_id)
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


def load_rulebook(root: Path | str | None = None) -> Rulebook:
    """Load, validate and compile the rule base in ``root`` (default: the shipped one).

    Returns a ``Rulebook``. Raises ``RuleBaseError`` naming the file, line, rule id
    and fault for the first problem found.
    """
    base = Path(root) if root is not None else default_rules_dir()
    if not base.is_dir():
        raise RuleBaseError("rule base directory not found", path=base)

    def shown(path: Path) -> str:
        """The shipped rule base reads as ``rules/...``; another as the path given."""
        inside = path.relative_to(base).as_posix()
        return f"rules/{inside}" if root is None else f"{base.as_posix()}/{inside}"

    manifest_path = base / "rulebook.yaml"
    bib_path = base / "bibliography.yaml"
    alt_path = base / "alternatives.yaml"
    for required in (manifest_path, bib_path, alt_path):
        if not required.is_file():
            raise RuleBaseError("required file is missing", path=shown(required))
    for folder in ("considerations", "contexts"):
        for stray in sorted((base / folder).glob("*.yml")):
            raise RuleBaseError(
                "rule files end in .yaml (this one would be ignored); rename it",
                path=shown(stray),
            )
    rule_paths = sorted((base / "considerations").glob("*.yaml"))
    if not rule_paths:
        raise RuleBaseError("no rule files in considerations/", path=shown(base))
    context_paths = sorted((base / "contexts").glob("*.yaml"))
    if not context_paths:
        raise RuleBaseError("no regulatory contexts in contexts/", path=shown(base))

    manifest_doc = load_yaml(manifest_path, shown(manifest_path))
    manifest: Manifest = _validate(Manifest, manifest_doc.data, manifest_doc, shown(manifest_path))
    bib_doc = load_yaml(bib_path, shown(bib_path))
    bibliography: Bibliography = _validate(Bibliography, bib_doc.data, bib_doc, shown(bib_path))
    alt_doc = load_yaml(alt_path, shown(alt_path))
    alternatives: Alternatives = _validate(Alternatives, alt_doc.data, alt_doc, shown(alt_path))
    for alt_id, alt in alternatives.alternatives.items():
        for i, key in enumerate(alt.citations):
            if key not in bibliography.sources:
                raise RuleBaseError(
                    f"alternative '{alt_id}': citations[{i}]: unknown source '{key}'",
                    path=shown(alt_path),
                    line=alt_doc.line_of(("alternatives", alt_id, "citations", i)),
                )

    loaded: list[LoadedRule] = []
    considerations: dict[str, str] = {}
    arguments: dict[str, Argument] = {}
    argument_lines: dict[str, tuple[str, int | None]] = {}
    seen: dict[str, LoadedRule] = {}
    docs: list[tuple[Path, Located, ConsiderationFile]] = []
    for path in rule_paths:
        doc = load_yaml(path, shown(path))
        cfile: ConsiderationFile = _validate(ConsiderationFile, doc.data, doc, shown(path))
        if cfile.consideration in considerations:
            raise RuleBaseError(
                f"consideration '{cfile.consideration}' is defined twice",
                path=shown(path),
                line=doc.line_of(("consideration",)),
            )
        considerations[cfile.consideration] = cfile.title
        for index, raw in enumerate(cfile.arguments):
            base_loc: tuple[int | str, ...] = ("arguments", index)
            arg: Argument = _validate(Argument, raw, doc, shown(path), base_loc)
            line = doc.line_of(base_loc)
            if arg.id in arguments or arg.id in ("blinatumomab", "car-t"):
                raise RuleBaseError(
                    f"argument '{arg.id}' is defined twice or names a therapy",
                    path=shown(path),
                    line=line,
                )
            arguments[arg.id] = arg
            argument_lines[arg.id] = (shown(path), line)
        docs.append((path, doc, cfile))
    for path, doc, cfile in docs:
        for index, raw in enumerate(cfile.rules):
            if isinstance(raw, Mapping) and "context" in raw:
                raise RuleBaseError(
                    "unknown key 'context' (a rule for one regulatory context is written "
                    "in that context's file under contexts/)",
                    path=shown(path),
                    line=doc.line_of(("rules", index, "context")),
                    rule_id=raw.get("id") if isinstance(raw.get("id"), str) else None,
                )
            rule = _load_rule(raw, doc, shown(path), index, arguments)
            for k, effect in enumerate(rule.then):
                if isinstance(effect, HoldsBack):
                    raise RuleBaseError(
                        f"then[{k}]: 'holds_back' is written only as a product's criterion "
                        "in a context file (car_t.products[].criteria)",
                        path=shown(path),
                        line=doc.line_of(("rules", index, "then", k)),
                        rule_id=rule.id,
                    )
            line = doc.line_of(("rules", index))
            entry = LoadedRule(rule, cfile.consideration, shown(path), line)
            _admit(entry, seen, doc, ("rules", index), bibliography, alternatives)
            loaded.append(entry)

    contexts, context_rules = _load_contexts(context_paths, shown, bibliography)
    for context_name, path, doc, loc, raw, product in context_rules:
        if product is None:
            rule = _load_rule(raw, doc, shown(path), 0, arguments, base=loc)
            rule = rule.model_copy(update={"context": context_name})
        else:
            rule = _product_criterion(raw, doc, shown(path), loc, product, context_name, arguments)
        where = f"context:{context_name}"
        considerations.setdefault(where, f"Regulatory context {context_name}")
        entry = LoadedRule(rule, where, shown(path), doc.line_of(loc))
        _admit(entry, seen, doc, loc, bibliography, alternatives)
        loaded.append(entry)
    _check_arguments(loaded, arguments, argument_lines)
    _check_concepts(loaded)
    _check_unknown_never_scores(loaded)
    default = [name for name, ctx in contexts.items() if ctx.default]
    if len(default) != 1:
        raise RuleBaseError(
            f"exactly one context must be the default; found {len(default)}",
            path=shown(base / "contexts"),
        )
    files = [manifest_path, bib_path, alt_path, *context_paths, *rule_paths]
    return Rulebook(
        name=manifest.name,
        version=manifest.version,
        title=manifest.title,
        notice=manifest.notice.strip(),
        digest=_digest(base, files),
        rules=tuple(loaded),
        sources=bibliography.sources,
        alternatives=alternatives.alternatives,
        considerations=considerations,
        arguments=arguments,
        contexts=contexts,
        default_context=default[0],
        root=base,
    )


def _admit(
    entry: LoadedRule,
    seen: dict[str, LoadedRule],
    doc: Located,
    base: tuple[int | str, ...],
    bib: Bibliography,
    alts: Alternatives,
) -> None:
    """Refuse a duplicate rule id or dangling references; remember the rule."""
    rule = entry.rule
    if rule.id in seen:
        first = seen[rule.id]
        raise RuleBaseError(
            f"duplicate rule id (first defined at {first.path}:{first.line})",
            path=entry.path,
            line=entry.line,
            rule_id=rule.id,
        )
    seen[rule.id] = entry
    _check_references(entry, doc, base, bib, alts)


_Loc = tuple[int | str, ...]
_ContextRule = tuple[str, Path, Located, _Loc, Any, "ContextProduct | None"]


def _load_contexts(
    paths: list[Path], shown: Callable[[Path], str], bib: Bibliography
) -> tuple[dict[str, Context], list[_ContextRule]]:
    """Return the contexts, and their rules: the ``rules:`` list, each product's
    ``criteria`` (with the product they belong to), and the ``no_product_admits`` rule
    compiled from them."""
    contexts: dict[str, Context] = {}
    rules: list[_ContextRule] = []
    for path in paths:
        doc = load_yaml(path, shown(path))
        data = doc.data
        raw_rules = data.pop("rules", []) if isinstance(data, dict) else []
        if not isinstance(raw_rules, list):
            raise RuleBaseError(
                "rules: a list of rules", path=shown(path), line=doc.line_of(("rules",))
            )
        criteria, admits_spec = _pop_product_criteria(data, doc, shown(path))
        context: Context = _validate(Context, data, doc, shown(path))
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
                    line=_first_line_mentioning(path, key),
                )
        contexts[context.context] = context
        name = context.context
        rules.extend((name, path, doc, ("rules", i), raw, None) for i, raw in enumerate(raw_rules))
        for p_index, c_index, raw in criteria:
            loc = ("car_t", "products", p_index, "criteria", c_index)
            rules.append((name, path, doc, loc, raw, context.car_t.products[p_index]))
        admits = _no_product_admits(context, criteria, admits_spec, doc, shown(path))
        if admits is not None:
            rules.append((name, path, doc, ("car_t", "no_product_admits"), admits, None))
    return contexts, rules


def _pop_product_criteria(
    data: Any, doc: Located, shown: str
) -> tuple[list[tuple[int, int, Any]], Any]:
    """Take the products' ``criteria`` lists and ``no_product_admits`` out of a context
    file's data (they are rules, loaded as such); return them."""
    car_t = data.get("car_t") if isinstance(data, dict) else None
    if not isinstance(car_t, dict):
        return [], None
    admits_spec = car_t.pop("no_product_admits", None)
    found: list[tuple[int, int, Any]] = []
    products = car_t.get("products")
    for p_index, product in enumerate(products if isinstance(products, list) else []):
        if not isinstance(product, dict) or "criteria" not in product:
            continue
        raw = product.pop("criteria")
        if not isinstance(raw, list):
            raise RuleBaseError(
                "criteria: a list of the product's criteria",
                path=shown,
                line=doc.line_of(("car_t", "products", p_index, "criteria")),
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


def _product_criterion(
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
    rule = _load_rule(written, doc, shown, 0, arguments, base=loc)
    if rule.condition.concepts:
        raise RuleBaseError(
            "when: a product criterion tests profile facts only (no concept)",
            path=shown,
            line=doc.line_of((*loc, "when")),
            rule_id=rule.id,
        )
    when = {"all": [rule.when, {"access.car_t": "approved"}, *_age_bounds(product, True)]}
    dumped = rule.model_dump(exclude={"when", "context"})
    return Rule.model_validate({**dumped, "when": when, "context": context})


def _no_product_admits(
    context: Context,
    criteria: list[tuple[int, int, Any]],
    spec: Any,
    doc: Located,
    shown: str,
) -> dict[str, Any] | None:
    """Return the raw rule that defers CAR T cells when no available product admits the
    patient, or ``None`` when some product always admits (then ``spec`` must be absent)."""
    if not criteria and spec is None:
        return None
    loc = ("car_t", "no_product_admits")
    branches: list[list[dict[str, Any]]] = []
    for p_index, product in enumerate(context.car_t.products):
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
            "car_t.no_product_admits: every product can hold a patient back, so the "
            "context must say (as a rule with id, title, evidence, until, rationale and "
            "citations) why CAR T cells wait when none admits",
            path=shown,
            line=doc.line_of(("car_t",)),
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
        "access.car_t": "approved",
        "all": [{"any": branch} for branch in branches],
    }
    written["then"] = [{"defer": "car_t", "until": spec.get("until")}]
    return written


def _first_line_mentioning(path: Path, text: str) -> int | None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return number
    return None


def _check_references(
    entry: LoadedRule,
    doc: Located,
    base: tuple[int | str, ...],
    bib: Bibliography,
    alts: Alternatives,
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
        if isinstance(effect, SuggestAlternative) and effect.alternative not in alts.alternatives:
            raise RuleBaseError(
                f"then[{k}]: unknown alternative '{effect.alternative}' (not in alternatives.yaml)",
                path=entry.path,
                line=doc.line_of((*base, "then", k)),
                rule_id=rule.id,
            )
        if (
            isinstance(effect, Favors)
            and effect.strength == "strong"
            and rule.evidence in ("case-report",)
        ):
            raise RuleBaseError(
                f"then[{k}]: a case report cannot carry a strong preference",
                path=entry.path,
                line=doc.line_of((*base, "then", k)),
                rule_id=rule.id,
            )


def _check_concepts(loaded: list[LoadedRule]) -> None:
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


def _check_arguments(
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


def _check_unknown_never_scores(loaded: list[LoadedRule]) -> None:
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
