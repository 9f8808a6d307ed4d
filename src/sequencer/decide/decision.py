"""The decision from the fired rules alone: the tally of arguments and standings, and
the choice it leads to (``sequencer.decide.ranking`` documents the method)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Literal

from sequencer.decide.plans import Plan, memo_of, plans_of, remembered
from sequencer.knowledge.rulebook import Rulebook

__all__ = [
    "Decision",
    "DecisionKeys",
    "Status",
    "Tally",
    "decide",
    "decision_key",
    "fold_standing",
    "quick_key",
    "tally",
]

Status = Literal["preferred", "alternative", "deferred", "not_eligible"]


# --- the decision, from the fired rules alone -----------------------------------------


@dataclass
class Tally:
    """What the fired rules say, before any choice: arguments, defeats, standing."""

    rules: list[tuple[str, Plan]] = field(default_factory=list)  # in rule-base order
    best: dict[str, tuple[int, str]] = field(default_factory=dict)  # argument -> weight, rule
    makers: dict[str, list[str]] = field(default_factory=dict)
    set_aside: dict[str, list[str]] = field(default_factory=dict)  # argument -> rules
    failed: dict[str, list[str]] = field(default_factory=dict)
    ineligible: set[str] = field(default_factory=set)
    deferred: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    blocking: list[str] = field(default_factory=list)


def tally(rulebook: Rulebook, fired: Iterable[str]) -> Tally:
    """Return the ``Tally`` of the rules in ``fired`` (ids; their order does not matter)."""
    plans = plans_of(rulebook)
    result = Tally()
    result.rules = sorted(((r, plans[r]) for r in fired if r in plans), key=lambda x: x[1].index)
    for rule_id, plan in result.rules:
        for argument, _, weight in plan.argues:
            result.makers.setdefault(argument, []).append(rule_id)
            known = result.best.get(argument)
            if known is None or weight > known[0]:
                result.best[argument] = (weight, rule_id)
    fold_standing(result, result.rules)
    return result


def fold_standing(into: Tally, rules: Iterable[tuple[str, Plan]]) -> None:
    """Add what ``rules`` (id, plan; in rule-base order) do to the options' standing to
    ``into``: failures, arguments set aside, ineligibility, deferrals, blocking facts.
    Returns nothing (``into`` is changed)."""
    for rule_id, plan in rules:
        for therapy in plan.failed:
            into.failed.setdefault(therapy, []).append(rule_id)
        for argument in plan.sets_aside:
            into.set_aside.setdefault(argument, []).append(rule_id)
        into.ineligible.update(plan.not_eligible)
        for therapy, until in plan.defers:
            into.deferred.setdefault(therapy, []).append((rule_id, until))
        for name in plan.blocking:
            if name not in into.blocking:
                into.blocking.append(name)


@dataclass(frozen=True)
class Decision:
    """The choice a tally leads to."""

    preferred: str | None
    status: Mapping[str, Status]
    score: Mapping[str, int]
    counted: frozenset[str]
    defeated: Mapping[str, tuple[str, ...]]  # argument -> rules that set it aside
    gap: int | None
    close_call: bool
    tie: bool
    blocked: bool

    def key(self) -> tuple[str | None, tuple[str, ...]]:
        """What a change of fact must move to change the choice."""
        return self.preferred, tuple(self.status.values())


def decide(rulebook: Rulebook, t: Tally) -> Decision:
    """Return the ``Decision`` for a tally (the module docstring gives the method)."""
    score: dict[str, int] = dict.fromkeys(rulebook.option_ids, 0)
    counted: set[str] = set()
    defeated: dict[str, tuple[str, ...]] = {}
    for argument, (weight, _) in t.best.items():
        spec = rulebook.arguments[argument]
        favors = spec.favors
        failed_by = t.failed.get(spec.pro_of, ()) if spec.pro_of else ()
        by = [*t.set_aside.get(argument, ()), *failed_by]
        if by:
            defeated[argument] = tuple(dict.fromkeys(by))
        else:
            counted.add(argument)
            score[favors] += weight
    preferred, status, gap, tie, blocked = _choose(
        rulebook.option_ids, score, t.ineligible, set(t.deferred), set(t.failed), bool(t.blocking)
    )
    close_call = gap is not None and gap <= rulebook.close_call_margin and not blocked
    return Decision(
        preferred, status, score, frozenset(counted), defeated, gap, close_call, tie, blocked
    )


def _choose(
    options: tuple[str, ...],
    score: Mapping[str, int],
    ineligible: AbstractSet[str],
    deferred: AbstractSet[str],
    failed: AbstractSet[str],
    blocking: bool,
) -> tuple[str | None, dict[str, Status], int | None, bool, bool]:
    """Return preferred, every status (in ``options`` order), the gap between the two
    best candidates, tie, blocked.

    Candidates are the available options that have not failed. Two or more: the highest
    score is preferred unless the best two tie (no preference). One: it is preferred.
    """
    available = [x for x in options if x not in ineligible and x not in deferred]
    candidates = [x for x in available if x not in failed]
    blocked = blocking and bool(available)
    preferred: str | None = None
    gap: int | None = None
    tie = False
    if len(candidates) >= 2:
        ranked = sorted(candidates, key=lambda x: -score[x])
        gap = score[ranked[0]] - score[ranked[1]]
        tie = gap == 0
        if not tie:
            preferred = ranked[0]
    elif len(candidates) == 1:
        preferred = candidates[0]
    if blocked:
        preferred = None
    status: dict[str, Status] = {}
    for therapy in options:
        if therapy in ineligible:
            status[therapy] = "not_eligible"
        elif therapy in deferred:
            status[therapy] = "deferred"
        elif therapy == preferred:
            status[therapy] = "preferred"
        else:
            status[therapy] = "alternative"
    return preferred, status, gap, tie, blocked


_KEY_MEMO_SIZE = 8192


def decision_key(rulebook: Rulebook, fired: frozenset[str]) -> tuple[str | None, tuple[str, ...]]:
    """``decide(tally(fired)).key()``, remembered: it is a function of the fired set."""
    return remembered(
        rulebook, "decision-keys", fired, lambda: quick_key(rulebook, fired), _KEY_MEMO_SIZE
    )


def quick_key(rulebook: Rulebook, fired: frozenset[str]) -> tuple[str | None, tuple[str, ...]]:
    """``decide(tally(fired)).key()`` without building the tally (a test pins the two equal)."""
    plans = plans_of(rulebook)
    best: dict[str, tuple[int, str]] = {}
    aside: set[str] = set()
    failed: set[str] = set()
    ineligible: set[str] = set()
    deferred: set[str] = set()
    blocking = False
    specs = rulebook.arguments
    for rule_id in fired:
        plan = plans[rule_id]
        for argument, favors, weight in plan.argues:
            if weight > best.get(argument, (0, ""))[0]:
                best[argument] = (weight, favors)
        if plan.changes_standing:
            failed.update(plan.failed)
            aside.update(plan.sets_aside)
            ineligible.update(plan.not_eligible)
            deferred.update(therapy for therapy, _ in plan.defers)
            blocking = blocking or bool(plan.blocking)
    options = rulebook.option_ids
    score: dict[str, int] = dict.fromkeys(options, 0)
    for argument, (weight, favors) in best.items():
        if argument not in aside and specs[argument].pro_of not in failed:
            score[favors] += weight
    preferred, status, _, _, _ = _choose(options, score, ineligible, deferred, failed, blocking)
    return preferred, tuple(status[x] for x in options)


class DecisionKeys:
    """The decision keys of fired sets near one patient's (``decision_key``'s meaning).

    Called with a fired set, it returns that set's key. ``adding(started)`` returns the
    key of the patient's fired rules plus ``started``, worked out as a change to the
    patient's own tally and scores rather than from scratch (a test pins the two ways
    equal).
    """

    def __init__(self, rulebook: Rulebook, t: Tally, d: Decision) -> None:
        self.rulebook = rulebook
        self._plans = plans_of(rulebook)
        self._specs: dict[str, tuple[str, str | None]] = rulebook.compiled(
            "argument-sides", lambda b: {a: (s.favors, s.pro_of) for a, s in b.arguments.items()}
        )
        self._pros: dict[str, tuple[str, ...]] = rulebook.compiled("strengths-of", _strengths_of)
        self._t = t
        self._d = d
        self.base = d.key()
        self._failed = frozenset(t.failed)
        self._aside = frozenset(t.set_aside)
        self._deferred = frozenset(t.deferred)
        self._ineligible = frozenset(t.ineligible)
        self._choices: dict[Hashable, tuple[str | None, tuple[str, ...]]] = memo_of(
            rulebook, "choices"
        )

    def __call__(self, fired: frozenset[str]) -> tuple[str | None, tuple[str, ...]]:
        return decision_key(self.rulebook, fired)

    def adding(self, started: Iterable[str]) -> tuple[str | None, tuple[str, ...]]:
        """Return the key of the patient's fired rules with the rules ``started`` too."""
        plans = self._plans
        best = self._t.best
        raised: dict[str, int] = {}
        changing: list[Plan] = []
        for rule_id in started:
            plan = plans[rule_id]
            if plan.changes_standing:
                changing.append(plan)
            for argument, _, weight in plan.argues:
                known = best.get(argument)
                if (known is None or weight > known[0]) and weight > raised.get(argument, 0):
                    raised[argument] = weight
        if not raised and not changing:
            return self.base
        specs = self._specs
        counted = self._d.counted
        score = dict(self._d.score)
        failed, aside = self._failed, self._aside
        deferred, ineligible = self._deferred, self._ineligible
        blocking = bool(self._t.blocking)
        if changing:
            lost: set[str] = set()  # arguments defeated now: set aside, or their therapy failed
            for plan in changing:
                for therapy in plan.failed:
                    if therapy not in failed:
                        failed = failed | {therapy}
                        lost.update(self._pros.get(therapy, ()))
                for argument in plan.sets_aside:
                    if argument not in aside:
                        aside = aside | {argument}
                        lost.add(argument)
                for therapy, _ in plan.defers:
                    if therapy not in deferred:
                        deferred = deferred | {therapy}
                for therapy in plan.not_eligible:
                    if therapy not in ineligible:
                        ineligible = ineligible | {therapy}
                blocking = blocking or bool(plan.blocking)
            for argument in lost & counted:  # counted before, defeated now
                score[specs[argument][0]] -= best[argument][0]
        for argument, weight in raised.items():
            favors, pro_of = specs[argument]
            if argument in aside or (pro_of is not None and pro_of in failed):
                continue  # set aside or its therapy failed: it weighs nothing
            score[favors] += weight - (best[argument][0] if argument in counted else 0)
        key = (*score.values(), ineligible, deferred, failed, blocking)
        found = self._choices.get(key)
        if found is None:
            options = self.rulebook.option_ids
            preferred, status, _, _, _ = _choose(
                options, score, ineligible, deferred, failed, blocking
            )
            found = (preferred, tuple(status[x] for x in options))
            if len(self._choices) >= _KEY_MEMO_SIZE:
                self._choices.clear()
            self._choices[key] = found
        return found


def _strengths_of(rulebook: Rulebook) -> dict[str, tuple[str, ...]]:
    """therapy -> the arguments that are strengths of it (a failure sets them aside)."""
    out: dict[str, list[str]] = {}
    for argument, spec in rulebook.arguments.items():
        if spec.pro_of:
            out.setdefault(spec.pro_of, []).append(argument)
    return {k: tuple(v) for k, v in out.items()}
