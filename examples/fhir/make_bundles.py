"""Write examples/fhir/patient-N.bundle.json: the review's five patients as FHIR R4
collection Bundles, built from examples/patients/patient-N.json.

Each Bundle holds what an EHR would: the Patient (birth date consistent with the
published age on AS_OF), the B-ALL Condition and any allogeneic transplant as coded
text only (no verified code: the mapping reports them unused), an ECOG Observation and a
BCR::ABL1 Observation where the profile knows them, a GVHD Condition, administrations of
earlier therapies and a current immunosuppressant order where the mapping has a verified
code, and a QuestionnaireResponse to sequencer's Questionnaire for every other known
fact. Run ``make fhir-examples`` (or this file) to rewrite them; a test fails when they
are stale, and another maps each file back and compares it with the JSON profile.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

from sequencer.interop.codes import code_table
from sequencer.interop.questionnaire import (
    ANSWER_SYSTEM,
    QUESTIONNAIRE_FILE,
    QUESTIONNAIRE_URL,
    QUESTIONNAIRE_VERSION,
    asked_fields,
)
from sequencer.model.fields import FIELDS, flatten
from sequencer.model.parsing import parse_profile

HERE = Path(__file__).resolve().parent
PATIENTS = HERE.parent / "patients"
# The review's regulatory context (us-2020) is "as of 2020-03"; ages are computed on this day.
AS_OF = datetime.date(2020, 3, 1)


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    table = code_table()
    return {"system": table.uri(system), "code": code, "display": display}


def _day(days_before: int) -> str:
    return (AS_OF - datetime.timedelta(days=days_before)).isoformat()


def _answer(field: str, value: Any) -> list[dict[str, Any]]:
    spec = FIELDS[field]
    if spec.kind == "number":
        return [{"valueDecimal": value}]
    if spec.kind == "boolean":
        return [{"valueCoding": {"system": ANSWER_SYSTEM, "code": str(value).lower()}}]
    if spec.kind == "list":
        if not value:
            return [{"valueCoding": {"system": ANSWER_SYSTEM, "code": "none-found"}}]
        if spec.values:
            return [{"valueCoding": {"system": ANSWER_SYSTEM, "code": v}} for v in value]
        return [{"valueString": v} for v in value]
    return [{"valueCoding": {"system": ANSWER_SYSTEM, "code": value}}]


def bundle(profile_data: dict[str, Any], as_of: datetime.date = AS_OF) -> dict[str, Any]:
    """Return the collection Bundle for one v1 profile (a dict)."""
    table = code_table()
    profile = parse_profile(profile_data)
    facts = flatten(profile)
    pid = profile.id
    subject = {"reference": f"Patient/{pid}"}
    born = datetime.date(as_of.year - (profile.age or 40), as_of.month, as_of.day)
    born -= datetime.timedelta(days=100)
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": pid, "birthDate": born.isoformat()},
        {
            "resourceType": "Condition",
            "id": f"{pid}-b-all",
            "clinicalStatus": {"coding": [_coding("condition-clinical", "active", "Active")]},
            "code": {"text": "B-cell acute lymphoblastic leukemia"},
            "subject": subject,
        },
    ]
    obs = {o.field: o for o in table.observations}
    if facts["ecog"] is not None:
        rule = obs["ecog"]
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"{pid}-ecog",
                "meta": {"profile": [rule.mcode]},
                "status": "final",
                "code": {"coding": [_coding(rule.code.system, rule.code.code, rule.code.display)]},
                "subject": subject,
                "effectiveDateTime": _day(7),
                "valueInteger": facts["ecog"],
            }
        )
    if facts["disease.ph"] in ("positive", "negative"):
        rule = obs["disease.ph"]
        answer = next(a for a in rule.answers if a.value == facts["disease.ph"])
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"{pid}-bcr-abl1",
                "status": "final",
                "code": {"coding": [_coding(rule.code.system, rule.code.code, rule.code.display)]},
                "subject": subject,
                "effectiveDateTime": _day(14),
                "valueCodeableConcept": {
                    "coding": [_coding(answer.system, answer.code, answer.display)]
                },
            }
        )
    if facts["transplant.prior_allo_hct"]:
        resources.append(
            {
                "resourceType": "Procedure",
                "id": f"{pid}-allo-hct",
                "status": "completed",
                "code": {"text": "Allogeneic hematopoietic cell transplantation"},
                "subject": subject,
            }
        )
    if facts["transplant.gvhd"] in ("active", "resolved"):
        gvhd = table.conditions[0]
        status = "active" if facts["transplant.gvhd"] == "active" else "resolved"
        resources.append(
            {
                "resourceType": "Condition",
                "id": f"{pid}-gvhd",
                "clinicalStatus": {"coding": [_coding("condition-clinical", status, status)]},
                "code": {"coding": [_coding(c.system, c.code, c.display) for c in gvhd.codes[:1]]},
                "subject": subject,
                "recordedDate": _day(10),
            }
        )
    shown: set[str] = set()
    for med in table.medications:
        value = facts[med.field]
        code = med.codes[0]
        coded = {"coding": [_coding(code.system, code.code, code.display)]}
        if med.use == "given" and value in ("consolidation", "responded", "refractory"):
            if med.field in shown:
                continue  # one administration per therapy
            shown.add(med.field)
            resources.append(
                {
                    "resourceType": "MedicationAdministration",
                    "id": f"{pid}-{med.field}".replace("_", "-").replace(".", "-"),
                    "status": "completed",
                    "medicationCodeableConcept": coded,
                    "subject": subject,
                    "effectiveDateTime": _day(200),
                }
            )
        elif med.use == "current" and value is True:
            resources.append(
                {
                    "resourceType": "MedicationRequest",
                    "id": f"{pid}-immunosuppression",
                    "status": "active",
                    "intent": "order",
                    "medicationCodeableConcept": coded,
                    "subject": subject,
                    "authoredOn": _day(60),
                }
            )
    known = {
        field
        for field in asked_fields()
        if facts[field] is not None and facts[field] != FIELDS[field].unknown_value
    }
    # The response follows the Questionnaire's groups (R4: a response item nests as its
    # questionnaire item does): a section's answers inside its group, in form order.
    items: list[dict[str, Any]] = []
    form = json.loads(QUESTIONNAIRE_FILE.read_text(encoding="utf-8"))
    for entry in form["item"]:
        if entry["type"] == "group":
            inner = [
                {"linkId": c["linkId"], "answer": _answer(c["linkId"], facts[c["linkId"]])}
                for c in entry.get("item", [])
                if c["linkId"] in known
            ]
            if inner:
                items.append({"linkId": entry["linkId"], "item": inner})
        elif entry["linkId"] in known:
            items.append(
                {
                    "linkId": entry["linkId"],
                    "answer": _answer(entry["linkId"], facts[entry["linkId"]]),
                }
            )
    placed = {i["linkId"] for top in items for i in top.get("item", [top])}
    if placed != known:  # a field the form nests deeper than one group
        raise SystemExit(f"not placed in the form's groups: {sorted(known - placed)}")
    resources.append(
        {
            "resourceType": "QuestionnaireResponse",
            "id": f"{pid}-facts",
            "questionnaire": f"{QUESTIONNAIRE_URL}|{QUESTIONNAIRE_VERSION}",
            "status": "completed",
            "subject": subject,
            "authored": _day(1),
            "item": items,
        }
    )
    unique: dict[str, dict[str, Any]] = {}
    for res in resources:
        unique.setdefault(f"{res['resourceType']}/{res['id']}", res)
    return {
        "resourceType": "Bundle",
        "id": f"{pid}-bundle",
        "type": "collection",
        "timestamp": f"{as_of.isoformat()}T00:00:00Z",
        "entry": [
            {"fullUrl": f"urn:sequencer:example:{key}", "resource": res}
            for key, res in unique.items()
        ],
    }


def rendered(number: int) -> str:
    """The text of examples/fhir/patient-N.bundle.json."""
    data = json.loads((PATIENTS / f"patient-{number}.json").read_text(encoding="utf-8"))
    return json.dumps(bundle(data), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    for number in range(1, 6):
        (HERE / f"patient-{number}.bundle.json").write_text(rendered(number), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
