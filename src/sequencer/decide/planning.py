"""The plan around the choice: the steps of ``rules/plan.yaml`` that apply to the
recommendation (``sequencer.knowledge.plan`` says what a step is)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sequencer.decide.plans import cached_citations
from sequencer.knowledge.conditions import evaluate
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.recommendation import PlanStep

__all__ = ["plan_steps"]


def plan_steps(
    rulebook: Rulebook, preferred: str | None, facts: Mapping[str, Any]
) -> list[PlanStep]:
    """The plan steps of the preferred option whose conditions hold (none without a
    choice), in phase order (``sequencer.knowledge.plan``)."""
    return [
        PlanStep.model_construct(
            phase=entry.spec.phase,
            option=entry.spec.option,
            text=" ".join(entry.spec.text.split()),
            rule=entry.spec.id,
            citations=cached_citations(rulebook, entry.spec.citations),
            evidence=entry.spec.evidence,
        )
        for entry in rulebook.plan
        if entry.spec.option == preferred
        and (entry.condition is None or evaluate(entry.condition, facts))
    ]
