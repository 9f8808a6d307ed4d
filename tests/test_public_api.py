"""The public face: a small, pinned surface; dict or profile in, same answer out."""

from __future__ import annotations

import json

import pytest
from conftest import patched

import sequencer
from sequencer import PatientProfile, ProfileError, Recommendation, SequencerError, recommend


def test_public_names_are_pinned() -> None:
    """__all__ is sorted (constants first, as ruff's RUF022 orders it) and exactly this;
    changing it is a deliberate act."""
    assert sequencer.__all__ == sorted(sequencer.__all__, key=lambda n: (not n.isupper(), n))
    assert set(sequencer.__all__) == {
        "FORMAT_VERSION",
        "PROBLEM_CODES",
        "AnswerFileError",
        "CaseFileError",
        "CorpusError",
        "EngineError",
        "FhirError",
        "PatientProfile",
        "Problem",
        "ProfileError",
        "Recommendation",
        "RuleBaseError",
        "Rulebook",
        "SequencerError",
        "UnknownContextError",
        "UsageError",
        "__version__",
        "default_rulebook",
        "fired_rules",
        "load_rulebook",
        "parse_profile",
        "recommend",
        "recommend_many",
        "validate",
        "BatchResult",
    }


def test_recommend_accepts_a_dict_a_profile_or_json_text_alike() -> None:
    """The three input forms give the same recommendation."""
    data = patched({"age": 70})
    from_dict = recommend(data)
    assert recommend(PatientProfile.model_validate(data)) == from_dict
    assert recommend(json.dumps(data)) == from_dict
    assert isinstance(from_dict, Recommendation)


def test_recommend_is_deterministic() -> None:
    """The same patient gives the same answer every time."""
    data = patched(
        {
            "disease.cns": "CNS2",
            "transplant.prior_allo_hct": True,
            "transplant.months_since_hct": 4,
            "transplant.on_immunosuppression": True,
        }
    )
    assert len({recommend(data).model_dump_json() for _ in range(20)}) == 1


def test_every_error_is_a_sequencer_error() -> None:
    """One except clause catches everything the library raises on purpose."""
    with pytest.raises(SequencerError):
        recommend({"id": "x", "age": 5})
    assert issubclass(ProfileError, ValueError)


def test_each_failure_raises_its_own_leaf_of_the_one_root() -> None:
    """Unknown context, argument out of range and bad answer file each have a leaf class,
    all under SequencerError."""
    leaves = (
        sequencer.UnknownContextError,
        sequencer.UsageError,
        sequencer.AnswerFileError,
        sequencer.CaseFileError,
    )
    assert all(issubclass(leaf, SequencerError) for leaf in leaves)
    with pytest.raises(sequencer.UnknownContextError, match="known: us-2020, us-2026") as caught:
        recommend(patched({}), context="eu-1999")
    assert caught.value.known == ["us-2020", "us-2026"]
    with pytest.raises(sequencer.UsageError, match="processes must be between"):
        list(sequencer.recommend_many([patched({})], processes=-1))


def test_recommendation_round_trips_through_json() -> None:
    """A stored recommendation can be read back into the model."""
    rec = recommend(patched({}))
    assert Recommendation.model_validate_json(rec.model_dump_json()) == rec


def test_every_reason_names_its_rule_and_is_cited() -> None:
    """No reason or warning is empty or uncited."""
    rec = recommend(patched({"age": 75, "disease.cd19": "dim", "disease.kmt2a_rearranged": True}))
    for item in [*rec.reasons, *rec.warnings]:
        assert item.rule and item.text.strip() and item.citations
