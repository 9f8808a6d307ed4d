"""FHIR R4 in: every code in the mapping maps, unknown stays unknown and is reported,
contradictions and invalid resources are errors with their paths, and the five
published patients as FHIR Bundles give the profile and the choice of their JSON."""

from __future__ import annotations

import datetime
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import PATIENTS_DIR, REPO, patient

import sequencer
from sequencer import FhirError, SequencerError, parse_profile, recommend
from sequencer.interop.codes import CODES_FILE, code_table
from sequencer.interop.fhir_in import profile_from_fhir, therapy_ordered
from sequencer.interop.questionnaire import (
    ANSWER_SYSTEM,
    QUESTIONNAIRE_FILE,
    QUESTIONNAIRE_URL,
    asked_fields,
    questionnaire,
)
from sequencer.model.fields import FIELDS

AS_OF = datetime.date(2020, 3, 1)
FHIR_DIR = REPO / "examples" / "fhir"
TABLE = code_table()
PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-06-15"}
SUBJECT = {"reference": "Patient/p1"}


def bundle(*resources: dict[str, Any], kind: str = "collection") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{"resource": r} for r in (PATIENT, *resources)],
    }


def coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": TABLE.uri(system), "code": code}]}


def observation(oid: str, system: str, code: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": coding(system, code),
        "subject": SUBJECT,
        **value,
    }


def response(items: list[dict[str, Any]], rid: str = "qr", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "questionnaire": QUESTIONNAIRE_URL,
        "status": "completed",
        "subject": SUBJECT,
        "item": items,
        **extra,
    }


def answer(field: str, code: str) -> dict[str, Any]:
    return {"linkId": field, "answer": [{"valueCoding": {"system": ANSWER_SYSTEM, "code": code}}]}


def mapped(*resources: dict[str, Any]) -> Any:
    return profile_from_fhir(bundle(*resources), as_of=AS_OF)


# -- every code in the table ------------------------------------------------------------


def test_the_patient_birth_date_gives_the_age_on_the_as_of_day() -> None:
    assert profile_from_fhir(PATIENT, as_of=datetime.date(2020, 6, 14)).profile["age"] == 59
    assert profile_from_fhir(PATIENT, as_of=datetime.date(2020, 6, 15)).profile["age"] == 60


def test_a_birth_year_alone_gives_no_age_and_says_why() -> None:
    result = profile_from_fhir({**PATIENT, "birthDate": "1960"}, as_of=AS_OF)
    assert "age" in result.not_found
    assert [u.source for u in result.unused] == ["Patient/p1"]


@pytest.mark.parametrize("value", [0, 1, 2, 3, 4])
def test_the_ecog_observation_maps_its_integer(value: int) -> None:
    (rule,) = [o for o in TABLE.observations if o.field == "ecog"]
    result = mapped(observation("e", rule.code.system, rule.code.code, valueInteger=value))
    assert result.profile["ecog"] == value
    (fact,) = [f for f in result.found if f.field == "ecog"]
    assert (fact.source, fact.system, fact.code) == ("Observation/e", "http://loinc.org", "89247-1")


@pytest.mark.parametrize(
    ("system", "code", "value"),
    [(a.system, a.code, a.value) for o in TABLE.observations for a in o.answers],
)
def test_every_coded_observation_answer_maps(system: str, code: str, value: str) -> None:
    (rule,) = [o for o in TABLE.observations if o.answers]
    obs = observation(
        "o", rule.code.system, rule.code.code, valueCodeableConcept=coding(system, code)
    )
    result = mapped(obs)
    section, leaf = rule.field.split(".")
    assert result.profile[section][leaf] == value


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ((c.system, c.code), s)
        for m in TABLE.conditions
        for c in m.codes
        for s in m.clinical_status.values
    ],
)
def test_every_condition_code_maps_by_its_clinical_status(
    code: tuple[str, str], status: str
) -> None:
    (rule,) = TABLE.conditions
    condition = {
        "resourceType": "Condition",
        "id": "g",
        "code": coding(*code),
        "clinicalStatus": coding("condition-clinical", status),
        "subject": SUBJECT,
    }
    result = mapped(condition)
    assert result.profile["transplant"]["gvhd"] == rule.clinical_status.values[status]


@pytest.mark.parametrize(
    ("field", "use", "code"),
    [(m.field, m.use, c.code) for m in TABLE.medications for c in m.all_codes()],
)
def test_every_medication_code_is_read(field: str, use: str, code: str) -> None:
    kind, status = (
        ("MedicationRequest", "active")
        if use == "current"
        else ("MedicationAdministration", "completed")
    )
    med = {
        "resourceType": kind,
        "id": "m",
        "status": status,
        "medicationCodeableConcept": coding("rxnorm", code),
        "subject": SUBJECT,
    }
    if kind == "MedicationRequest":
        med["intent"] = "order"
    else:
        med["effectiveDateTime"] = "2019-06-01"
    result = mapped(med)
    if use == "current":
        section, leaf = field.split(".")
        assert result.profile[section][leaf] is True
    else:
        assert [(g.field, g.source) for g in result.given] == [(field, f"{kind}/m")]
        assert field in result.not_found  # the response is not in FHIR: still unknown


def sample(field: str) -> tuple[dict[str, Any], Any]:
    spec = FIELDS[field]
    if spec.kind == "number":
        return {"valueDecimal": 3}, 3
    if spec.kind == "boolean":
        return {"valueCoding": {"system": ANSWER_SYSTEM, "code": "true"}}, True
    if spec.kind == "enum":
        value = spec.values[0]
        return {"valueCoding": {"system": ANSWER_SYSTEM, "code": value}}, value
    if spec.values:
        return {"valueCoding": {"system": ANSWER_SYSTEM, "code": spec.values[0]}}, [spec.values[0]]
    return {"valueString": "T315I"}, ["T315I"]


@pytest.mark.parametrize("field", asked_fields())
def test_every_questionnaire_item_fills_its_field(field: str) -> None:
    given, expected = sample(field)
    items = [{"linkId": field, "answer": [given]}]
    if field == "disease.abl1_mutations":
        items.append(answer("disease.ph", "positive"))  # not asked: see below
        items.pop()
    result = mapped(response(items))
    section, _, leaf = field.rpartition(".")
    assert (result.profile[section][leaf] if section else result.profile[leaf]) == expected
    (fact,) = [f for f in result.found if f.field == field]
    assert (fact.system, fact.code) == (QUESTIONNAIRE_URL, field)


# -- unknown stays unknown ----------------------------------------------------------------


def test_nothing_mapped_stays_unknown_and_is_listed_not_found() -> None:
    result = mapped()
    assert result.profile == {"id": "p1", "age": 59}
    assert set(result.not_found) == set(FIELDS) - {"age"}
    assert parse_profile(result.profile).disease.cd19 == "unknown"


def test_an_answer_unknown_leaves_the_field_unknown() -> None:
    result = mapped(response([answer("disease.cd19", "unknown"), answer("disease.cns", "CNS2")]))
    assert "cd19" not in result.profile["disease"]
    assert "disease.cd19" in result.not_found
    assert result.profile["disease"]["cns"] == "CNS2"


def test_a_list_answered_none_found_is_an_empty_list_not_unknown() -> None:
    result = mapped(response([answer("contraindications", "none-found")]))
    assert result.profile["contraindications"] == []


def test_an_observation_that_is_not_final_is_unused_not_guessed() -> None:
    (rule,) = [o for o in TABLE.observations if o.field == "ecog"]
    obs = observation("e", rule.code.system, rule.code.code, valueInteger=1)
    result = mapped({**obs, "status": "preliminary"})
    assert "ecog" in result.not_found
    assert [u.source for u in result.unused] == ["Observation/e"]


def test_a_resource_about_another_patient_is_unused() -> None:
    (rule,) = [o for o in TABLE.observations if o.field == "ecog"]
    obs = observation("e", rule.code.system, rule.code.code, valueInteger=1)
    result = mapped({**obs, "subject": {"reference": "Patient/someone-else"}})
    assert "ecog" in result.not_found
    assert "another patient" in result.unused[0].reason


def test_a_draft_order_is_not_a_record_of_treatment() -> None:
    draft = {
        "resourceType": "MedicationRequest",
        "id": "d",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": coding("rxnorm", "1597262"),
        "subject": SUBJECT,
    }
    result = mapped(draft)
    assert result.given == ()
    assert "draft order" in result.unused[0].reason


def test_a_recorded_administration_beside_the_answered_response_is_listed_given() -> None:
    given = {
        "resourceType": "MedicationAdministration",
        "id": "pona",
        "status": "completed",
        "effectiveDateTime": "2019-06-01",
        "medicationCodeableConcept": coding("rxnorm", "1364352"),
        "subject": SUBJECT,
    }
    result = mapped(given, response([answer("prior_therapy.ponatinib", "refractory")]))
    assert result.profile["prior_therapy"]["ponatinib"] == "refractory"
    assert [(g.field, g.source) for g in result.given] == [
        ("prior_therapy.ponatinib", "MedicationAdministration/pona")
    ]


# -- contradictions -------------------------------------------------------------------------


def ecog(oid: str, value: int, day: str | None) -> dict[str, Any]:
    extra = {"effectiveDateTime": day} if day else {}
    return observation(oid, "loinc", "89247-1", valueInteger=value, **extra)


def test_two_observations_disagreeing_on_one_day_are_an_error_naming_both() -> None:
    with pytest.raises(FhirError) as caught:
        mapped(ecog("a", 1, "2020-02-01"), ecog("b", 3, "2020-02-01"))
    (problem,) = caught.value.problems
    assert problem.field == "ecog"
    assert "Observation/a" in problem.message and "Observation/b" in problem.message


def test_undated_disagreeing_observations_are_an_error() -> None:
    with pytest.raises(FhirError, match="ecog"):
        mapped(ecog("a", 1, None), ecog("b", 3, "2020-02-01"))


def test_the_newest_of_dated_observations_is_the_current_value() -> None:
    result = mapped(ecog("old", 1, "2019-01-01"), ecog("new", 3, "2020-02-01"))
    assert result.profile["ecog"] == 3
    (superseded,) = result.unused
    assert superseded.source == "Observation/old" and "Observation/new" in superseded.reason


def test_an_answer_not_given_beside_a_recorded_administration_is_an_error() -> None:
    given = {
        "resourceType": "MedicationAdministration",
        "id": "blin",
        "status": "completed",
        "effectiveDateTime": "2019-06-01",
        "medicationCodeableConcept": coding("rxnorm", "1597262"),
        "subject": SUBJECT,
    }
    with pytest.raises(FhirError) as caught:
        mapped(given, response([answer("prior_therapy.blinatumomab", "none")]))
    assert caught.value.problems[0].field == "prior_therapy.blinatumomab"
    assert "MedicationAdministration/blin" in caught.value.problems[0].message


def test_a_condition_and_an_answer_disagreeing_are_an_error_whatever_their_dates() -> None:
    gvhd = {
        "resourceType": "Condition",
        "id": "g",
        "code": coding("snomed", "234646005"),
        "clinicalStatus": coding("condition-clinical", "active"),
        "recordedDate": "2019-01-01",
        "subject": SUBJECT,
    }
    late = response([answer("transplant.gvhd", "none")], authored="2020-02-01")
    with pytest.raises(FhirError, match=r"transplant\.gvhd.*Condition/g"):
        mapped(gvhd, late)


def test_two_patients_are_an_error() -> None:
    with pytest.raises(FhirError, match="more than one patient"):
        profile_from_fhir([PATIENT, {**PATIENT, "id": "p2"}], as_of=AS_OF)


def test_no_patient_and_no_id_is_an_error_and_an_id_can_be_given() -> None:
    obs = ecog("e", 1, None)
    with pytest.raises(FhirError, match="no Patient"):
        profile_from_fhir(obs, as_of=AS_OF)
    assert profile_from_fhir(obs, as_of=AS_OF, patient_id="p1").profile == {"id": "p1", "ecog": 1}


# -- invalid input ---------------------------------------------------------------------------


def test_an_invalid_resource_is_an_error_with_its_path() -> None:
    bad = ecog("e", 1, None)
    bad["code"] = {"coding": [{"system": "http://loinc.org", "code": 5}]}
    with pytest.raises(FhirError) as caught:
        mapped(bad)
    assert [p.field for p in caught.value.problems] == ["entry[1].resource.code.coding[0].code"]


def test_every_invalid_resource_is_reported_at_once() -> None:
    with pytest.raises(FhirError) as caught:
        mapped({"resourceType": "Nonsense"}, {"resourceType": "Observation", "bogus": 1})
    fields = [p.field for p in caught.value.problems]
    assert "entry[1].resource.resourceType" in fields
    assert any(f.startswith("entry[2].resource") for f in fields)


def test_an_answer_that_is_no_value_of_its_field_is_an_error_with_its_path() -> None:
    with pytest.raises(FhirError) as caught:
        mapped(response([answer("disease.cns", "CNS9"), answer("no.such", "x")]))
    fields = sorted(p.field for p in caught.value.problems)
    assert fields == ["entry[1].resource.item[0].answer[0]", "entry[1].resource.item[1].linkId"]


def test_a_mapped_profile_the_library_rejects_is_an_error_naming_the_source() -> None:
    young = {**PATIENT, "birthDate": "2010-01-01"}
    with pytest.raises(FhirError, match=r"age.*Patient/p1"):
        profile_from_fhir(young, as_of=AS_OF)


def test_fhir_error_is_a_sequencer_error_and_public() -> None:
    assert issubclass(FhirError, SequencerError) and issubclass(FhirError, ValueError)
    assert "FhirError" in sequencer.__all__


# -- shapes of input ----------------------------------------------------------------------


def test_a_cds_hooks_prefetch_of_a_patient_and_searchset_bundles_is_read() -> None:
    searchset = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": ecog("e", 2, None)}],
    }
    answers = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": response([answer("disease.cd19", "dim")])}],
    }
    result = profile_from_fhir([PATIENT, searchset, answers], as_of=AS_OF)
    assert result.profile["ecog"] == 2 and result.profile["disease"]["cd19"] == "dim"


def test_a_medication_by_reference_is_read() -> None:
    drug = {"resourceType": "Medication", "id": "cyc", "code": coding("rxnorm", "202817")}
    request = {
        "resourceType": "MedicationRequest",
        "id": "r",
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": "Medication/cyc"},
        "subject": SUBJECT,
    }
    result = mapped(drug, request)
    assert result.profile["transplant"]["on_immunosuppression"] is True
    assert result.unused == ()


# -- therapy_ordered -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "option"),
    [(c.code, m.option) for m in TABLE.medications for c in m.codes],
)
def test_therapy_ordered_names_the_option_a_draft_order_orders(
    code: str, option: str | None
) -> None:
    order = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": coding("rxnorm", code),
    }
    assert therapy_ordered(order) == option


def test_therapy_ordered_reads_service_requests_and_ignores_the_rest() -> None:
    service = {"resourceType": "ServiceRequest", "code": coding("rxnorm", "2700168")}
    assert therapy_ordered(service) == "car_t"
    assert therapy_ordered({"resourceType": "ServiceRequest", "code": {"text": "CAR T"}}) is None
    assert therapy_ordered(ecog("e", 1, None)) is None


def test_option_ids_in_the_code_table_are_rule_base_options(rulebook: Any) -> None:
    options = {m.option for m in TABLE.medications} - {None}
    assert options == set(rulebook.option_ids)


# -- the five published patients ----------------------------------------------------------


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("make_bundles", FHIR_DIR / "make_bundles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_each_published_patient_bundle_maps_to_its_json_profile(number: int) -> None:
    data = json.loads((FHIR_DIR / f"patient-{number}.bundle.json").read_text())
    result = profile_from_fhir(data, as_of=AS_OF)
    reference = patient(number)
    assert parse_profile(result.profile) == parse_profile(reference)
    for context in ("us-2020", None):
        ours, theirs = (
            recommend(result.profile, context=context),
            recommend(reference, context=context),
        )
        assert ours.preferred == theirs.preferred
        assert ours.model_dump(exclude={"patient_id"}) == theirs.model_dump(exclude={"patient_id"})


def test_the_fourth_patient_bundle_reads_as_checked_by_hand() -> None:
    """Patient 4: 36, KMT2A-rearranged, relapsed 3 months after transplant, on
    immunosuppression, blinatumomab responded; Ph status unknown (no BCR::ABL1 result)."""
    data = json.loads((FHIR_DIR / "patient-4.bundle.json").read_text())
    result = profile_from_fhir(data, as_of=AS_OF)
    facts = {(f.field, f.source): f.value for f in result.found}
    assert facts[("age", "Patient/aldoss2020-patient-4")] == 36
    on_is = (
        "transplant.on_immunosuppression",
        "MedicationRequest/aldoss2020-patient-4-immunosuppression",
    )
    assert facts[on_is] is True
    assert (
        facts[("prior_therapy.blinatumomab", "QuestionnaireResponse/aldoss2020-patient-4-facts")]
        == "responded"
    )
    assert (
        facts[("disease.kmt2a_rearranged", "QuestionnaireResponse/aldoss2020-patient-4-facts")]
        is True
    )
    assert "disease.ph" in result.not_found and "disease.cns" in result.not_found
    assert {u.source for u in result.unused} == {
        "Condition/aldoss2020-patient-4-b-all",
        "Procedure/aldoss2020-patient-4-allo-hct",
    }


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_the_bundle_files_are_current(number: int) -> None:
    expected = _generator().rendered(number)
    assert (FHIR_DIR / f"patient-{number}.bundle.json").read_text() == expected, (
        "make fhir-examples"
    )


def test_each_bundle_is_valid_fhir() -> None:
    from fhir.resources.R4B.bundle import Bundle

    for path in sorted(FHIR_DIR.glob("patient-*.bundle.json")):
        Bundle.model_validate_json(path.read_text())
    assert len(list(FHIR_DIR.glob("patient-*.bundle.json"))) == len(
        list(PATIENTS_DIR.glob("*.json"))
    )


# -- the questionnaire and the shipped files ------------------------------------------------


def test_the_shipped_questionnaire_is_current_and_valid(rulebook: Any) -> None:
    from fhir.resources.R4B.questionnaire import Questionnaire

    shipped = json.loads(QUESTIONNAIRE_FILE.read_text())
    assert shipped == questionnaire(rulebook), "make questionnaire"
    Questionnaire.model_validate(shipped)


def test_questionnaire_link_ids_are_the_asked_profile_fields() -> None:
    shipped = json.loads(QUESTIONNAIRE_FILE.read_text())
    links = [i["linkId"] for g in shipped["item"] for i in g.get("item", [g])]
    assert links == asked_fields()
    assert "age" not in links and "disease.cd19" in links and "access.car_t" in links


def test_the_code_table_and_questionnaire_ship_in_the_package() -> None:
    package = Path(sequencer.__file__).resolve().parent
    assert CODES_FILE.parent == package / "interop"
    assert CODES_FILE.is_file() and QUESTIONNAIRE_FILE.is_file()
    assert len(code_table().medications) >= 5


def test_every_code_records_where_it_was_verified() -> None:
    text = CODES_FILE.read_text()
    for rule in [*TABLE.observations, *TABLE.conditions, *TABLE.medications]:
        assert rule.verified.startswith("https://")
    assert all(a.verified.startswith("https://") for o in TABLE.observations for a in o.answers)
    assert "left_out" in text and TABLE.left_out


# -- review findings: how readings combine ---------------------------------------------------


def gvhd_condition(cid: str, code: str, status: str, day: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "code": coding("snomed", code),
        "clinicalStatus": coding("condition-clinical", status),
        "recordedDate": day,
        "subject": SUBJECT,
        **extra,
    }


def ph(oid: str, answer_code: str, day: str) -> dict[str, Any]:
    return observation(
        oid, "loinc", "21821-4", valueCodeableConcept=coding("snomed", answer_code),
        effectiveDateTime=day,
    )  # fmt: skip


def test_a_newer_answer_unknown_supersedes_an_older_answer() -> None:
    old = response([answer("disease.cd19", "positive")], rid="old", authored="2020-01-01")
    new = response([answer("disease.cd19", "unknown")], rid="new", authored="2020-02-01")
    result = mapped(old, new)
    assert "cd19" not in result.profile.get("disease", {})
    assert "disease.cd19" in result.not_found
    assert not [f for f in result.found if f.field == "disease.cd19"]
    reasons = {u.source: u.reason for u in result.unused}
    assert "superseded by QuestionnaireResponse/new" in reasons["QuestionnaireResponse/old"]
    assert parse_profile(result.profile).disease.cd19 == "unknown"


def test_an_older_answer_unknown_is_superseded_by_a_newer_value() -> None:
    old = response([answer("disease.cd19", "unknown")], rid="old", authored="2020-01-01")
    new = response([answer("disease.cd19", "dim")], rid="new", authored="2020-02-01")
    assert mapped(old, new).profile["disease"]["cd19"] == "dim"


def test_undated_answers_unknown_and_known_are_a_contradiction() -> None:
    one = response([answer("disease.cd19", "positive")], rid="a")
    other = response([answer("disease.cd19", "unknown")], rid="b")
    with pytest.raises(FhirError) as caught:
        mapped(one, other)
    (problem,) = caught.value.problems
    assert problem.code == "contradiction" and "says unknown" in problem.message


def test_an_answer_unknown_does_not_contradict_a_value_from_another_resource_type() -> None:
    condition = gvhd_condition("g", "234646005", "active", "2020-01-01")
    late = response([answer("transplant.gvhd", "unknown")], authored="2020-02-01")
    result = mapped(condition, late)
    assert result.profile["transplant"]["gvhd"] == "active"
    assert any("answered unknown" in u.reason for u in result.unused)


def test_any_active_gvhd_condition_makes_gvhd_active_whatever_is_newer() -> None:
    acute = gvhd_condition("acute", "402355000", "active", "2020-01-10")
    chronic = gvhd_condition("chronic", "402356004", "resolved", "2020-02-10")
    result = mapped(acute, chronic)
    assert result.profile["transplant"]["gvhd"] == "active"
    (unused,) = result.unused
    assert unused.source == "Condition/chronic" and "Condition/acute is active" in unused.reason


def test_gvhd_conditions_all_resolved_give_resolved() -> None:
    one = gvhd_condition("a", "402355000", "resolved", "2020-01-10")
    two = gvhd_condition("b", "402356004", "inactive", "2020-02-10")
    assert mapped(one, two).profile["transplant"]["gvhd"] == "resolved"


def test_a_later_negative_bcr_abl1_does_not_make_the_disease_ph_negative() -> None:
    with pytest.raises(FhirError) as caught:
        mapped(ph("dx", "10828004", "2019-06-01"), ph("on-tki", "260385009", "2020-02-01"))
    (problem,) = caught.value.problems
    assert (problem.field, problem.code) == ("disease.ph", "contradiction")
    assert "Observation/dx" in problem.message and "Observation/on-tki" in problem.message


def test_the_code_table_says_for_each_observation_whether_newest_wins() -> None:
    rules = {o.field: o for o in TABLE.observations}
    assert rules["ecog"].newest_wins is True and rules["disease.ph"].newest_wins is False
    assert all(o.why for o in TABLE.observations)
    assert {c.combine for c in TABLE.conditions} == {"any-active"}


# -- review findings: medication statuses ----------------------------------------------------


def med_request(mid: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": "active",
        "intent": "order",
        "authoredOn": "2020-01-01",
        "medicationCodeableConcept": coding("rxnorm", code),
        "subject": SUBJECT,
        **extra,
    }


def med_administration(mid: str, code: str, status: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": mid,
        "status": status,
        "effectiveDateTime": "2020-01-01",
        "medicationCodeableConcept": coding("rxnorm", code),
        "subject": SUBJECT,
    }


@pytest.mark.parametrize("code", ["1597262", "2387347", "2700168", "1364352"])
def test_a_signed_request_for_a_therapy_does_not_show_it_given(code: str) -> None:
    result = mapped(med_request("m", code))
    assert result.given == ()
    assert "only a MedicationAdministration" in result.unused[0].reason


def test_a_signed_blinatumomab_order_beside_an_answer_not_given_is_no_contradiction() -> None:
    result = mapped(
        med_request("m", "1597262"), response([answer("prior_therapy.blinatumomab", "none")])
    )
    assert result.profile["prior_therapy"]["blinatumomab"] == "none"
    assert result.given == ()


@pytest.mark.parametrize("status", ["completed", "in-progress", "stopped"])
def test_an_administration_completed_in_progress_or_stopped_shows_it_given(status: str) -> None:
    result = mapped(med_administration("a", "1597262", status))
    assert [g.source for g in result.given] == ["MedicationAdministration/a"]


@pytest.mark.parametrize("status", ["on-hold", "not-done", "entered-in-error", "unknown"])
def test_an_administration_in_another_status_does_not_show_it_given(status: str) -> None:
    result = mapped(med_administration("a", "1597262", status))
    assert result.given == () and "not shown given" in result.unused[0].reason


@pytest.mark.parametrize("intent", ["order", "original-order", "instance-order", "filler-order"])
def test_an_active_immunosuppressant_prescription_means_on_immunosuppression(intent: str) -> None:
    result = mapped(med_request("c", "202817", intent=intent))
    assert result.profile["transplant"]["on_immunosuppression"] is True


@pytest.mark.parametrize("intent", ["proposal", "plan", "directive", "option", "reflex-order"])
def test_an_immunosuppressant_request_that_is_no_order_sets_nothing(intent: str) -> None:
    result = mapped(med_request("c", "202817", intent=intent))
    assert "transplant.on_immunosuppression" in result.not_found
    assert f"intent {intent!r}" in result.unused[0].reason


@pytest.mark.parametrize("code", ["202817", "1597262"])
def test_a_do_not_perform_request_sets_nothing(code: str) -> None:
    result = mapped(med_request("c", code, doNotPerform=True))
    assert result.given == () and "transplant" not in result.profile
    assert "doNotPerform" in result.unused[0].reason


@pytest.mark.parametrize("status", ["stopped", "completed", "on-hold", "cancelled"])
def test_an_immunosuppressant_request_no_longer_active_sets_nothing(status: str) -> None:
    result = mapped(med_request("c", "202817", status=status))
    assert "transplant.on_immunosuppression" in result.not_found


# -- review findings: unconfirmed conditions ------------------------------------------------


@pytest.mark.parametrize(
    "status", ["provisional", "differential", "unconfirmed", "refuted", "entered-in-error"]
)
def test_an_unconfirmed_condition_sets_nothing_and_says_why(status: str) -> None:
    verification = {
        "coding": [
            {"system": TABLE.uri("condition-ver-status"), "code": status},
        ]
    }
    extra: dict[str, Any] = {"verificationStatus": verification}
    if status == "entered-in-error":
        extra["clinicalStatus"] = None  # con-3: no clinical status when entered in error
    condition = gvhd_condition("g", "402355000", "active", "2020-01-10", **extra)
    condition = {k: v for k, v in condition.items() if v is not None}
    result = mapped(condition)
    assert "transplant.gvhd" in result.not_found
    (unused,) = result.unused
    assert unused.source == "Condition/g" and f"verification status {status}" in unused.reason


def test_a_confirmed_condition_is_read() -> None:
    verification = {"coding": [{"system": TABLE.uri("condition-ver-status"), "code": "confirmed"}]}
    condition = gvhd_condition("g", "402355000", "active", "2020-01-10")
    result = mapped({**condition, "verificationStatus": verification})
    assert result.profile["transplant"]["gvhd"] == "active"


# -- review findings: whose resource, and when ----------------------------------------------


@pytest.mark.parametrize(
    ("subject", "said"),
    [
        ({"reference": "Group/p1"}, "not a Patient"),
        ({"reference": "https://other.example/fhir/Patient/p1"}, "absolute reference"),
        ({"reference": "urn:uuid:0f3c"}, "absolute reference"),
        ({"reference": "Patient/p10"}, "another patient"),
        ({"display": "p1"}, "no subject"),
        (None, "no subject"),
    ],
)
def test_only_a_relative_reference_to_this_patient_counts(subject: Any, said: str) -> None:
    obs = ecog("e", 1, "2020-01-01")
    obs = {**obs, "subject": subject} if subject is not None else {
        k: v for k, v in obs.items() if k != "subject"
    }  # fmt: skip
    result = mapped(obs)
    assert "ecog" in result.not_found
    (unused,) = result.unused
    assert unused.source == "Observation/e" and said in unused.reason


@pytest.mark.parametrize(
    ("resource", "element"),
    [
        (ecog("e", 1, "2020-03-02"), "effectiveDateTime"),
        ({**ecog("e", 1, None), "issued": "2021-01-01T00:00:00Z"}, "issued"),
        (response([answer("disease.cd19", "negative")], authored="2020-06-01"), "authored"),
        (gvhd_condition("g", "402355000", "active", "2020-04-01"), "recordedDate"),
        ({**med_request("c", "202817"), "authoredOn": "2020-05-01"}, "authoredOn"),
        ({**med_administration("a", "1597262", "completed"), "effectiveDateTime": "2021"},
         "effectiveDateTime"),
    ],
)  # fmt: skip
def test_a_resource_dated_after_the_as_of_date_is_not_used(
    resource: dict[str, Any], element: str
) -> None:
    result = mapped(resource)
    assert result.profile == {"id": "p1", "age": 59} and result.given == ()
    (unused,) = result.unused
    assert "after the as-of date 2020-03-01" in unused.reason and element in unused.reason


def test_a_resource_dated_on_the_as_of_date_is_used() -> None:
    assert mapped(ecog("e", 2, "2020-03-01T23:00:00-05:00")).profile["ecog"] == 2


# -- review findings: problem codes and paths -----------------------------------------------


def test_invalid_resources_get_the_code_of_their_problem() -> None:
    wrong = ecog("w", 1, None)
    wrong["status"] = 5
    missing = {k: v for k, v in ecog("m", 1, None).items() if k != "code"}
    unknown = {**ecog("u", 1, None), "bogus": 1}
    with pytest.raises(FhirError) as caught:
        mapped(wrong, missing, unknown)
    codes = {p.field: p.code for p in caught.value.problems}
    assert codes["entry[1].resource.status"] == "wrong_type"
    assert codes["entry[2].resource.code"] == "missing_field"
    assert codes["entry[3].resource.bogus"] == "unknown_field"


def test_named_inputs_give_problem_paths_by_name() -> None:
    bad = {**ecog("e", 1, None), "status": 5}
    prefetch = {
        "patient": PATIENT,
        "observations": {"resourceType": "Bundle", "type": "searchset",
                         "entry": [{"resource": bad}]},
        "procedures": None,
    }  # fmt: skip
    with pytest.raises(FhirError) as caught:
        profile_from_fhir(prefetch, as_of=AS_OF)
    assert [p.field for p in caught.value.problems] == ["observations.entry[0].resource.status"]
    with pytest.raises(FhirError) as caught:
        profile_from_fhir({"prefetch": prefetch}, as_of=AS_OF)
    assert [p.field for p in caught.value.problems] == [
        "prefetch.observations.entry[0].resource.status"
    ]


def test_named_inputs_are_read_like_a_list_of_them() -> None:
    searchset = {"resourceType": "Bundle", "type": "searchset",
                 "entry": [{"resource": ecog("e", 2, None)}]}  # fmt: skip
    named = profile_from_fhir({"patient": PATIENT, "observations": searchset}, as_of=AS_OF)
    listed = profile_from_fhir([PATIENT, searchset], as_of=AS_OF)
    assert named == listed and named.profile["ecog"] == 2


def test_the_existing_call_forms_still_work() -> None:
    assert profile_from_fhir(PATIENT, as_of=AS_OF).profile["age"] == 59
    assert profile_from_fhir(bundle(), as_of=AS_OF).profile["age"] == 59
    assert profile_from_fhir((PATIENT,), as_of=AS_OF).profile["age"] == 59
    with pytest.raises(FhirError) as caught:
        profile_from_fhir([PATIENT, ecog("e", 1, None), {**ecog("x", 1, None), "status": 5}],
                          as_of=AS_OF)  # fmt: skip
    assert [p.field for p in caught.value.problems] == ["[2].status"]
