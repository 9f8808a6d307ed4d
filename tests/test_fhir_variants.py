"""ABL1 kinase-domain variants from mCODE GenomicVariants: each present variant's HGVS
amino-acid change (LOINC 48005-3) written in one-letter codes (p.Thr315Ile -> T315I) and
gathered into ``disease.abl1_mutations``; what does not parse, or is reported absent,
listed unused with why."""

from __future__ import annotations

from typing import Any

import pytest
from test_fhir import AS_OF, TABLE, bundle, coding, mapped, response

from sequencer import FhirError, recommend
from sequencer.interop.fhir_in import profile_from_fhir

HGVS = "http://varnomen.hgvs.org"
SUBJECT = {"reference": "Patient/p1"}


def variant(vid: str, genes: list[str], change: str | None, present: bool = True) -> dict[str, Any]:
    """An mCODE GenomicVariant as the IG's examples write one (EX_GenomeX.fsh)."""
    parts: list[dict[str, Any]] = [
        {"code": coding("loinc", "48018-6"), "valueCodeableConcept": coding("hgnc", gene)}
        for gene in genes
    ]
    if change is not None:
        parts.append(
            {
                "code": coding("loinc", "48005-3"),
                "valueCodeableConcept": {"coding": [{"system": HGVS, "code": change}]},
            }
        )
    return {
        "resourceType": "Observation",
        "id": vid,
        "status": "final",
        "code": coding("loinc", "69548-6"),
        "subject": SUBJECT,
        "effectiveDateTime": "2019-04-01",
        "valueCodeableConcept": coding("loinc", "LA9633-4" if present else "LA9634-2"),
        "component": parts,
    }


FUSION = variant("fusion", ["HGNC:1014", "HGNC:76"], None)


def reasons(result: Any) -> dict[str, str]:
    return {u.source: u.reason for u in result.unused}


@pytest.mark.parametrize(
    ("change", "letters"),
    [
        ("NP_005148.2:p.(Thr315Ile)", "T315I"),  # the IG's normalised form
        ("p.Thr315Ile", "T315I"),
        ("p.(Glu255Lys)", "E255K"),
        ("NP_001294869.1:p.(Pro144Ser)", "P144S"),  # EX_GenomeX.fsh's own string
        ("p.T315I", "T315I"),  # HGVS allows one-letter codes too
    ],
)
def test_an_abl1_substitution_is_listed_in_one_letter_codes(change: str, letters: str) -> None:
    """A present ABL1 variant's pHGVS change fills the list in the rule base's spelling."""
    result = mapped(FUSION, variant("v1", ["HGNC:76"], change))
    assert result.profile["disease"]["abl1_mutations"] == [letters]
    (fact,) = [f for f in result.found if f.field == "disease.abl1_mutations"]
    assert (fact.system, fact.code, fact.source) == (
        "http://loinc.org",
        "69548-6",
        "Observation/v1",
    )


def test_several_variants_are_gathered_into_one_list_each_once() -> None:
    """Variants in separate Observations make one list, a repeated change named once,
    with every source."""
    result = mapped(
        FUSION,
        variant("a", ["HGNC:76"], "p.(Thr315Ile)"),
        variant("b", ["HGNC:76"], "NP_005148.2:p.(Glu255Lys)"),
        variant("c", ["HGNC:76"], "p.Thr315Ile"),
    )
    assert result.profile["disease"]["abl1_mutations"] == ["E255K", "T315I"]
    (fact,) = [f for f in result.found if f.field == "disease.abl1_mutations"]
    assert fact.source == "Observation/a, Observation/b, Observation/c"


@pytest.mark.parametrize(
    "change",
    [
        "NP_004647.1:p.(Gln590Ter)",  # nonsense (EX_GenomeX.fsh)
        "p.Thr315fs",  # frameshift
        "p.(Thr315=)",  # no change
        "p.Thr315Xaa",  # not a standard amino acid
        "p.(Thr315Ile",  # unbalanced
        "NM_005157.6:c.1076T>G",  # a coding DNA change, not the protein
    ],
)
def test_a_change_that_is_not_one_substitution_is_listed_unused(change: str) -> None:
    """Nothing is guessed: the variant is listed unused, the field stays unknown."""
    result = mapped(FUSION, variant("v1", ["HGNC:76"], change))
    assert "disease.abl1_mutations" in result.not_found
    assert "is not one amino-acid substitution" in reasons(result)["Observation/v1"]


def test_an_absent_abl1_variant_does_not_make_the_list_empty() -> None:
    """A variant reported absent says only that this change was not found."""
    result = mapped(FUSION, variant("v1", ["HGNC:76"], "p.(Thr315Ile)", present=False))
    assert "disease.abl1_mutations" in result.not_found
    assert "not reported present" in reasons(result)["Observation/v1"]


def test_an_abl1_variant_without_an_amino_acid_change_is_listed_unused() -> None:
    """Without a pHGVS component there is nothing to name."""
    result = mapped(FUSION, variant("v1", ["HGNC:76"], None))
    assert "without an HGVS amino-acid change" in reasons(result)["Observation/v1"]


def test_the_same_mutations_answered_in_the_questionnaire_agree() -> None:
    """A questionnaire list naming the same changes, in another order and case, agrees."""
    answered = response(
        [
            {
                "linkId": "disease.abl1_mutations",
                "answer": [{"valueString": "t315i"}, {"valueString": "E255K"}],
            }
        ]
    )
    result = mapped(
        FUSION,
        variant("a", ["HGNC:76"], "p.Thr315Ile"),
        variant("b", ["HGNC:76"], "p.Glu255Lys"),
        answered,
    )
    listed = result.profile["disease"]["abl1_mutations"]
    assert sorted(m.upper() for m in listed) == ["E255K", "T315I"]


def test_other_mutations_answered_in_the_questionnaire_are_a_contradiction() -> None:
    """A list the record and the questionnaire disagree on names both sources."""
    answered = response(
        [{"linkId": "disease.abl1_mutations", "answer": [{"valueString": "E255K"}]}]
    )
    with pytest.raises(FhirError) as error:
        mapped(FUSION, variant("a", ["HGNC:76"], "p.Thr315Ile"), answered)
    (problem,) = error.value.problems
    assert problem.code == "contradiction" and "Observation/a" in problem.message
    assert "QuestionnaireResponse/qr" in problem.message


def test_a_gathered_t315i_reaches_the_rule_base() -> None:
    """The list read from the record is what the rules see: T315I pairs ponatinib."""
    result = profile_from_fhir(
        bundle(FUSION, variant("a", ["HGNC:76"], "NP_005148.2:p.(Thr315Ile)")), as_of=AS_OF
    )
    assert "ph-positive-t315i-ponatinib" in recommend(result.profile).model_dump_json()


def test_the_amino_acid_table_is_verified_and_complete() -> None:
    """The twenty standard amino acids, each to a distinct letter, with their source."""
    assert TABLE.amino_acids is not None and TABLE.amino_acids.verified.startswith("https://")
    assert len(set(TABLE.amino_acids.letters.values())) == 20
