"""The rule base: loading, validating and compiling the YAML files in ``rules/``.

Layout of a rule base directory::

    rulebook.yaml          name, version, the decision-support notice
    about.yaml             (optional) intended use, developer, releases, limitations
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
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar, cast

from sequencer.errors import RuleBaseError, UnknownContextError
from sequencer.knowledge.about import ABOUT_FILE, About, load_about
from sequencer.knowledge.checks import (
    check_arguments,
    check_concepts,
    check_options,
    check_references,
    check_unknown_never_scores,
    resolve_direction,
)
from sequencer.knowledge.conditions import ConditionError, parse_condition
from sequencer.knowledge.context_rules import load_contexts, product_criterion
from sequencer.knowledge.contexts import Context
from sequencer.knowledge.parsing import load_rule, validate_model
from sequencer.knowledge.plan import PLAN_FILE, PlanEntry, load_plan
from sequencer.knowledge.schema import (
    Argument,
    Bibliography,
    ConsiderationFile,
    HoldsBack,
    LoadedRule,
    Manifest,
    OptionSpec,
    OutsideTherapies,
    OutsideTherapy,
    ReviewSpec,
    Rule,
    Scoring,
    SignOff,
    Source,
)
from sequencer.knowledge.vocabulary import Vocabulary, VocabularyFile
from sequencer.knowledge.yamlsource import Located, load_yaml
from sequencer.model.fields import FIELDS

__all__ = ["Rulebook", "default_rules_dir", "hash_files", "load_rulebook"]

T = TypeVar("T")


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
    alternatives: Mapping[str, OutsideTherapy]
    considerations: Mapping[str, str]
    arguments: Mapping[str, Argument]
    contexts: Mapping[str, Context]
    default_context: str
    root: Path
    options: tuple[OptionSpec, ...]
    option_kind: str
    scoring: Scoring
    review: ReviewSpec
    sign_off: SignOff | None
    vocabulary: Vocabulary = field(compare=False, repr=False)
    about: About | None = field(default=None, compare=False, repr=False)
    plan: tuple[PlanEntry, ...] = field(default=(), compare=False, repr=False)
    _compiled: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def compiled(self, part: str, build: Callable[[Rulebook], T]) -> T:
        """Return this rule base's compiled ``part``, built by ``build`` the first time.

        The one place compiled forms live (what each rule contributes, the search index
        per context, the engines, memos of decisions): with the rule base they belong
        to, not in module-level caches. Building is deterministic, so two threads racing
        to build a part store one of two equal results; no lock is held, so a fork can
        never inherit one.
        """
        found = self._compiled.get(part)
        if found is None:
            found = self._compiled.setdefault(part, build(self))
        return cast(T, found)

    def has_compiled(self, part: str) -> bool:
        """Return whether ``part`` has been built already (by ``compiled``)."""
        return part in self._compiled

    @cached_property
    def option_ids(self) -> tuple[str, ...]:
        """The options' ids, in the manifest's order (the order they are shown in)."""
        return tuple(o.id for o in self.options)

    @cached_property
    def products_option(self) -> str:
        """The id of the option given as products (``has_products``), whose approved
        products each context lists (the loader checks that every context agrees)."""
        return self.contexts[self.default_context].products_option

    @cached_property
    def option_names(self) -> dict[str, str]:
        """Option id -> its name on screen and paper (``CD19 CAR T cells``)."""
        return {o.id: o.name for o in self.options}

    @cached_property
    def option_short(self) -> dict[str, str]:
        """Option id -> its short name (``CAR T``)."""
        return {o.id: o.short for o in self.options}

    @cached_property
    def weights(self) -> dict[str, int]:
        """Points an argument adds at each strength."""
        return {str(k): v for k, v in self.scoring.weights.items()}

    @cached_property
    def strength_of(self) -> dict[int, str]:
        """Points -> the strength that gives them."""
        return {w: s for s, w in self.scoring.weights.items()}

    @property
    def close_call_margin(self) -> int:
        """The largest score gap still called a close call."""
        return self.scoring.close_call_margin

    @cached_property
    def active(self) -> tuple[Rule, ...]:
        """Rules that take part in evaluation (in any context), in load order."""
        return tuple(r.rule for r in self.rules if r.rule.status == "active")

    def active_in(self, context: str | None) -> tuple[Rule, ...]:
        """Active rules that apply in ``context``: the general ones and that context's own."""
        return tuple(r for r in self.active if r.context is None or r.context == context)

    def context(self, name: str | None = None) -> Context:
        """Return the named regulatory context (default: the rule base's default one).

        Raises ``UnknownContextError`` naming the known contexts when there is no such
        context.
        """
        key = name or self.default_context
        if key not in self.contexts:
            raise UnknownContextError(key, list(self.contexts))
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


CASES_SUFFIX = ".cases.yaml"
"""A rule file's cases sit beside it (``age.yaml``, ``age.cases.yaml``): profiles on which
each rule must fire and stay silent, run by the tests; not rules, not in the digest."""


def _rule_files(folder: Path) -> list[Path]:
    """The rule files of a folder, in name order, without their case files."""
    return sorted(p for p in folder.glob("*.yaml") if not p.name.endswith(CASES_SUFFIX))


def _digest(root: Path, files: list[Path]) -> str:
    sha = hashlib.sha256()
    hash_files(sha, root, files)
    return f"sha256:{sha.hexdigest()}"


def hash_files(sha: Any, root: Path, files: list[Path]) -> None:
    """Feed ``sha`` each file's path (relative to ``root``) and bytes, in the order given."""
    for path in files:
        sha.update(path.relative_to(root).as_posix().encode())
        sha.update(b"\0")
        sha.update(path.read_bytes())
        sha.update(b"\0")


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
    vocabulary_path = base / "vocabulary.yaml"
    for required in (manifest_path, bib_path, alt_path, vocabulary_path):
        if not required.is_file():
            raise RuleBaseError("required file is missing", path=shown(required))
    for folder in ("considerations", "contexts"):
        strays = (
            p
            for p in sorted((base / folder).iterdir() if (base / folder).is_dir() else ())
            if p.suffix.lower() in (".yml", ".yaml") and p.suffix != ".yaml"
        )
        for stray in strays:
            raise RuleBaseError(
                "rule files end in .yaml (this one would be ignored); rename it",
                path=shown(stray),
            )
    rule_paths = _rule_files(base / "considerations")
    if not rule_paths:
        raise RuleBaseError("no rule files in considerations/", path=shown(base))
    context_paths = _rule_files(base / "contexts")
    if not context_paths:
        raise RuleBaseError("no regulatory contexts in contexts/", path=shown(base))

    manifest_doc = load_yaml(manifest_path, shown(manifest_path))
    manifest: Manifest = validate_model(
        Manifest, manifest_doc.data, manifest_doc, shown(manifest_path)
    )
    option_ids = tuple(o.id for o in manifest.options)
    bib_doc = load_yaml(bib_path, shown(bib_path))
    bibliography: Bibliography = validate_model(
        Bibliography, bib_doc.data, bib_doc, shown(bib_path)
    )
    alt_doc = load_yaml(alt_path, shown(alt_path))
    alternatives: OutsideTherapies = validate_model(
        OutsideTherapies, alt_doc.data, alt_doc, shown(alt_path)
    )
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
        cfile: ConsiderationFile = validate_model(ConsiderationFile, doc.data, doc, shown(path))
        if cfile.consideration in considerations:
            raise RuleBaseError(
                f"consideration '{cfile.consideration}' is defined twice",
                path=shown(path),
                line=doc.line_of(("consideration",)),
            )
        considerations[cfile.consideration] = cfile.title
        for index, raw in enumerate(cfile.arguments):
            base_loc: tuple[int | str, ...] = ("arguments", index)
            arg: Argument = validate_model(Argument, raw, doc, shown(path), base_loc)
            line = doc.line_of(base_loc)
            if arg.id in arguments or arg.id in {o.replace("_", "-") for o in option_ids}:
                raise RuleBaseError(
                    f"argument '{arg.id}' is defined twice or names an option",
                    path=shown(path),
                    line=line,
                )
            arg = resolve_direction(arg, option_ids, shown(path), line)
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
            rule = load_rule(raw, doc, shown(path), index, arguments)
            for k, effect in enumerate(rule.then):
                if isinstance(effect, HoldsBack):
                    raise RuleBaseError(
                        f"then[{k}]: 'holds_back' is written only as a product's criterion "
                        "in a context file (<option>.products[].criteria)",
                        path=shown(path),
                        line=doc.line_of(("rules", index, "then", k)),
                        rule_id=rule.id,
                    )
            line = doc.line_of(("rules", index))
            entry = LoadedRule(rule, cfile.consideration, shown(path), line)
            _admit(entry, seen, doc, ("rules", index), bibliography, alternatives, option_ids)
            loaded.append(entry)

    contexts, context_rules = load_contexts(context_paths, shown, bibliography, manifest.options)
    if len({c.products_option for c in contexts.values()}) > 1:
        raise RuleBaseError(
            "the contexts list the products of different options; mark the one given as "
            "products in rulebook.yaml (has_products: true)",
            path=shown(base / "contexts"),
        )
    for context_name, path, doc, loc, raw, product in context_rules:
        if product is None:
            rule = load_rule(raw, doc, shown(path), 0, arguments, base=loc)
            rule = rule.model_copy(update={"context": context_name})
        else:
            rule = product_criterion(raw, doc, shown(path), loc, product, context_name, arguments)
        where = f"context:{context_name}"
        considerations.setdefault(where, f"Regulatory context {context_name}")
        entry = LoadedRule(rule, where, shown(path), doc.line_of(loc))
        _admit(entry, seen, doc, loc, bibliography, alternatives, option_ids)
        loaded.append(entry)
    check_arguments(loaded, arguments, argument_lines)
    check_concepts(loaded)
    check_unknown_never_scores(loaded)
    default = [name for name, ctx in contexts.items() if ctx.default]
    if len(default) != 1:
        raise RuleBaseError(
            f"exactly one context must be the default; found {len(default)}",
            path=shown(base / "contexts"),
        )
    vocabulary = _load_vocabulary(vocabulary_path, shown(vocabulary_path))
    files = [manifest_path, bib_path, alt_path, vocabulary_path, *context_paths, *rule_paths]
    about_path = base / ABOUT_FILE
    about = None
    if about_path.is_file():  # optional: older rule bases have none
        about = load_about(about_path, shown(about_path), manifest.version)
        files.append(about_path)
    plan_path = base / PLAN_FILE
    plan: tuple[PlanEntry, ...] = ()
    if plan_path.is_file():  # optional: the plan around the choice
        plan = load_plan(plan_path, shown(plan_path), bibliography.sources, option_ids)
        files.append(plan_path)
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
        options=manifest.options,
        option_kind=manifest.option_kind,
        scoring=manifest.scoring,
        review=manifest.review,
        sign_off=manifest.sign_off,
        vocabulary=vocabulary,
        about=about,
        plan=plan,
    )


def _load_vocabulary(path: Path, shown: str) -> Vocabulary:
    """Load ``vocabulary.yaml``: a label for every profile field, words only for values
    the field has, moot conditions that parse. Raises ``RuleBaseError`` at the line."""
    doc = load_yaml(path, shown)
    data: VocabularyFile = validate_model(VocabularyFile, doc.data, doc, shown)
    unlabelled = [f for f in FIELDS if f not in data.labels]
    if unlabelled:
        raise RuleBaseError(
            f"labels: every profile field needs a label; missing {', '.join(unlabelled)}",
            path=shown,
            line=doc.line_of(("labels",)),
        )
    for section in ("labels", "values", "units", "establish"):
        for name in getattr(data, section):
            if name not in FIELDS:
                raise RuleBaseError(
                    f"{section}: unknown profile field '{name}'",
                    path=shown,
                    line=doc.line_of((section, name)),
                )
    for name, words in data.values.items():
        odd = [v for v in words if v not in FIELDS[name].values]
        if odd:
            raise RuleBaseError(
                f"values: {name} has no value '{odd[0]}' "
                f"(its values: {', '.join(FIELDS[name].values)})",
                path=shown,
                line=doc.line_of(("values", name, odd[0])),
            )
    vignette_fields = [
        *data.vignette.phrases,
        *data.vignette.prior_therapies,
        *data.vignette.mention_only_when_given,
    ]
    for name in vignette_fields:
        if name not in FIELDS:
            raise RuleBaseError(
                f"vignette: unknown profile field '{name}'",
                path=shown,
                line=doc.line_of(("vignette",)),
            )
    for index, rule in enumerate(data.moot):
        try:
            parse_condition(rule.when)
        except ConditionError as error:
            raise RuleBaseError(
                f"moot[{index}].when: {error.message}",
                path=shown,
                line=doc.line_of(("moot", index, "when", *error.loc)),
            ) from None
        unknown = [f for f in rule.fields if f not in FIELDS]
        if unknown:
            raise RuleBaseError(
                f"moot[{index}].fields: unknown profile field '{unknown[0]}'",
                path=shown,
                line=doc.line_of(("moot", index, "fields")),
            )
    return Vocabulary(data)


def _admit(
    entry: LoadedRule,
    seen: dict[str, LoadedRule],
    doc: Located,
    base: tuple[int | str, ...],
    bib: Bibliography,
    alts: OutsideTherapies,
    options: tuple[str, ...],
) -> None:
    """Refuse a duplicate rule id, dangling references or unknown options; remember the
    rule."""
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
    check_references(entry, doc, base, bib, alts)
    check_options(entry, doc, base, options)
