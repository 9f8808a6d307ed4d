"""Codes from the standards: a record coded only with LOINC, RxNorm ingredients,
ICD-10-CM and SNOMED CT descendants is read, through ``profile_from_fhir``, the
``sequencer fhir`` verb and a CDS Hooks call; numbers are read only in their unit; every
code in the table says where it was verified."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from served import call, running_server

from sequencer import FhirError, recommend
from sequencer.api import default_rulebook
from sequencer.interop.codes import code_table
from sequencer.interop.fhir_in import profile_from_fhir
from sequencer.interop.questionnaire import QUESTIONNAIRE_FILE
from sequencer.model.recommendation import Recommendation
from sequencer.service.cds import answer
from sequencer.service.cds_cards import Links
from sequencer.service.cds_discovery import CHOICE, PREFETCH, PREFETCH_KEY_OF_TYPE

AS_OF = datetime.date(2024, 5, 1)
TABLE = code_table()
LOINC, RXNORM = "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM, UCUM = "http://hl7.org/fhir/sid/icd-10-cm", "http://unitsofmeasure.org"
JSON = ("--format", "json")
PATIENT = {"resourceType": "Patient", "id": "std", "birthDate": "1970-02-01"}
SUBJECT = {"reference": "Patient/std"}


def blasts(value: float, unit: dict[str, Any] | None = None, oid: str = "blasts") -> dict[str, Any]:
    quantity = {"value": value, **(unit or {"unit": "%", "system": UCUM, "code": "%"})}
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "11150-0"}]},
        "subject": SUBJECT,
        "effectiveDateTime": "2024-04-20",
        "valueQuantity": quantity,
    }


def given(mid: str, rxcui: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": mid,
        "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui}]},
        "subject": SUBJECT,
        "effectiveDateTime": "2023-11-02",
    }


def standard_record() -> list[dict[str, Any]]:
    """The issue's record: blasts 35 %, blinatumomab and inotuzumab given (ingredient
    codes), an active tacrolimus order (ingredient code), chronic GVHD in ICD-10-CM."""
    return [
        PATIENT,
        blasts(35),
        given("blin", "1597258"),
        given("ino", "1942950"),
        {
            "resourceType": "MedicationRequest",
            "id": "tac",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "42316"}]},
            "subject": SUBJECT,
            "authoredOn": "2024-03-01",
        },
        {
            "resourceType": "Condition",
            "id": "cgvhd",
            "code": {"coding": [{"system": ICD10CM, "code": "D89.811"}]},
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "subject": SUBJECT,
        },
    ]


def check_standard(profile: dict[str, Any], given_fields: set[str]) -> None:
    assert profile["disease"]["marrow_blasts_pct"] == 35
    assert profile["transplant"]["on_immunosuppression"] is True
    assert profile["transplant"]["gvhd"] == "active"
    assert given_fields == {"prior_therapy.blinatumomab", "prior_therapy.inotuzumab"}


def test_a_record_coded_only_with_standard_codes_is_read() -> None:
    """LOINC 11150-0, RxNorm ingredients and ICD-10-CM D89.811 fill their fields."""
    result = profile_from_fhir(standard_record(), as_of=AS_OF)
    check_standard(result.profile, {g.field for g in result.given})
    assert not result.unused


def test_the_fhir_verb_reads_the_standard_coded_record(tmp_path: Path) -> None:
    """``sequencer fhir`` on the same record gives the same facts."""
    path = tmp_path / "record.json"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in standard_record()],
    }
    path.write_text(json.dumps(bundle))
    done = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "fhir", str(path), "--as-of", f"{AS_OF}", *JSON],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    mapping = json.loads(done.stdout)
    check_standard(mapping["profile"], {g["field"] for g in mapping["given"]})


def standard_call() -> dict[str, Any]:
    """A patient-view call prefetching the standard-coded record."""
    prefetch: dict[str, Any] = dict.fromkeys(PREFETCH)
    for resource in standard_record():
        key = PREFETCH_KEY_OF_TYPE[resource["resourceType"]]
        if key == "patient":
            prefetch[key] = resource
            continue
        prefetch[key] = prefetch[key] or {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [],
        }
        prefetch[key]["entry"].append({"resource": resource})
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/board", "patientId": "std"},
        "prefetch": prefetch,
        "extension": {"sequencer.as_of": str(AS_OF)},
    }


def check_record(body: dict[str, Any]) -> None:
    """The answer's ``sequencer.record`` extension says what the record gave."""
    record = body["extension"]["sequencer.record"]
    found = {f["field"]: f["value"] for f in record["found"]}
    assert found["disease.marrow_blasts_pct"] == 35
    assert found["transplant.on_immunosuppression"] is True
    assert found["transplant.gvhd"] == "active"
    assert {g["field"]: g["source"] for g in record["given"]} == {
        "prior_therapy.blinatumomab": "MedicationAdministration/blin",
        "prior_therapy.inotuzumab": "MedicationAdministration/ino",
    }


def test_a_cds_call_reads_the_standard_coded_record() -> None:
    """A patient-view call prefetching the record decides on the same facts, and its
    answer says what the record gave."""
    seen: list[dict[str, Any]] = []

    def deciding(profile: dict[str, Any]) -> Recommendation:
        seen.append(profile)
        return recommend(profile)

    book = default_rulebook()
    done = answer(
        CHOICE,
        standard_call(),
        book,
        deciding,
        lambda _rec: Links(None, "http://127.0.0.1/about"),
        lambda *_: {},
    )
    (profile,) = seen
    given = {g["field"] for g in done.body["extension"]["sequencer.record"]["given"]}
    check_standard(profile, given)
    check_record(done.body)
    assert done.recommendation is not None and done.body["cards"]


def test_the_running_server_reads_the_standard_coded_record() -> None:
    """The same call to ``sequencer serve`` over loopback answers with cards, and its
    ``sequencer.record`` extension shows blasts 35, both therapies given, immunosuppression
    and active GVHD."""
    with running_server() as base:
        status, _headers, raw = call(
            f"{base}/cds-services/{CHOICE}", json.dumps(standard_call()).encode(), "POST"
        )
    assert status == 200, raw
    body = json.loads(raw)
    assert body["cards"]
    check_record(body)


@pytest.mark.parametrize(
    ("unit", "why"),
    [
        ({"unit": "%"}, "unit '%' does not fit"),
        ({"system": UCUM, "code": "10*9/L"}, "unit '10*9/L' does not fit"),
        ({"system": UCUM, "code": "%", "comparator": "<"}, "is a bound, not a number"),
    ],
)
def test_a_blast_count_in_another_unit_is_refused_and_said_why(
    unit: dict[str, Any], why: str
) -> None:
    """Only a UCUM ``%`` quantity is a blast percentage; any other is listed unused."""
    result = profile_from_fhir([PATIENT, blasts(35, unit)], as_of=AS_OF)
    assert "disease.marrow_blasts_pct" in result.not_found
    (unused,) = result.unused
    assert unused.source == "Observation/blasts" and why in unused.reason


def test_the_newest_blast_count_is_the_current_one() -> None:
    """Blast counts are readings of a changing state: the newest dated one stands."""
    older = {**blasts(80, oid="old"), "effectiveDateTime": "2023-01-05"}
    result = profile_from_fhir([PATIENT, older, blasts(35)], as_of=AS_OF)
    assert result.profile["disease"]["marrow_blasts_pct"] == 35
    assert [u.source for u in result.unused] == ["Observation/old"]


@pytest.mark.parametrize(
    ("system", "code"),
    [(c.system, c.code) for m in TABLE.conditions for c in m.codes if c.system != "snomed"]
    + [(c.system, c.code) for m in TABLE.conditions for c in m.codes[3:5]],
)
def test_gvhd_coded_in_icd10cm_or_as_a_snomed_child_is_read(system: str, code: str) -> None:
    """The ICD-10-CM D89.81x codes and SNOMED CT descendants of GVHD fill transplant.gvhd."""
    condition = {
        "resourceType": "Condition",
        "id": "g",
        "code": {"coding": [{"system": TABLE.uri(system), "code": code}]},
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "resolved",
                }
            ]
        },
        "subject": SUBJECT,
    }
    assert profile_from_fhir([PATIENT, condition], as_of=AS_OF).profile["transplant"] == {
        "gvhd": "resolved"
    }


def test_absent_is_a_negative_bcr_abl1_result() -> None:
    """LOINC LA9634-2 Absent on the Ph observation maps to Ph-negative."""
    (rule,) = [o for o in TABLE.observations if o.field == "disease.ph"]
    obs = {
        "resourceType": "Observation",
        "id": "ph",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": rule.code.code}]},
        "subject": SUBJECT,
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9634-2"}]},
    }
    assert profile_from_fhir([PATIENT, obs], as_of=AS_OF).profile["disease"]["ph"] == "negative"


@pytest.mark.parametrize("code", [c.code for r in TABLE.recognised for c in r.codes])
def test_a_b_all_diagnosis_is_recognised_and_said_to_fill_no_field(code: str) -> None:
    """A PrimaryCancerCondition coded B-ALL is recognised, listed unused with the reason."""
    (known,) = [r for r in TABLE.recognised if code in {c.code for c in r.codes}]
    (coded,) = [c for c in known.codes if c.code == code]
    condition = {
        "resourceType": "Condition",
        "id": "dx",
        "code": {"coding": [{"system": TABLE.uri(coded.system), "code": code}]},
        "subject": SUBJECT,
    }
    (unused,) = profile_from_fhir([PATIENT, condition], as_of=AS_OF).unused
    assert unused.reason.startswith(known.what)


def test_every_code_says_where_it_was_verified() -> None:
    """Each code read has a ``verified`` source (its own or its group's), and the one
    code kept without confirmation carries its caveat."""
    groups: list[tuple[str, list[Any]]] = [
        (o.verified, [o.code, *o.answers]) for o in TABLE.observations
    ]
    groups += [(c.verified, c.codes) for c in TABLE.conditions]
    groups += [(m.verified, m.all_codes()) for m in TABLE.medications]
    groups += [(r.verified, r.codes) for r in [*TABLE.recognised, *TABLE.recognised_procedures]]
    groups += [
        (v.verified, [v.code, v.gene_component, v.gene, v.change_component, v.present])
        for v in TABLE.variant_lists
    ]
    groups += [
        (g.verified, [g.code, g.gene_component, *g.genes, *g.answers])
        for g in TABLE.genomic_variants
    ]
    for verified, codes in groups:
        for code in codes:
            assert (code.verified or verified).startswith("https://"), code
    assert [o.code.code for o in TABLE.observations if o.caveat] == ["21821-4"]


def test_rxnorm_displays_are_rxnorm_s_own() -> None:
    """The blinatumomab product codes carry RxNorm's display, not a label of ours."""
    (blin,) = [m for m in TABLE.medications if m.name == "blinatumomab"]
    displays = {c.code: c.display for c in blin.codes}
    assert displays["1597262"] == "blinatumomab 0.035 MG Injection"
    assert displays["1597267"] == "blinatumomab 0.035 MG Injection [Blincyto]"
    assert blin.ingredient is not None and blin.ingredient.code == "1597258"


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_the_example_questionnaire_responses_follow_the_questionnaire_groups(number: int) -> None:
    """R4: response items nest as the Questionnaire's do (answers inside their group)."""
    form = json.loads(QUESTIONNAIRE_FILE.read_text(encoding="utf-8"))
    groups = {g["linkId"]: {c["linkId"] for c in g.get("item", [])} for g in form["item"]}
    path = REPO / "examples" / "fhir" / f"patient-{number}.bundle.json"
    bundle = json.loads(path.read_text(encoding="utf-8"))
    (response,) = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
    ]
    assert response["item"]
    for item in response["item"]:
        assert item["linkId"] in groups
        if groups[item["linkId"]]:  # a group: no answer of its own, its questions inside
            assert "answer" not in item
            assert {i["linkId"] for i in item["item"]} <= groups[item["linkId"]]
        else:
            assert item["answer"] and "item" not in item


def variant(vid: str, answer: str, *genes: str) -> dict[str, Any]:
    gene = {"coding": [{"system": LOINC, "code": "48018-6"}]}
    return {
        "resourceType": "Observation",
        "id": vid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "69548-6"}]},
        "subject": SUBJECT,
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": answer}]},
        "component": [
            {
                "code": gene,
                "valueCodeableConcept": {
                    "coding": [{"system": "http://www.genenames.org", "code": g}]
                },
            }
            for g in genes
        ],
    }


def test_a_bcr_abl1_genomic_variant_gives_the_ph_status() -> None:
    """Present is Ph-positive, absent Ph-negative; ABL1 alone is not the fusion (it is a
    kinase-domain variant, read by its amino-acid change: test_fhir_variants)."""
    present = variant("v", "LA9633-4", "HGNC:1014", "HGNC:76")
    absent = variant("v", "LA9634-2", "HGNC:76", "HGNC:1014")
    for found, ph in ((present, "positive"), (absent, "negative")):
        assert profile_from_fhir([PATIENT, found], as_of=AS_OF).profile["disease"] == {"ph": ph}
    alone = profile_from_fhir([PATIENT, variant("v", "LA9633-4", "HGNC:76")], as_of=AS_OF)
    assert "disease.ph" in alone.not_found
    assert alone.unused[0].reason.startswith("a variant of ABL1 without an HGVS amino-acid")


def test_a_fusion_variant_disagreeing_with_the_transcript_test_is_a_contradiction() -> None:
    """Ph status never supersedes: two sources that disagree are named, not chosen."""
    (rule,) = [o for o in TABLE.observations if o.field == "disease.ph"]
    transcript = {
        "resourceType": "Observation",
        "id": "t",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": rule.code.code}]},
        "subject": SUBJECT,
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9633-4"}]},
    }
    absent = variant("v", "LA9634-2", "HGNC:1014", "HGNC:76")
    with pytest.raises(FhirError) as refused:
        profile_from_fhir([PATIENT, transcript, absent], as_of=AS_OF)
    (problem,) = refused.value.problems
    assert problem.code == "contradiction" and "Observation/v" in problem.message
