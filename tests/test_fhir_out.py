"""FHIR R4 out (the GuidanceResponse) and the `sequencer fhir` verb."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, patched, patient

from sequencer import recommend
from sequencer.interop.codes import code_table
from sequencer.interop.fhir_in import profile_from_fhir
from sequencer.interop.fhir_out import OPTION_SYSTEM, guidance_response
from sequencer.interop.questionnaire import QUESTIONNAIRE_FILE, QUESTIONNAIRE_URL

FHIR_DIR = REPO / "examples" / "fhir"
WHEN = datetime.datetime(2020, 3, 1, tzinfo=datetime.UTC)


def parsed(resource: dict[str, Any]) -> Any:
    from fhir.resources.R4B.guidanceresponse import GuidanceResponse

    return GuidanceResponse.model_validate(resource)


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_the_guidance_response_is_valid_fhir_and_asks_for_every_missing_fact(number: int) -> None:
    rec = recommend(patient(number), context="us-2020")
    response = guidance_response(rec, as_of=WHEN, request_id="hook-1")
    parsed(response)
    asked = [d["id"] for d in response.get("dataRequirement", [])]
    assert asked == [m.field for m in rec.missing]
    assert (
        response["moduleUri"]
        == f"urn:sequencer:rulebook:{rec.rulebook.name}:{rec.rulebook.version}"
    )
    assert any(rec.rulebook.digest in n["text"] for n in response["note"])
    assert response["note"][0]["text"] == rec.notice
    assert response["requestIdentifier"] == {"value": "hook-1"}
    assert response["occurrenceDateTime"] == WHEN.isoformat()
    assert response["reasonCode"][0]["text"].startswith("Choice between ")
    assert response["text"]["status"] == "generated"


def test_the_narrative_is_escaped_xhtml_of_the_summary() -> None:
    """The GuidanceResponse narrative carries the summary, markup escaped."""
    rec = recommend(patient(1), context="us-2020")
    marked = rec.model_copy(update={"notice": "<script>x</script> & more"})
    div = guidance_response(marked)["text"]["div"]
    assert div.startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    assert "&lt;script&gt;x&lt;/script&gt; &amp; more" in div and "<script>" not in div


def test_the_options_are_a_contained_request_group_in_ranked_order() -> None:
    rec = recommend(patient(1), context="us-2020")
    response = guidance_response(rec)
    assert response["result"] == {"reference": "#options"}
    (group,) = [r for r in response["contained"] if r["resourceType"] == "RequestGroup"]
    codes = [a["code"][0]["coding"][0] for a in group["action"]]
    assert [c["code"] for c in codes] == [o.therapy for o in rec.options]
    assert {c["system"] for c in codes} == {OPTION_SYSTEM}
    assert [a["prefix"] for a in group["action"]] == ["1", "2"]
    first = group["action"][0]
    assert first["title"] == "Blinatumomab" and "preferred" in first["description"]
    cited = {d["label"] for d in first["documentation"]}
    assert "aldoss2020" in cited


def test_status_follows_what_the_missing_facts_can_do() -> None:
    # patient 1 with her conditions assessed (none): nothing unknown could turn the choice
    settled = recommend(patched({"contraindications": []}, patient(1)), context="us-2020")
    assert not settled.provisional and guidance_response(settled)["status"] == "success"
    provisional = recommend(patient(2), context="us-2020")
    assert provisional.provisional
    assert guidance_response(provisional)["status"] == "data-requested"
    blocked = recommend(patched({"disease.cd19": "unknown"}))
    assert any(m.blocking for m in blocked.missing)
    assert guidance_response(blocked)["status"] == "data-required"


def test_a_missing_standard_fact_is_asked_as_its_observation_and_others_as_questions() -> None:
    rec = recommend(patient(1), context="us-2020")
    response = guidance_response(rec)
    by_field = {d["id"]: d for d in response.get("dataRequirement", [])}
    if "ecog" in by_field:
        assert by_field["ecog"]["type"] == "Observation"
        assert by_field["ecog"]["codeFilter"][0]["code"][0]["code"] == "89247-1"
    blocked = guidance_response(recommend(patched({"disease.cd19": "unknown"})))
    (cd19,) = [d for d in blocked["dataRequirement"] if d["id"] == "disease.cd19"]
    assert cd19["type"] == "QuestionnaireResponse"
    assert cd19["mustSupport"] == ["questionnaire", "item.item.linkId", "item.item.answer"]
    assert "codeFilter" not in cd19
    assert any(QUESTIONNAIRE_URL in n["text"] and "linkId" in n["text"] for n in blocked["note"])


def test_the_same_recommendation_gives_the_same_resource() -> None:
    rec = recommend(patient(3), context="us-2020")
    assert guidance_response(rec) == guidance_response(rec)
    other = recommend(patient(4), context="us-2020")
    assert guidance_response(rec)["id"] != guidance_response(other)["id"]


def _actions(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for action in actions:
        out.append(action)
        out += _actions(action.get("action", []))
    return out


def _responses() -> list[dict[str, Any]]:
    recs = [recommend(patient(n), context="us-2020") for n in range(1, 6)]
    recs += [recommend(patched({"disease.cd19": "negative"}))]  # alternatives, no option
    recs += [recommend(patched({"disease.cd19": "unknown"}))]
    assert any(r.alternatives for r in recs) and any(r.missing for r in recs)
    return [guidance_response(r) for r in recs]


def test_every_request_group_action_has_a_resource_or_sub_actions_not_both() -> None:
    for response in _responses():
        parsed(response)
        contained = {r["id"]: r for r in response["contained"]}
        (group,) = [r for r in response["contained"] if r["resourceType"] == "RequestGroup"]
        actions = _actions(group.get("action", []))
        assert actions
        for action in actions:  # rqg-1: resource.exists() != action.exists()
            assert ("resource" in action) != ("action" in action), action.get("title")
            if "resource" in action:
                target = action["resource"]["reference"]
                assert target.startswith("#") and target[1:] in contained
        for resource in response["contained"]:  # dom-2 and dom-3
            assert "contained" not in resource
            assert f'"#{resource["id"]}"' in json.dumps(response)


def test_an_option_action_points_at_a_draft_medication_request_with_the_verified_code() -> None:
    response = guidance_response(recommend(patient(1), context="us-2020"))
    contained = {r["id"]: r for r in response["contained"]}
    (group,) = [r for r in response["contained"] if r["resourceType"] == "RequestGroup"]
    requests = [contained[a["resource"]["reference"][1:]] for a in group["action"]]
    assert [r["resourceType"] for r in requests] == ["MedicationRequest", "MedicationRequest"]
    assert {(r["status"], r["intent"]) for r in requests} == {("draft", "option")}
    blin, car_t = requests
    assert blin["medicationCodeableConcept"]["text"] == "Blinatumomab"
    table = code_table()
    (product,) = [m for m in table.medications if m.option == "blinatumomab"]
    assert blin["medicationCodeableConcept"]["coding"][0]["code"] == product.codes[0].code
    # two CAR T products in the table: no single code is right, so the name alone
    assert "coding" not in car_t["medicationCodeableConcept"]
    assert car_t["medicationCodeableConcept"]["text"]


def test_data_requirements_use_only_simple_paths_and_no_value_set() -> None:
    simple = re.compile(r"^[A-Za-z]+(\[[0-9]+\])?(\.([A-Za-z]+(\[[0-9]+\])?|resolve\(\)))*$")
    for response in _responses():
        for requirement in response.get("dataRequirement", []):
            for path in requirement.get("mustSupport", []):
                assert simple.match(path), path
            for code_filter in requirement.get("codeFilter", []):
                assert "valueSet" not in code_filter
                assert simple.match(code_filter["path"])


# -- the command line ------------------------------------------------------------------------


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "fhir", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_verb_shows_the_profile_what_was_found_and_what_was_not() -> None:
    done = run(str(FHIR_DIR / "patient-4.bundle.json"), "--as-of", "2020-03-01")
    assert done.returncode == 0, done.stderr
    assert '"id": "aldoss2020-patient-4"' in done.stdout
    assert "transplant.on_immunosuppression = true  from MedicationRequest/" in done.stdout
    assert "Not found, unknown" in done.stdout and "  disease.cns" in done.stdout
    assert "Procedure/aldoss2020-patient-4-allo-hct: Procedure: no code in the mapping" in (
        done.stdout
    )


def test_the_verb_json_is_the_mapping() -> None:
    path = FHIR_DIR / "patient-2.bundle.json"
    done = run(str(path), "--as-of", "2020-03-01", "--format", "json")
    assert done.returncode == 0, done.stderr
    expected = profile_from_fhir(json.loads(path.read_text()), as_of=datetime.date(2020, 3, 1))
    assert json.loads(done.stdout) == expected.model_dump(mode="json")


def test_the_verb_prints_the_guidance_response() -> None:
    path = FHIR_DIR / "patient-1.bundle.json"
    done = run(str(path), "--as-of", "2020-03-01", "--guidance", "--context", "us-2020")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    parsed(printed)
    mapping = profile_from_fhir(json.loads(path.read_text()), as_of=datetime.date(2020, 3, 1))
    assert printed == guidance_response(recommend(mapping.profile, context="us-2020"))


def test_the_verb_prints_the_questionnaire_as_shipped() -> None:
    done = run("--questionnaire")
    assert done.returncode == 0
    assert json.loads(done.stdout) == json.loads(QUESTIONNAIRE_FILE.read_text())


@pytest.mark.parametrize(
    ("stdin", "said"),
    [
        ("not json", "invalid JSON"),
        ('{"resourceType": "Observation"}', "code: Field required"),
        ('{"resourceType": "Patient", "id": "p", "birthDate": "2015-01-01"}', "age"),
        ("42", "a FHIR resource, Bundle or list"),
    ],
)
def test_bad_input_exits_2_without_a_traceback(stdin: str, said: str) -> None:
    done = run("-", "--as-of", "2020-03-01", stdin=stdin)
    assert done.returncode == 2
    assert said in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_missing_file_exits_2() -> None:
    done = run("/nonexistent/bundle.json")
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_hostile_strings_from_a_resource_do_not_reach_the_terminal_raw(tmp_path: Path) -> None:
    hostile = "evil\x1b[31m\x07\nline\u202e"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1960-01-01"}},
            {"resource": {"resourceType": "Procedure", "id": "x", "status": "completed",
                          "subject": {"reference": f"Patient/{hostile}"}}},
        ],
    }  # fmt: skip
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(bundle))
    done = run(str(path), "--as-of", "2020-03-01")
    assert done.returncode == 0, done.stderr
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in done.stdout
    assert "another patient (Patient/evil\\x1b[31m\\x07\\nline\\u202e)" in done.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"resourceType": "Observation", "status": hostile}))
    done = run(str(bad))
    assert done.returncode == 2
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in done.stderr


def test_a_key_given_twice_is_refused_with_its_path(tmp_path: Path) -> None:
    text = (FHIR_DIR / "patient-4.bundle.json").read_text()
    twice = text.replace('"status": "active",', '"status": "active", "status": "stopped",', 1)
    assert twice != text
    path = tmp_path / "twice.json"
    path.write_text(twice)
    done = run(str(path), "--as-of", "2020-03-01")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert re.search(r"entry\[\d+\]\.resource\.status: key given more than once", done.stderr)


def test_load_json_strict_names_every_repeated_key_and_reads_the_rest() -> None:
    from sequencer.errors import ProfileError
    from sequencer.model.parsing import load_json_strict

    with pytest.raises(ProfileError) as caught:
        load_json_strict('{"entry": [{"resource": {"id": "a", "id": "b"}}], "type": 1, "type": 2}')
    found = [(p.field, p.code) for p in caught.value.problems]
    assert found == [("entry[0].resource.id", "duplicate_key"), ("type", "duplicate_key")]
    assert load_json_strict(b'[{"a": 1}, 2]') == [{"a": 1}, 2]
    with pytest.raises(ProfileError, match="invalid JSON"):
        load_json_strict("{")
