"""Hardening: every input reaches one validation gate, and bad input is a ProfileError
naming its field, never another exception (issue 11)."""

from __future__ import annotations

import contextlib
import json
import warnings
from typing import Any

import pytest
from conftest import patched
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from sequencer import (
    PatientProfile,
    ProfileError,
    SequencerError,
    default_rulebook,
    parse_profile,
    recommend,
)
from sequencer.decide.candidates import candidate_values
from sequencer.explain.whatif import vary
from sequencer.model.fields import CROSS_CHECKED, FIELDS
from sequencer.model.parsing import MAX_DEPTH
from sequencer.testing import profiles

BOOK = default_rulebook()


def _fields(data: Any) -> set[str]:
    with pytest.raises(ProfileError) as caught:
        recommend(data)
    return {p.field for p in caught.value.problems}


def test_a_profile_instance_is_validated_again() -> None:
    """model_copy(update=...) skips pydantic's checks; recommend() does not trust it."""
    good = parse_profile(patched({}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        too_old = good.model_copy(update={"age": 500})
        mrd_with_blasts = good.model_copy(
            update={
                "disease": good.disease.model_copy(
                    update={"status": "mrd_positive", "marrow_blasts_pct": 90.0}
                )
            }
        )
        gvhd_without_hct = good.model_copy(
            update={"transplant": good.transplant.model_copy(update={"gvhd": "active"})}
        )
    assert _fields(too_old) == {"age"}
    assert _fields(mrd_with_blasts) == {"disease.marrow_blasts_pct"}
    assert _fields(gvhd_without_hct) == {"transplant.gvhd"}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 100_000])
def test_deep_nesting_is_a_profile_error(depth: int) -> None:
    """JSON nested far deeper than a profile is refused by name, as text or as data."""
    text = '{"id": "x", "disease": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(ProfileError, match="nested more than"):
        recommend(text)
    nested: Any = []
    for _ in range(min(depth, 5000)):
        nested = [nested]
    with pytest.raises(ProfileError, match="nested more than"):
        recommend({"id": "x", "disease": nested})


def test_a_huge_integer_is_a_profile_error() -> None:
    """An integer of more than 4,300 digits, as JSON text or as data, is refused."""
    with pytest.raises(ProfileError):
        recommend('{"id": "x", "age": ' + "9" * 5000 + "}")
    assert _fields({"id": "x", "age": 10**5000}) == {"age"}


def test_self_references_and_odd_keys_are_named_not_crashed_on() -> None:
    """A list containing itself, or a dict with tuple keys, gets a problem, not a crash."""
    loop: list[Any] = []
    loop.append(loop)
    assert _fields({"id": "x", "disease": {"abl1_mutations": loop}}) == {
        "disease.abl1_mutations[0]"
    }
    with pytest.raises(ProfileError, match="keys must be text"):
        recommend({"id": "x", "disease": {("a", "b"): 1}})


@pytest.mark.parametrize(
    "patient_id", ["a\x1b]0;pwned\x07b", "a\nb", "nul\x00", "bell\x07", "bidi\u202eevil", "del\x7f"]
)
def test_control_characters_in_an_id_are_refused(patient_id: str) -> None:
    """Terminal escapes, newlines, NUL and bidi overrides never get into an id."""
    assert _fields({"id": patient_id}) == {"id"}


def test_a_null_section_means_unknown_like_an_absent_one() -> None:
    """ "disease": null is the same as leaving the section out (null means unknown)."""
    assert recommend({"id": "x", "disease": None}) == recommend({"id": "x"})


def test_a_contradiction_is_reported_beside_an_invalid_field() -> None:
    """Every problem at once: an invalid CD19 value does not hide MRD-only with 60% blasts."""
    fields = _fields(
        patched(
            {
                "disease.cd19": "maybe",
                "disease.status": "mrd_positive",
                "disease.marrow_blasts_pct": 60,
            }
        )
    )
    assert fields == {"disease.cd19", "disease.marrow_blasts_pct"}


def test_a_duplicate_key_does_not_hide_the_other_problems() -> None:
    """A repeated key is reported together with every other problem."""
    text = '{"id": "x", "age": 40, "age": 41, "ecog": 9}'
    with pytest.raises(ProfileError) as caught:
        recommend(text)
    assert {p.field for p in caught.value.problems} == {"age", "ecog"}


def test_an_overt_relapse_needs_a_site_of_disease() -> None:
    """Relapsed with 0% blasts, no MRD, a clear CSF and no extramedullary disease is a
    contradiction; the same with CNS3 (an isolated CNS relapse) is not."""
    assert _fields(patched({"disease.marrow_blasts_pct": 0})) == {"disease.status"}
    recommend(patched({"disease.marrow_blasts_pct": 0, "disease.cns": "CNS3"}))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(
    st.one_of(
        _JSON,
        st.dictionaries(st.sampled_from(["id", "age", "disease", "transplant", "access"]), _JSON),
        st.builds(lambda d: json.dumps(d), _JSON),
        st.binary(max_size=40),
        st.text(max_size=40),
    )
)
def test_recommend_raises_only_sequencer_errors_for_any_input(data: Any) -> None:
    """Whatever it is given, recommend() answers or raises a SequencerError."""
    with contextlib.suppress(SequencerError):
        recommend(data)


def test_a_profile_instance_round_trips_unchanged() -> None:
    """Re-validating a valid profile changes nothing."""
    profile = parse_profile(
        patched({"disease.abl1_mutations": ["T315I"], "disease.ph": "positive"})
    )
    assert parse_profile(profile) == profile
    assert isinstance(parse_profile(profile), PatientProfile)


@given(st.sampled_from(sorted(CROSS_CHECKED)), st.data())
def test_a_cross_checked_value_contradicts_only_facts_of_its_own_section(
    field: str, data: st.DataObject
) -> None:
    """Every contradiction check is a section's own validator: a value of a cross-checked
    field is valid in the whole profile exactly when its section alone is (the search for
    unknowns remembers validity by the section's cross-checked facts only)."""
    profile = data.draw(profiles())
    section, _, leaf = field.partition(".")
    for value in candidate_values(BOOK, field, None, BOOK.context(), False):
        whole = profile.model_dump()
        whole[section][leaf] = value
        part = getattr(profile, section)
        alone = {**part.model_dump(), leaf: value}
        assert _validates(PatientProfile, whole) == _validates(type(part), alone), (field, value)


def _validates(model: type[BaseModel], data: dict[str, Any]) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


@given(st.sampled_from(sorted(set(FIELDS) - CROSS_CHECKED)), st.data())
def test_fields_outside_cross_checked_never_contradict(field: str, data: st.DataObject) -> None:
    """CROSS_CHECKED lists every field a contradiction check compares: any in-range value
    of another field, set on a valid profile, keeps it valid (the search for unknowns
    skips validation for those)."""
    profile = data.draw(profiles())
    for value in candidate_values(BOOK, field, None, BOOK.context(), False):
        vary(profile, field, value)  # raises ProfileError if the list is wrong
