"""The shortcuts of the fast path give exactly what the long way gives.

- durable_rules' verdicts remembered by the classes of the facts each rule reads
  (``sequencer.engine.verdicts``) equal a fresh evaluation by durable_rules;
- a candidate value's outcome worked out as a change to the patient's own tally
  (``DecisionKeys.adding``) equals the decision of the whole fired set;
- ``rules diff`` comparing decisions from the fired rules finds the same changes as
  comparing full recommendations;
- the access a context derives, copied into the profile, is the profile validating the
  copy again would give.
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

from conftest import REPO

from sequencer import default_rulebook, load_rulebook, recommend
from sequencer.api import effective_profile, engine_for
from sequencer.decide.decision import DecisionKeys, decide, decision_key, tally
from sequencer.engine.verdicts import verdicts_for
from sequencer.explain.cohort import cohort_slice
from sequencer.explain.impact import rules_diff
from sequencer.knowledge.conditions import compares_of
from sequencer.model.fields import flatten
from sequencer.model.recommendation import Recommendation

sys.path.insert(0, str(REPO / "bench"))
from profiles import profiles

BOOK = default_rulebook()


def test_remembered_verdicts_equal_durable_rules_in_every_context() -> None:
    """Over 3,000 generated profiles per context, twice, the remembered answer is the
    engine's own, and the second pass is answered from memory (the memo is really used)."""
    engine = engine_for(BOOK)
    for context in sorted(BOOK.contexts):
        facts = [
            flatten(effective_profile(p, rulebook=BOOK, context=context)[0])
            for p in profiles(3000, seed=41)
        ]
        for _ in range(2):
            for f in facts:
                assert engine.fired(f, context) == engine.fired(f, context, remembered=False)
        remembered = sum(verdicts_for(BOOK, context).lookup(f) is not None for f in facts)
        assert remembered == len(facts)


def test_a_value_in_the_same_class_reuses_the_verdict_and_another_class_does_not() -> None:
    """Ages on the same side of every threshold the rules use share a verdict; an age
    across a threshold does not (it is asked of durable_rules)."""
    context = BOOK.default_context
    base = flatten(effective_profile({"id": "v", "age": 45}, rulebook=BOOK)[0])
    verdicts = verdicts_for(BOOK, context)
    engine_for(BOOK).fired(base, context)
    same = dict(base, age=46)
    assert verdicts.classes.vector(same) == verdicts.classes.vector(base)
    assert verdicts.lookup(same) == engine_for(BOOK).fired(same, context, remembered=False)
    thresholds = {
        c.value
        for rule in BOOK.active_in(context)
        for c in compares_of(rule.condition.profile)
        if c.field == "age" and isinstance(c.value, int)
    }
    assert thresholds, "the rule base compares the age with some threshold"
    far = dict(base, age=max(thresholds) + 1)
    assert verdicts.classes.vector(far) != verdicts.classes.vector(base)
    fresh = engine_for(BOOK).fired(far, context, remembered=False)
    assert engine_for(BOOK).fired(far, context) == fresh
    assert verdicts.lookup(far) == fresh


def test_adding_rules_to_a_patients_tally_decides_as_the_whole_set() -> None:
    """For 1,500 generated patients and three random sets of decisive rules that did not
    fire (arguments and standing changes mixed), the incremental key equals the key of
    the whole fired set."""
    rng = random.Random(7)
    decisive = sorted(r.id for r in BOOK.active if r.decisive)
    engine = engine_for(BOOK)
    checked = 0
    for profile in profiles(1500, seed=43):
        parsed, ctx, _ = effective_profile(profile, rulebook=BOOK)
        fired = engine.fired(flatten(parsed), ctx.context)
        t = tally(BOOK, fired)
        keys = DecisionKeys(BOOK, t, decide(BOOK, t))
        assert keys.adding(frozenset()) == decision_key(BOOK, fired)
        idle = [r for r in decisive if r not in fired]
        for size in (1, 2, 4):
            started = frozenset(rng.sample(idle, min(size, len(idle))))
            assert keys.adding(started) == decision_key(BOOK, fired | started)
            checked += 1
    assert checked >= 4000


def test_rules_diff_finds_the_changes_full_recommendations_show(tmp_path: Path) -> None:
    """Retiring a rule: the cohort changes ``rules diff`` reports are exactly the patients
    whose full recommendations differ in choice or an option's status."""
    root = tmp_path / "rules"
    shutil.copytree(BOOK.root, root)
    path = root / "considerations" / "access.yaml"
    path.write_text(
        path.read_text().replace(
            "  - id: car-t-unavailable\n", "  - id: car-t-unavailable\n    status: retired\n"
        )
    )
    new = load_rulebook(root)
    size = 400
    impact = rules_diff(BOOK, new, size=size, processes=1)
    reported = {c.patient for c in impact.changes if c.source == "cohort"}

    def key(rec: Recommendation) -> tuple[object, ...]:
        return rec.preferred, tuple(sorted((o.therapy, o.status) for o in rec.options))

    expected = {
        p.id
        for p in cohort_slice(new, range(size), 2020, also=(BOOK,))
        if key(recommend(p, rulebook=BOOK)) != key(recommend(p, rulebook=new))
    }
    assert expected, "retiring the rule changes some cohort decisions"
    assert reported == expected


def test_the_derived_access_copy_equals_validating_the_profile_again() -> None:
    """In every context, over 2,000 generated profiles, the profile with the derived access
    equals (and dumps as) the same data validated from scratch."""
    from sequencer.knowledge.contexts import apply_context
    from sequencer.model.parsing import parse_profile
    from sequencer.model.profile import PatientProfile

    derived = 0
    for context in sorted(BOOK.contexts):
        for data in profiles(2000, seed=47):
            parsed = parse_profile(data)
            copy, derivations = apply_context(BOOK.context(context), parsed)
            again = PatientProfile.model_validate(copy.model_dump())
            assert copy == again and copy.model_dump() == again.model_dump()
            derived += bool(derivations)
    assert derived > 500
