"""A rule-base change's effect on a validation corpus (``rules diff``'s corpus section):
the concordance before and after, and every case whose verdict moved."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sequencer.explain.corpus import load_corpus
from sequencer.explain.validation import Share, Verdict, judge, report_of
from sequencer.knowledge.rulebook import Rulebook

__all__ = ["CorpusImpact", "VerdictMove", "corpus_impact"]

_OUT = ConfigDict(extra="forbid", frozen=True)


class VerdictMove(BaseModel):
    """One case whose verdict differs between the two rule bases."""

    model_config = _OUT
    id: str
    before: Verdict
    after: Verdict
    why_after: str = Field(description="the new rule base's verdict in words")


class CorpusImpact(BaseModel):
    """The corpus judged against both rule bases."""

    model_config = _OUT
    cases: int
    concordant_before: Share
    concordant_after: Share
    concordant_or_conditional_before: Share
    concordant_or_conditional_after: Share
    moved: list[VerdictMove]


def corpus_impact(
    old: Rulebook, new: Rulebook, corpus: Iterable[Path | str] | None = None
) -> CorpusImpact:
    """Return the verdicts of ``corpus`` (default: the shipped one) against ``old`` and
    ``new``, each case in its own context, with every case whose verdict moved.

    Raises ``CorpusError`` when the corpus cannot be read."""
    cases = load_corpus(corpus)
    before = [judge(case, old) for case in cases]
    after = [judge(case, new) for case in cases]
    old_report, new_report = report_of(before, old), report_of(after, new)
    moved = [
        VerdictMove(id=b.id, before=b.verdict, after=a.verdict, why_after=a.why)
        for b, a in zip(before, after, strict=True)
        if b.verdict != a.verdict
    ]
    return CorpusImpact(
        cases=len(cases),
        concordant_before=old_report.concordant,
        concordant_after=new_report.concordant,
        concordant_or_conditional_before=old_report.concordant_or_conditional,
        concordant_or_conditional_after=new_report.concordant_or_conditional,
        moved=moved,
    )
