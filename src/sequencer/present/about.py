"""The transparency document: the source attributes US rules ask of an evidence-based
decision support intervention, answered for one rule base.

``about_document(rulebook)`` builds it (``AboutDocument``, shaped in
``sequencer.present.about_model``, also served as JSON) from the
rule base's own statements (``rules/about.yaml``: intended use, developer, funding,
releases, limitations, the regulation's attributes mapped to profile fields) and from
what can be computed: the inputs and the rules that read each, the bibliography with the
evidence grade of every source and rule, sign-off and revision state, the published and
literature cases replayed now (how many agree), the rule cases, and the rules that never
fire or never decide over a seeded generated cohort. ``sequencer.present.about_views``
renders it (``sequencer about``, ``docs/ABOUT.md``, ``GET /about``).

The document is a function of the rule base and the shipped cases only (no clock), so
the committed ``docs/ABOUT.md`` stays equal to what the generator gives until they change.
"""

from __future__ import annotations

from collections import Counter
from typing import get_args

from sequencer.api import recommend
from sequencer.explain.cohort import cohort, coverage
from sequencer.explain.impact import read_literature_cases
from sequencer.explain.published import choice_name, library_choice, load_cases, replay
from sequencer.knowledge.about import About
from sequencer.knowledge.conditions import fields_of
from sequencer.knowledge.manifest import Evidence
from sequencer.knowledge.rulebook import CASES_SUFFIX, Rulebook
from sequencer.knowledge.schema import Rule
from sequencer.knowledge.yamlsource import load_yaml
from sequencer.model.fields import FIELDS
from sequencer.model.parsing import parse_profile
from sequencer.present.about_model import (
    NOT_STATED,
    AboutDocument,
    AttributeAnswer,
    CaseResult,
    CoverageFacts,
    EvidenceSource,
    GradeCount,
    InputField,
    PropertyEntry,
    ReleaseEntry,
    Revisions,
    RuleBaseId,
    ValidationFacts,
)

__all__ = [
    "ABOUT_PATH",
    "COHORT_SEED",
    "COHORT_SIZE",
    "about_document",
    "about_ready",
]

ABOUT_PATH = "/about"
"""Where the service serves the document (linked from served reports)."""
COHORT_SIZE = 2_000
COHORT_SEED = 2020


def about_document(rulebook: Rulebook, context: str | None = None) -> AboutDocument:
    """Return the transparency document of ``rulebook`` in ``context`` (default: the rule
    base's default), built once per rule base and context. Raises
    ``UnknownContextError`` for an unknown context and ``CaseFileError`` when the shipped
    cases cannot be read."""
    name = rulebook.context(context).context
    return rulebook.compiled(f"about:{name}", lambda book: _build(book, name))


def about_ready(rulebook: Rulebook) -> list[str]:
    """Return the contexts whose transparency document is built already, sorted."""
    return sorted(c for c in rulebook.contexts if rulebook.has_compiled(f"about:{c}"))


def _reads(rulebook: Rulebook, context: str) -> dict[str, list[str]]:
    """Field -> the active rules of ``context`` whose condition reads it, in load order."""
    out: dict[str, list[str]] = {f: [] for f in FIELDS}
    for rule in rulebook.active_in(context):
        for field in sorted(fields_of(rule.condition.profile)):
            out[field].append(rule.id)
    return out


def _attributes(
    about: About | None, answered: dict[str, str], reads: dict[str, list[str]]
) -> list[AttributeAnswer]:
    """Every attribute of ``about`` answered: those answered by a section from
    ``answered``, each data category from its fields and the rules reading them."""
    if about is None:
        return []
    answers = []
    for a in about.attributes:
        if a.fields is None:
            answers.append(
                AttributeAnswer(
                    id=a.id,
                    paragraph=a.paragraph,
                    asks=a.asks,
                    answer=answered[a.id],
                    used=None,
                    fields=[],
                    rules=[],
                )
            )
            continue
        rules = list(dict.fromkeys(r for f in a.fields for r in reads[f]))
        answers.append(
            AttributeAnswer(
                id=a.id,
                paragraph=a.paragraph,
                asks=a.asks,
                answer=" ".join((a.answer or "").split()),
                used=bool(a.fields),
                fields=list(a.fields),
                rules=rules,
            )
        )
    return answers


def _literature(rulebook: Rulebook, context: str) -> list[CaseResult]:
    out = []
    for case in read_literature_cases():
        rec = recommend(parse_profile(case["profile"]), rulebook=rulebook, context=context)
        chose = str(case["clinicians_chose"])
        differs = case.get("library_differs")
        documented = None
        if differs is not None and rec.preferred == differs.get("preferred"):
            documented = " ".join(str(differs.get("why", "")).split())
        out.append(
            CaseResult(
                source="literature",
                case=str(case["id"]),
                context=context,
                expected=choice_name(chose, rulebook),
                library=choice_name(library_choice(rec), rulebook),
                agrees=rec.preferred == chose,
                documented_difference=documented,
            )
        )
    return out


def _rules_with_cases(rulebook: Rulebook) -> set[str]:
    """Rule ids that have both firing and silent cases in the rule base's case files."""
    found: set[str] = set()
    for path in sorted(rulebook.root.glob(f"*/*{CASES_SUFFIX}")):
        data = load_yaml(path, path.name).data
        if isinstance(data, dict):
            found |= {
                str(rule_id)
                for rule_id, entry in data.items()
                if isinstance(entry, dict) and entry.get("fires") and entry.get("silent")
            }
    return found


def _sign_off(rulebook: Rulebook, active: tuple[Rule, ...]) -> tuple[str, int, int, str | None]:
    """The rule base's own sign-off in words, how many of ``active`` are signed off and
    not, and the earliest review due date recorded (no clock: dates as recorded)."""
    own = rulebook.sign_off
    words = (
        "never signed off"
        if own is None
        else f"signed off by {own.by} on {own.signed}, review due {own.due}"
    )
    signed = [r for r in active if r.sign_off is not None]
    dues = sorted(r.sign_off.due for r in signed if r.sign_off is not None)
    earliest = str(min([*dues, *([own.due] if own else [])])) if (dues or own) else None
    return words, len(signed), len(active) - len(signed), earliest


def _build(rulebook: Rulebook, context: str) -> AboutDocument:
    about = rulebook.about
    ctx = rulebook.context(context)
    active = rulebook.active_in(context)
    reads = _reads(rulebook, context)
    review = rulebook.sources[rulebook.review.source].label(rulebook.review.ref_label)

    # evidence
    cited_by: dict[str, list[str]] = {key: [] for key in rulebook.sources}
    for rule in active:
        for key in rule.citations:
            cited_by[key].append(rule.id)
    sources = [
        EvidenceSource(
            key=key,
            citation=source.label(rulebook.review.ref_label),
            grade=source.kind,
            doi=source.doi,
            pmid=source.pmid,
            cited_by=cited_by[key],
        )
        for key, source in rulebook.sources.items()
    ]
    rule_grades: Counter[str] = Counter(str(r.evidence) for r in active)
    source_grades: Counter[str] = Counter(str(s.kind) for s in rulebook.sources.values())
    grades = [
        GradeCount(grade=g, rules=rule_grades[g], sources=source_grades[g])
        for g in sorted(set(rule_grades) | set(source_grades), key=_grade_order)
    ]

    # releases and revisions
    words, signed, unsigned, earliest = _sign_off(rulebook, active)
    releases = [
        ReleaseEntry(version=r.version, date=str(r.date), changes=" ".join(r.changes.split()))
        for r in (about.releases if about else ())
    ]
    current = next((r.date for r in releases if r.version == rulebook.version), None)
    revisions = Revisions(
        releases=releases,
        current_release=current,
        revised_rules={r.id: r.version for r in active if r.version > 1},
        rule_base_sign_off=words,
        signed_rules=signed,
        unsigned_rules=unsigned,
        earliest_due=earliest,
    )

    # validation: the cases replayed now
    published = [
        CaseResult(
            source="published",
            case=f"patient {r.case.number}",
            context=r.case.context,
            expected=r.name(r.case.published_choice),
            library=r.name(r.choice),
            agrees=r.agrees,
            documented_difference=None,
        )
        for r in replay(load_cases(), rulebook)
    ]
    literature = _literature(rulebook, context)
    with_cases = _rules_with_cases(rulebook)
    validation = ValidationFacts(
        method=" ".join(about.validation.method.split()) if about else NOT_STATED,
        not_done=" ".join(about.validation.not_done.split()) if about else NOT_STATED,
        published_total=len(published),
        published_agree=sum(c.agrees for c in published),
        literature_total=len(literature),
        literature_agree=sum(c.agrees for c in literature),
        literature_as_documented=sum(c.documented_difference is not None for c in literature),
        cases=[*published, *literature],
        active_rules=len(active),
        rules_with_cases=sum(r.id in with_cases for r in active),
        properties=[
            PropertyEntry(test=p.test, pins=p.pins)
            for p in (about.validation.properties if about else ())
        ],
    )

    # coverage over a seeded cohort
    found = coverage(rulebook, cohort(rulebook, COHORT_SIZE, COHORT_SEED), context)
    cover = CoverageFacts(
        context=context,
        cohort=COHORT_SIZE,
        seed=COHORT_SEED,
        never_fire=found.never_fire,
        never_decide=[r for r in found.never_decide if rulebook.rule(r).decisive],
    )

    computed = _computed_limitations(rulebook, rule_grades, len(active), revisions, cover)
    computed += [
        f"Literature case {c.case}: the clinicians chose {c.expected}; the rules give: "
        f"{c.library}. {c.documented_difference or ''}".rstrip()
        for c in literature
        if not c.agrees
    ]
    computed += [
        f"Published {c.case} ({c.context}): published {c.expected}; the rules give: {c.library}."
        for c in published
        if not c.agrees
    ]

    attribute_text = {
        "citation": (
            f"{review}. The rule base encodes this review's reasoning and cites "
            f"{len(rulebook.sources)} sources in all; every rule names its own (see the "
            "evidence base below)."
        ),
        "developer": (
            f"{about.developer.name}. {' '.join(about.developer.translation.split())}"
            if about
            else NOT_STATED
        ),
        "funding": " ".join(about.funding.split()) if about else NOT_STATED,
        "dates": _dates_answer(rulebook, revisions),
    }
    voc = rulebook.vocabulary
    inputs = [
        InputField(
            field=name,
            label=voc.label(name),
            kind=spec.kind,
            values=list(spec.values),
            attribute=(a.id if about and (a := about.category_of(name)) else None),
            rules=reads[name],
            derives_access=name == "age",
        )
        for name, spec in FIELDS.items()
    ]
    return AboutDocument(
        rulebook=RuleBaseId(
            name=rulebook.name,
            version=rulebook.version,
            digest=rulebook.digest,
            title=rulebook.title,
        ),
        context=ctx.context,
        context_title=ctx.title,
        notice=" ".join(rulebook.notice.split()),
        regulation=" ".join(about.regulation.citation.split()) if about else NOT_STATED,
        regulation_scope=" ".join(about.regulation.scope.split()) if about else NOT_STATED,
        intended_use=" ".join(about.intended_use.split()) if about else NOT_STATED,
        intended_users=list(about.intended_users) if about else [NOT_STATED],
        patient_population=" ".join(about.patient_population.split()) if about else NOT_STATED,
        decision_role=" ".join(about.decision_role.split()) if about else NOT_STATED,
        cautioned_uses=list(about.cautioned_uses) if about else [NOT_STATED],
        review=review,
        developer=about.developer.name if about else NOT_STATED,
        developer_translation=" ".join(about.developer.translation.split())
        if about
        else NOT_STATED,
        developer_contact=" ".join(about.developer.contact.split()) if about else NOT_STATED,
        funding=attribute_text["funding"],
        attributes=_attributes(about, attribute_text, reads),
        inputs=inputs,
        inputs_text=" ".join(about.clinical_inputs_text.split()) if about else NOT_STATED,
        grades=grades,
        sources=sources,
        revisions=revisions,
        validation=validation,
        coverage=cover,
        stated_limitations=list(about.known_limitations) if about else [NOT_STATED],
        computed_limitations=computed,
        where_to_read=(
            f"`sequencer about` prints this document; the service serves it at {ABOUT_PATH} "
            "(HTML, or JSON with Accept: application/json or ?format=json); the repository "
            "keeps it as docs/ABOUT.md, regenerated by `make about` and checked by a test."
        ),
    )


_GRADES: tuple[str, ...] = get_args(Evidence)  # strongest kind of study first


def _grade_order(grade: str) -> tuple[int, str]:
    return (_GRADES.index(grade) if grade in _GRADES else len(_GRADES), grade)


def _dates_answer(rulebook: Rulebook, revisions: Revisions) -> str:
    if revisions.current_release is None:
        first = f"The release date of version {rulebook.version} is not recorded."
    else:
        first = f"Version {rulebook.version} was released on {revisions.current_release}."
    n = len(revisions.releases)
    history = f" {n} releases are recorded (below)." if n > 1 else ""
    revised = len(revisions.revised_rules)
    rules = (
        f" {revised} rules have been revised since first written (their own version is "
        "above 1); rules carry no dates of their own beyond their clinical sign-off."
    )
    return first + history + rules


def _computed_limitations(
    rulebook: Rulebook,
    grades: Counter[str],
    active: int,
    revisions: Revisions,
    cover: CoverageFacts,
) -> list[str]:
    out = []
    opinion = grades.get("expert-opinion", 0)
    if opinion:
        out.append(
            f"{opinion} of the {active} active rules rest on expert opinion, the lowest "
            "evidence grade."
        )
    if revisions.unsigned_rules:
        whole = (
            " and the rule base as a whole has none"
            if rulebook.sign_off is None
            else f"; the rule base was {revisions.rule_base_sign_off}"
        )
        out.append(
            f"No clinical sign-off is recorded for {revisions.unsigned_rules} of the "
            f"{active} active rules{whole} (`sequencer rules --stale` lists what needs "
            "review today)."
        )
    cohort_words = (
        f"a generated cohort of {cover.cohort:,} patients (seed {cover.seed}, context "
        f"{cover.context})"
    )
    if cover.never_fire:
        out.append(f"Over {cohort_words} these rules never fire: {', '.join(cover.never_fire)}.")
    if cover.never_decide:
        out.append(
            f"Over {cohort_words} these rules could change a decision but never did (they "
            f"may be redundant with others): {', '.join(cover.never_decide)}."
        )
    return out
