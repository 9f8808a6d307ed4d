"""The plan around the choice (``rules/plan.yaml``): bridging while the chosen therapy
is prepared, the definitive therapy, and consolidation, each step cited.

A step belongs to one option and is shown when that option is the recommendation's
choice and its condition (``when``, the rule files' condition language; none: always)
holds for the profile. Steps never score, never change a standing and never reorder
options: the plan says what goes around the choice, not which choice.

The file is optional (a rule base without one loads, and its recommendations carry an
empty plan); when present it is validated like every rule file, and a fault stops the
load at ``file:line`` with the step's id: unknown keys, a duplicate id, an option that
is not the rule base's, a condition that does not parse, a citation that is not in the
bibliography.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sequencer.errors import RuleBaseError
from sequencer.knowledge.conditions import ConditionError, Node, parse_condition
from sequencer.knowledge.manifest import Evidence
from sequencer.knowledge.parsing import validate_model
from sequencer.knowledge.yamlsource import load_yaml

__all__ = ["PHASES", "PLAN_FILE", "PlanEntry", "load_plan"]

PLAN_FILE = "plan.yaml"
Phase = Literal["bridge", "definitive", "consolidation"]
PHASES: tuple[Phase, ...] = ("bridge", "definitive", "consolidation")
"""The phases in the order a plan is read."""

_STRICT = ConfigDict(extra="forbid", frozen=True, defer_build=True)
_Id = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


class PlanStepSpec(BaseModel):
    """One step as written in ``plan.yaml``."""

    model_config = _STRICT
    id: _Id
    phase: Phase
    option: str
    when: dict[str, Any] | None = None
    text: Annotated[str, Field(min_length=1)]
    citations: Annotated[list[str], Field(min_length=1)]
    evidence: Evidence


class PlanFile(BaseModel):
    """``plan.yaml``: the steps, in the order they are read within a phase."""

    model_config = _STRICT
    plan: list[PlanStepSpec]


@dataclass(frozen=True)
class PlanEntry:
    """A validated step with its parsed condition (``None``: always)."""

    spec: PlanStepSpec
    condition: Node | None


def load_plan(
    path: Path, shown: str, sources: Mapping[str, object], option_ids: Sequence[str]
) -> tuple[PlanEntry, ...]:
    """Return the validated steps of ``path``, ordered by phase then file order.

    Raises ``RuleBaseError`` at the file and line (and with the step's id) for any fault.
    """
    doc = load_yaml(path, shown)
    data: PlanFile = validate_model(PlanFile, doc.data, doc, shown)
    seen: set[str] = set()
    out: list[PlanEntry] = []
    for index, step in enumerate(data.plan):

        def fault(
            message: str, *loc: int | str, at: int = index, step_id: str = step.id
        ) -> RuleBaseError:
            line = doc.line_of(("plan", at, *loc))
            return RuleBaseError(message, path=shown, line=line, rule_id=step_id)

        if step.id in seen:
            raise fault(f"plan step '{step.id}' is defined twice", "id")
        seen.add(step.id)
        if step.option not in option_ids:
            raise fault(f"option: '{step.option}' is not one of {', '.join(option_ids)}", "option")
        for i, key in enumerate(step.citations):
            if key not in sources:
                raise fault(f"citations[{i}]: unknown source '{key}'", "citations", i)
        condition = None
        if step.when is not None:
            try:
                parsed = parse_condition(step.when)
            except ConditionError as error:
                raise fault(f"when: {error.message}", "when", *error.loc) from None
            if parsed.concepts:
                raise fault("when: a plan step tests profile fields, not concepts", "when")
            condition = parsed.profile
        out.append(PlanEntry(step, condition))
    out.sort(key=lambda e: PHASES.index(e.spec.phase))  # stable: file order within a phase
    return tuple(out)
