"""The mCODE STU4 IG's own examples (tests/fixtures/mcode, see its README): the IG's
B-cell ALL patient is a child, refused by age; what each of its other resources yields
(nothing, each with the reason), the IG's absent-variant example, and its BCR::ABL1
fusion example read as Ph-positive."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from conftest import REPO

from sequencer import FhirError
from sequencer.interop.codes import code_table
from sequencer.interop.fhir_in import profile_from_fhir
from sequencer.service.cds_discovery import PREFETCH_KEY_OF_TYPE

FIXTURES = REPO / "tests" / "fixtures" / "mcode"
AS_OF = datetime.date(2024, 3, 1)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_the_pediatric_example_patient_is_refused_as_a_child() -> None:
    """The IG's B-ALL patient is three years old: the rule base is for adults, said so."""
    with pytest.raises(FhirError) as refused:
        profile_from_fhir(load("pediatric-b-all.bundle.json"), as_of=AS_OF)
    (problem,) = refused.value.problems
    assert problem.field == "age" and "greater than or equal to 18" in problem.message
    assert "Patient/cancer-patient-brian-l" in problem.message


def test_each_pediatric_example_resource_says_why_it_gives_nothing() -> None:
    """Without the Patient, every resource of the example is listed unused with why."""
    bundle = load("pediatric-b-all.bundle.json")
    resources = [e["resource"] for e in bundle["entry"][1:]]
    result = profile_from_fhir(resources, as_of=AS_OF, patient_id="cancer-patient-brian-l")
    assert result.profile == {"id": "cancer-patient-brian-l"}
    reasons = {u.source: u.reason for u in result.unused}
    (b_all,) = code_table().recognised
    (puncture,) = code_table().recognised_procedures
    assert reasons == {
        "Condition/primary-cancer-condition-brian-l": f"{b_all.what}: {b_all.why}",
        "Observation/lansky-performance-status-brian-l": "no code in the mapping",
        "MedicationRequest/cancer-related-medication-request-cyclophosphamide-brian-l": (
            "no medication code in the mapping"
        ),
        "Observation/gx-genomic-variant-fusion-ETV6-RUNX1-brian-l": (
            "a genomic variant of other genes (HGNC:10471, HGNC:3495)"
        ),
        "Procedure/us-core-procedure-lumbar-puncture-brian-l": f"{puncture.what}: {puncture.why}",
        "Observation/cancer-disease-status-improved-brian-l": "no code in the mapping",
    }


def test_an_absent_genomic_variant_of_other_genes_sets_nothing() -> None:
    """The IG's pertinent-negative variant (NRAS, KIT, BRAF absent) says nothing of Ph."""
    result = profile_from_fhir(
        load("genomic-variant-absent.json"),
        as_of=AS_OF,
        patient_id="gx-cancer-patient-adam-anyperson",
    )
    assert result.profile == {"id": "gx-cancer-patient-adam-anyperson"}
    assert [u.reason for u in result.unused] == [
        "a genomic variant of other genes (HGNC:1097, HGNC:6342, HGNC:7989)"
    ]


def test_the_ig_bcr_abl1_fusion_example_is_ph_positive() -> None:
    """The IG's BCR::ABL1 GenomicVariant (present) fills disease.ph positive."""
    result = profile_from_fhir(
        load("genomic-variant-bcr-abl1.json"),
        as_of=AS_OF,
        patient_id="cancer-patient-john-anyperson",
    )
    assert result.profile["disease"] == {"ph": "positive"}
    (fact,) = result.found
    assert (fact.source, fact.code) == ("Observation/genomic-variant-fusion", "69548-6")


def test_procedures_are_not_asked_for_while_none_fills_a_field() -> None:
    """Every prefetch key is required (absent without a FHIR server: 412), and no
    Procedure code fills a field yet, so the discovery asks for none; HCT and CAR T
    infusion are listed as left out, with why."""
    assert "Procedure" not in PREFETCH_KEY_OF_TYPE
    left_out = " ".join(f"{x.what} {x.why}" for x in code_table().left_out)
    assert "allogeneic haematopoietic cell transplantation" in left_out
    assert "CAR T-cell infusion" in left_out
