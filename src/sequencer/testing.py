"""Hypothesis strategies for sequencer profiles, for your own property tests.

Install with the ``testing`` extra (``pip install "sequencer[testing]"``), then::

    from hypothesis import given
    from sequencer import recommend
    from sequencer.testing import profiles, older_adults

    @given(profiles())
    def test_my_board_software_never_crashes(profile):
        store(recommend(profile))

Every strategy here draws only **valid** profiles (they pass ``parse_profile``): the
whole space, unknowns included, with the edge values the rules care about: either
side of every threshold a rule or a context's label age sets, read from the compiled
rule base (so they follow a changed threshold), NGS-level MRD, and every enumeration
value. ``*_dicts`` strategies give the v1 JSON form as plain dicts; the others give
``PatientProfile`` objects.

Families: ``older_adults`` (over 60), ``post_transplant_relapses`` (prior allo-HCT
with timing, GVHD and immunosuppression drawn), ``ph_positive`` (Ph-positive, with
ABL1 mutation results drawn, T315I included).
"""

from __future__ import annotations

from functools import cache
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError(
        "sequencer.testing needs Hypothesis: pip install 'sequencer[testing]'"
    ) from error

from sequencer.api import default_rulebook
from sequencer.decide.candidates import threshold_values
from sequencer.model.profile import PatientProfile

__all__ = [
    "older_adults",
    "ph_positive",
    "post_transplant_relapses",
    "profile_dicts",
    "profiles",
]

# Values either side of every rule threshold come from the compiled rules (change a
# threshold and the strategies follow); these only add values that stress number
# handling (NGS-level MRD, which a naive engine writes with an exponent).
_NUMBER_EDGES = {"disease.mrd_pct": [0.00005, 0.00001, 0.0001, 4.99]}


@cache
def _edges(field: str) -> list[float]:
    """Values worth drawing for a numeric field: either side of each rule threshold."""
    found = threshold_values(default_rulebook(), field)
    return sorted({*found, *_NUMBER_EDGES.get(field, [])})


ABL1_MUTATIONS = ["T315I", "E255K", "Y253H", "F317L", "G250E", "D276G", "V299L", "F359V"]

_RESPONSE = ["none", "responded", "refractory"]
_DONORS = ["matched_sibling", "matched_unrelated", "haploidentical", "cord", "none", "unknown"]
_ORIGINAL_DONORS = ["matched_sibling", "matched_unrelated", "haploidentical", "cord"]
_CONTRAINDICATIONS = [
    "active_infection",
    "inflammatory_disorder",
    "organ_dysfunction",
    "uncontrolled_neurologic_disease",
    "declines_transfusion",
]


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The strategy's values, or None (unknown)."""
    return st.one_of(st.none(), strategy)


def _percent(edges: list[float], low: float = 0, high: float = 100) -> st.SearchStrategy[float]:
    inside = [e for e in edges if low <= e <= high]
    return st.one_of(
        st.sampled_from(inside),
        st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False),
    )


def _ages(low: int = 18, high: int = 120) -> st.SearchStrategy[int]:
    inside = [int(a) for a in _edges("age") if low <= a <= high]
    return st.one_of(st.sampled_from(inside), st.integers(min_value=low, max_value=high))


@st.composite
def _disease(draw: st.DrawFn, ph: st.SearchStrategy[str] | None = None) -> dict[str, Any]:
    status = draw(st.sampled_from(["relapsed", "refractory", "mrd_positive", None]))
    if status == "mrd_positive":
        blasts_high = 4.999
        mrd = draw(
            _maybe(
                st.one_of(
                    st.sampled_from([e for e in _edges("disease.mrd_pct") if 0 < e <= 4.999]),
                    st.floats(min_value=1e-7, max_value=4.999, allow_nan=False),
                )
            )
        )
    else:
        blasts_high = 100
        mrd = draw(_maybe(_percent(_edges("disease.mrd_pct"))))
    blasts = draw(_maybe(_percent(_edges("disease.marrow_blasts_pct"), 0, blasts_high)))
    ph_value = draw(ph if ph is not None else st.sampled_from(["positive", "negative", "unknown"]))
    abl1: list[str] | None
    if ph_value == "negative":
        abl1 = draw(st.sampled_from([None, []]))
    else:
        abl1 = draw(_maybe(st.lists(st.sampled_from(ABL1_MUTATIONS), max_size=3, unique=True)))
    cns = draw(st.sampled_from(["CNS1", "CNS2", "CNS3", "unknown"]))
    extramedullary = draw(st.sampled_from(["none", "present", "bulky", "unknown"]))
    if (
        status in ("relapsed", "refractory")
        and blasts == 0
        and mrd in (None, 0)
        and (cns, extramedullary) == ("CNS1", "none")
    ):
        blasts = None  # an overt relapse with no site of disease is a contradiction
    return {
        "status": status,
        "marrow_blasts_pct": blasts,
        "mrd_pct": mrd,
        "cd19": draw(st.sampled_from(["positive", "dim", "negative", "unknown", None])),
        "ph": ph_value,
        "abl1_mutations": abl1,
        "kmt2a_rearranged": draw(_maybe(st.booleans())),
        "cns": cns,
        "cns_relapse_history": draw(_maybe(st.booleans())),
        "extramedullary": extramedullary,
        "rapidly_progressing": draw(_maybe(st.booleans())),
    }


@st.composite
def _transplant(
    draw: st.DrawFn, prior: st.SearchStrategy[bool | None] | None = None
) -> dict[str, Any]:
    prior_hct = draw(prior if prior is not None else _maybe(st.booleans()))
    if prior_hct is False:
        months = None
        gvhd = draw(st.sampled_from([None, "none"]))
    else:
        months = draw(
            _maybe(
                st.one_of(
                    st.sampled_from(_edges("transplant.months_since_hct")),
                    st.floats(min_value=0, max_value=600, allow_nan=False),
                )
            )
        )
        gvhd = draw(st.sampled_from([None, "none", "resolved", "active"]))
    return {
        "prior_allo_hct": prior_hct,
        "months_since_hct": months,
        "on_immunosuppression": draw(_maybe(st.booleans())),
        "gvhd": gvhd,
        "donor": draw(st.sampled_from(_DONORS)),
        "candidate": draw(_maybe(st.booleans())),
        "original_donor": None
        if prior_hct is False
        else draw(_maybe(st.sampled_from(_ORIGINAL_DONORS))),
    }


@st.composite
def _profile_dict(
    draw: st.DrawFn,
    ages: st.SearchStrategy[Any],
    ph: st.SearchStrategy[str] | None,
    prior_hct: st.SearchStrategy[bool | None] | None,
) -> dict[str, Any]:
    return {
        "id": draw(
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
        ),
        "age": draw(ages),
        "ecog": draw(_maybe(st.integers(min_value=0, max_value=4))),
        "disease": draw(_disease(ph)),
        "transplant": draw(_transplant(prior_hct)),
        "prior_therapy": {
            "blinatumomab": draw(_maybe(st.sampled_from(["consolidation", *_RESPONSE]))),
            "car_t": draw(_maybe(st.sampled_from(_RESPONSE))),
            "ponatinib": draw(_maybe(st.sampled_from(_RESPONSE))),
            "inotuzumab": draw(_maybe(st.sampled_from(_RESPONSE))),
        },
        "access": {"car_t": draw(_maybe(st.sampled_from(["approved", "trial", "unavailable"])))},
        "immune": {"t_cell_depleted": draw(_maybe(st.booleans()))},
        "contraindications": draw(
            _maybe(st.lists(st.sampled_from(_CONTRAINDICATIONS), max_size=3, unique=True))
        ),
    }


def profile_dicts() -> st.SearchStrategy[dict[str, Any]]:
    """Valid v1 profiles as plain dicts, across the whole space, unknowns included."""
    return _profile_dict(_maybe(_ages()), None, None)


def profiles() -> st.SearchStrategy[PatientProfile]:
    """Valid ``PatientProfile`` objects across the whole space."""
    return profile_dicts().map(PatientProfile.model_validate)


def older_adults() -> st.SearchStrategy[PatientProfile]:
    """Valid profiles of adults over 60 (61 to 100)."""
    return _profile_dict(_ages(61, 100), None, None).map(PatientProfile.model_validate)


def post_transplant_relapses() -> st.SearchStrategy[PatientProfile]:
    """Valid profiles relapsing after an allogeneic transplant."""
    return _profile_dict(_maybe(_ages()), None, st.just(True)).map(PatientProfile.model_validate)


def ph_positive() -> st.SearchStrategy[PatientProfile]:
    """Valid profiles with Ph-positive disease (ABL1 results drawn, T315I included)."""
    return _profile_dict(_maybe(_ages()), st.just("positive"), None).map(
        PatientProfile.model_validate
    )
