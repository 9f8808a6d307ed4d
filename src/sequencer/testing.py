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

Families: ``older_adults`` (past the lowest age from which a rule argues, read from
the rules), ``post_transplant_relapses`` (prior allo-HCT
with timing, GVHD and immunosuppression drawn), ``ph_positive`` (Ph-positive, with
ABL1 mutation results drawn, every one a rule tests included).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError(
        "sequencer.testing needs Hypothesis: pip install 'sequencer[testing]'"
    ) from error

from sequencer.api import default_rulebook
from sequencer.decide.candidates import lower_bounds, tested_items, threshold_values
from sequencer.model.fields import FIELDS, number_ranges
from sequencer.model.profile import MRD_POSITIVE_BELOW_PCT, PatientProfile

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
_NUMBER_EDGES = {
    "disease.mrd_pct": [0.00005, 0.00001, 0.0001, MRD_POSITIVE_BELOW_PCT - 0.01],
}


@cache
def _edges(field: str) -> list[float]:
    """Values worth drawing for a numeric field: either side of each rule threshold."""
    found = threshold_values(default_rulebook(), field)
    return sorted({*found, *_NUMBER_EDGES.get(field, [])})


@cache
def _mutations() -> list[str]:
    """ABL1 mutations worth drawing: every one a rule tests, and one no rule names."""
    return [*tested_items(default_rulebook(), "disease.abl1_mutations"), "X999Y"]


def _values(field: str) -> list[str]:
    """The enumeration (or list) field's allowed values, from the profile's schema."""
    return list(FIELDS[field].values)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The strategy's values, or None (unknown)."""
    return st.one_of(st.none(), strategy)


def _percent(edges: list[float], low: float = 0, high: float = 100) -> st.SearchStrategy[float]:
    inside = [e for e in edges if low <= e <= high]
    return st.one_of(
        st.sampled_from(inside),
        st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False),
    )


def _range(field: str) -> tuple[float, float]:
    """The field's lowest and highest valid value (from the profile's schema)."""
    low, high, _ = number_ranges()[field]
    return low, high


def _ages(low: int | None = None) -> st.SearchStrategy[int]:
    """Valid ages (from ``low`` on), either side of every threshold more often."""
    least, most = (int(v) for v in _range("age"))
    low = least if low is None else low
    inside = [int(a) for a in _edges("age") if low <= a <= most]
    return st.one_of(st.sampled_from(inside), st.integers(min_value=low, max_value=most))


def _older_age() -> int:
    """The lowest age from which a general rule's lower age bound holds."""
    bounds = lower_bounds(default_rulebook(), "age")
    return int(bounds[0]) if bounds else int(_range("age")[0])


def _enum(field: str) -> st.SearchStrategy[Any]:
    """One of the enumeration field's values, or None (unknown)."""
    return _maybe(st.sampled_from(FIELDS[field].values))


@st.composite
def _section(draw: st.DrawFn, section: str) -> dict[str, Any]:
    """Every enumeration field of a profile section, drawn (the section's keys are the
    profile's published field names)."""
    prefix = f"{section}."
    return {
        path.removeprefix(prefix): draw(_enum(path))
        for path, spec in FIELDS.items()
        if path.startswith(prefix) and spec.kind == "enum"
    }


@st.composite
def _disease(draw: st.DrawFn, ph: st.SearchStrategy[str] | None = None) -> dict[str, Any]:
    status = draw(st.sampled_from(["relapsed", "refractory", "mrd_positive", None]))
    if status == "mrd_positive":
        blasts_high = math.nextafter(float(MRD_POSITIVE_BELOW_PCT), 0.0)  # just below
        mrd_edges = [e for e in _edges("disease.mrd_pct") if 0 < e <= blasts_high]
        mrd = draw(
            _maybe(
                st.one_of(
                    st.sampled_from(mrd_edges),
                    st.floats(min_value=1e-7, max_value=blasts_high, allow_nan=False),
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
        abl1 = draw(_maybe(st.lists(st.sampled_from(_mutations()), max_size=3, unique=True)))
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
                    st.floats(*_range("transplant.months_since_hct"), allow_nan=False),
                )
            )
        )
        gvhd = draw(st.sampled_from([None, "none", "resolved", "active"]))
    return {
        "prior_allo_hct": prior_hct,
        "months_since_hct": months,
        "on_immunosuppression": draw(_maybe(st.booleans())),
        "gvhd": gvhd,
        "donor": draw(st.sampled_from(_values("transplant.donor"))),
        "candidate": draw(_maybe(st.booleans())),
        "original_donor": None
        if prior_hct is False
        else draw(_maybe(st.sampled_from(_values("transplant.original_donor")))),
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
        "ecog": draw(_maybe(st.integers(*(int(v) for v in _range("ecog"))))),
        "disease": draw(_disease(ph)),
        "transplant": draw(_transplant(prior_hct)),
        "prior_therapy": draw(_section("prior_therapy")),
        "access": draw(_section("access")),
        "immune": {"t_cell_depleted": draw(_maybe(st.booleans()))},
        "contraindications": draw(
            _maybe(st.lists(st.sampled_from(_values("contraindications")), max_size=3, unique=True))
        ),
    }


def profile_dicts() -> st.SearchStrategy[dict[str, Any]]:
    """Valid v1 profiles as plain dicts, across the whole space, unknowns included."""
    return _profile_dict(_maybe(_ages()), None, None)


def profiles() -> st.SearchStrategy[PatientProfile]:
    """Valid ``PatientProfile`` objects across the whole space."""
    return profile_dicts().map(PatientProfile.model_validate)


def older_adults() -> st.SearchStrategy[PatientProfile]:
    """Valid profiles of adults from the lowest age at which a general rule's lower age
    bound holds (read from the rules) to the oldest valid age."""
    return _profile_dict(_ages(_older_age()), None, None).map(PatientProfile.model_validate)


def post_transplant_relapses() -> st.SearchStrategy[PatientProfile]:
    """Valid profiles relapsing after an allogeneic transplant."""
    return _profile_dict(_maybe(_ages()), None, st.just(True)).map(PatientProfile.model_validate)


def ph_positive() -> st.SearchStrategy[PatientProfile]:
    """Valid profiles with Ph-positive disease (ABL1 results drawn: every mutation a rule tests)."""
    return _profile_dict(_maybe(_ages()), st.just("positive"), None).map(
        PatientProfile.model_validate
    )
