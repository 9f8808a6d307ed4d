"""Clinical validity measured: a corpus of past decisions run through the rule base and
judged as the validation studies of guideline decision trees judge theirs.

Each case is

- **concordant** when every expectation the recorded decision implies holds;
- **conditional** when only the choice differs and the library said it was not settled:
  a close call, or a provisional choice (a fact it lists as missing could change the
  preferred option);
- **discordant** otherwise;
- **not assessable** when the case cannot be judged: its profile does not validate
  against the current format, its context is unknown, it states no expectation that
  can be checked (``close_call_ok`` or ``ponatinib`` alone qualify nothing), or the
  recorded choice is not an option the rule base ranks.

The shares are of the assessable cases, each with a 95% Wilson score interval.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sequencer.errors import ProfileError, UnknownContextError
from sequencer.explain.corpus import ValidationCase, load_corpus
from sequencer.explain.expectations import Check, checks
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.recommendation import Recommendation

__all__ = [
    "CaseResult",
    "DecidingArgument",
    "Share",
    "ValidationReport",
    "judge",
    "validate",
    "wilson",
]

_OUT = ConfigDict(extra="forbid", frozen=True)
Verdict = Literal["concordant", "conditional", "discordant", "not_assessable"]
VERDICTS: tuple[Verdict, ...] = ("concordant", "conditional", "discordant", "not_assessable")


class DecidingArgument(BaseModel):
    """An argument counted for the library's answer, or a rule that set an option's
    standing (deferred, not eligible, failed)."""

    model_config = _OUT
    rule: str
    title: str
    therapy: str
    weight: int = Field(description="points it added (0 for a standing)")


class CaseResult(BaseModel):
    """One case judged: what was chosen, what the library said, which expectations held."""

    model_config = _OUT
    id: str
    origin: str
    verdict: Verdict
    why: str = Field(description="in words: what held, what did not, or why not assessable")
    chosen: str | None
    library_preferred: str | None = None
    library_summary: str | None = None
    close_call: bool = False
    provisional: bool = False
    context: str | None = None
    checks: list[Check] = []
    deciding: list[DecidingArgument] = []
    citation: str | None = None


class Share(BaseModel):
    """A proportion of the assessable cases with its 95% Wilson score interval."""

    model_config = _OUT
    count: int
    of: int
    share: float
    low: float
    high: float


class ValidationReport(BaseModel):
    """A corpus judged against one rule base."""

    model_config = _OUT
    rulebook: str = Field(description="name, version and short digest")
    counts: dict[str, int]
    assessable: int
    concordant: Share
    concordant_or_conditional: Share
    rules_behind_discordances: list[tuple[str, int]]
    cases: list[CaseResult]


def wilson(count: int, total: int, z: float = 1.959963984540054) -> Share:
    """Return ``count`` of ``total`` with its Wilson score interval (95% by default)."""
    if total == 0:
        return Share(count=0, of=0, share=0.0, low=0.0, high=0.0)
    p = count / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return Share(
        count=count,
        of=total,
        share=p,
        low=max(0.0, centre - spread),
        high=min(1.0, centre + spread),
    )


def _deciding(rec: Recommendation, book: Rulebook) -> list[DecidingArgument]:
    out = [
        DecidingArgument(rule=a.rule, title=a.title, therapy=a.favors, weight=a.weight)
        for a in rec.arguments
        if a.status == "counted" and (rec.preferred is None or a.favors == rec.preferred)
    ]
    titles = {r.rule: r.title for r in rec.reasons}
    for option in rec.options:
        standing = [*option.deferred_by, *option.failed_by]
        if option.status == "not_eligible":
            standing += [
                r.rule
                for r in rec.reasons
                if r.therapy == option.therapy and r.effect == "not_eligible"
            ]
        for rule in dict.fromkeys(standing):
            title = titles.get(rule) or book.rule(rule).title
            out.append(DecidingArgument(rule=rule, title=title, therapy=option.therapy, weight=0))
    return out


def _not_assessable(case: ValidationCase, why: str, context: str | None) -> CaseResult:
    return CaseResult(
        id=case.id,
        origin=case.origin,
        verdict="not_assessable",
        why=why,
        chosen=case.decision.chosen if case.decision else None,
        context=context,
        citation=case.source.citation if case.source else None,
    )


def judge(case: ValidationCase, rulebook: Rulebook, context: str | None = None) -> CaseResult:
    """Return ``case`` judged against ``rulebook`` in ``context`` (else the case's own
    context, else the rule base's default). Never raises for a bad case: a profile that
    does not validate or an unknown context makes it not assessable."""
    from sequencer.api import recommend

    ctx = context or case.context
    given = case.expect.given()
    if not given:
        return _not_assessable(case, "the case states no expectation", ctx)
    options = set(rulebook.option_ids)
    named = [case.expect.preferred, *(case.expect.acceptable or ())]
    outside = [o for o in named if o is not None and o not in options]
    if outside:
        why = f"the recorded choice ({', '.join(outside)}) is not an option the rule base ranks"
        return _not_assessable(case, why, ctx)
    try:
        rec = recommend(case.profile, rulebook=rulebook, context=ctx)
    except ProfileError as error:
        problems = "; ".join(str(p) for p in error.problems[:3])
        return _not_assessable(case, f"the profile does not validate: {problems}", ctx)
    except UnknownContextError as error:
        return _not_assessable(case, str(error), ctx)
    results = checks(case.expect, rec, rulebook)
    if not results:
        why = f"no expectation can be checked: {', '.join(given)} only qualify keys not given"
        return _not_assessable(case, why, ctx)
    failed = [c for c in results if not c.holds]
    if not failed:
        verdict: Verdict = "concordant"
    elif all(c.key in ("preferred", "acceptable") for c in failed) and (
        rec.close_call or rec.provisional
    ):
        verdict = "conditional"
    else:
        verdict = "discordant"
    why = "; ".join(c.text for c in failed) if failed else "every expectation holds"
    return CaseResult(
        id=case.id,
        origin=case.origin,
        verdict=verdict,
        why=why,
        chosen=case.decision.chosen if case.decision else None,
        library_preferred=rec.preferred,
        library_summary=rec.summary,
        close_call=rec.close_call,
        provisional=rec.provisional,
        context=rec.context.name,
        checks=results,
        deciding=_deciding(rec, rulebook),
        citation=case.source.citation if case.source else None,
    )


def report_of(results: Sequence[CaseResult], rulebook: Rulebook) -> ValidationReport:
    """Return the figures of judged ``results``: counts, shares with 95% Wilson
    intervals, and the rules behind most discordances (by how many they decided)."""
    counts = Counter(r.verdict for r in results)
    assessable = len(results) - counts["not_assessable"]
    behind: Counter[str] = Counter()
    for result in results:
        if result.verdict == "discordant":
            behind.update({d.rule for d in result.deciding})
    return ValidationReport(
        rulebook=f"{rulebook.name} {rulebook.version} ({rulebook.digest[:12]})",
        counts={v: counts[v] for v in VERDICTS},
        assessable=assessable,
        concordant=wilson(counts["concordant"], assessable),
        concordant_or_conditional=wilson(counts["concordant"] + counts["conditional"], assessable),
        rules_behind_discordances=sorted(behind.items(), key=lambda kv: (-kv[1], kv[0]))[:10],
        cases=list(results),
    )


def validate(
    corpus: Iterable[Path | str] | None = None,
    *,
    rulebook: Rulebook | None = None,
    context: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ValidationReport:
    """Return the validation report of ``corpus`` (case files, CSV files or directories;
    the shipped corpus when ``None``) against ``rulebook`` (default: the shipped one),
    each case in its own context unless ``context`` overrides it. ``progress`` is called
    with (done, total) after each case.

    Raises ``CorpusError`` (every problem of every file) when the corpus cannot be read;
    a case whose profile does not validate is reported not assessable instead."""
    from sequencer.api import default_rulebook

    book = rulebook or default_rulebook()
    cases = load_corpus(corpus)
    results = []
    for done, case in enumerate(cases, start=1):
        results.append(judge(case, book, context))
        if progress is not None:
            progress(done, len(cases))
    return report_of(results, book)
