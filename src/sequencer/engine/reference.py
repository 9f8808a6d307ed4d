"""A plain-Python evaluator of the compiled rule form (no durable_rules).

It gives the meaning of a rule base independently of the engine: conditions are
evaluated by ``sequencer.knowledge.conditions.evaluate`` and derived concepts are chained to a
fixpoint. Tests compare it with the durable_rules adapter rule for rule, and it is
the floor that benchmarks measure the engine against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sequencer.knowledge.conditions import evaluate
from sequencer.knowledge.rulebook import Rulebook
from sequencer.knowledge.schema import Rule

__all__ = ["ReferenceEngine", "chain_concepts"]


class ReferenceEngine:
    """Evaluates profiles against one rule base in plain Python."""

    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook
        self._rules = rulebook.active

    def fired(self, facts: Mapping[str, Any], context: str | None = None) -> frozenset[str]:
        """Return the ids of the active rules that fire for flattened profile ``facts``.

        ``context`` names the regulatory context, whose own rules then take part too.
        """
        matching = [
            r
            for r in self._rules
            if (r.context is None or r.context == context) and evaluate(r.condition.profile, facts)
        ]
        return frozenset(chain_concepts(matching, set()))


def chain_concepts(matching: Sequence[Rule], concepts: set[str]) -> set[str]:
    """Return the ids of the ``matching`` rules (their profile conditions hold) that fire
    once derived concepts are chained to a fixpoint, starting from ``concepts`` (which is
    extended with what they derive)."""
    fired: set[str] = set()
    changed = True
    while changed:
        changed = False
        for rule in matching:
            if rule.id not in fired and set(rule.condition.concepts) <= concepts:
                fired.add(rule.id)
                concepts.update(rule.derives)
                changed = True
    return fired
