"""The plan around the choice: the steps of ``rules/plan.yaml`` that apply to the
recommendation (``sequencer.knowledge.plan`` says what a step is)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sequencer.decide.plans import cached_citations
from sequencer.knowledge.conditions import Predicate, compile_predicate
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.recommendation import PlanStep

__all__ = ["plan_steps"]

_Step = tuple[str, Predicate | None, PlanStep]


def _steps(rulebook: Rulebook) -> tuple[_Step, ...]:
    """Every plan step once: its option, its condition as a test, and the step as shown
    (the same frozen object in every recommendation that includes it)."""
    return tuple(
        (
            entry.spec.option,
            None if entry.condition is None else compile_predicate(entry.condition),
            PlanStep.model_construct(
                phase=entry.spec.phase,
                option=entry.spec.option,
                text=" ".join(entry.spec.text.split()),
                rule=entry.spec.id,
                citations=cached_citations(rulebook, entry.spec.citations),
                evidence=entry.spec.evidence,
            ),
        )
        for entry in rulebook.plan
    )


def plan_steps(
    rulebook: Rulebook, preferred: str | None, facts: Mapping[str, Any]
) -> list[PlanStep]:
    """The plan steps of the preferred option whose conditions hold (none without a
    choice), in phase order (``sequencer.knowledge.plan``)."""
    if preferred is None:
        return []
    return [
        step
        for option, test, step in rulebook.compiled("plan-steps", _steps)
        if option == preferred and (test is None or test(facts))
    ]
