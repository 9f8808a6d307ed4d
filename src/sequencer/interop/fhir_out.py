"""FHIR R4 out: a ``Recommendation`` as a GuidanceResponse.

* ``status``: ``data-required`` when a blocking fact is missing (no option is preferred
  until it is known: FHIR's "more data is required to complete the evaluation");
  ``data-requested`` when the choice is provisional (a missing fact could change it:
  "more data may result in a more complete evaluation"); otherwise ``success``.
* ``moduleUri`` names the rule base and its version (``urn:sequencer:rulebook:NAME:VERSION``);
  its digest, the regulatory context and the review state are in ``note`` and in the
  contained ``Parameters`` (``outputParameters``).
* ``dataRequirement``: one per missing fact, in the recommendation's order (those that
  could change the choice first), its ``id`` the profile field: an Observation with its
  code where the code table has one, the Patient's birth date for the age, else a
  QuestionnaireResponse to our Questionnaire, the item whose ``linkId`` is the
  requirement's ``id`` (``mustSupport`` names the answer's element path; a note says so,
  since DataRequirement has no element for a Questionnaire item).
* ``result`` references a contained RequestGroup whose actions are the options in their
  ranked order (``prefix`` 1, 2...), each with its standing, weight of arguments (the
  points of the arguments counted for it, not its expected benefit) and the cited reasons,
  then the alternatives outside the two options. Every action's ``resource`` references
  a contained request (RequestGroup rqg-1: an action has a resource or sub-actions): a
  MedicationRequest (status ``draft``, intent ``option``: "a component or option for a
  RequestGroup") for an option, coded with the verified RxNorm code where
  ``fhir-codes.yaml`` has exactly one product for it and named in ``text`` always; a
  ServiceRequest (same status and intent, ``code.text``) for an alternative.
* ``note``: the decision-support notice, the summary (its points called the weight of
  arguments) and the rule base stamp.
* ``reasonCode``: the choice asked for (``text``: the options by name); ``text``: a
  generated narrative (the summary and the notice, escaped XHTML), so a FHIR viewer that
  shows only narratives shows the answer.

Ids are derived from the recommendation's content, so the same recommendation gives
the same resource.
"""

from __future__ import annotations

import datetime
import hashlib
import html
import re
from typing import Any

from sequencer.interop.codes import code_table
from sequencer.interop.questionnaire import QUESTIONNAIRE_URL
from sequencer.model.recommendation import Citation, Option, Recommendation
from sequencer.present.phrases import PHASE_WORDS, summary_words

__all__ = ["OPTION_SYSTEM", "guidance_response"]

OPTION_SYSTEM = "urn:sequencer:option"


def _status(rec: Recommendation) -> str:
    if any(m.blocking for m in rec.missing):
        return "data-required"
    return "data-requested" if rec.provisional else "success"


def _requirement(field: str) -> dict[str, Any]:
    table = code_table()
    if field == "age":
        return {"id": field, "type": "Patient", "mustSupport": ["birthDate"]}
    for rule in table.observations:
        if rule.field == field and field in table.standard_only:
            coding = {
                "system": table.uri(rule.code.system),
                "code": rule.code.code,
                "display": rule.code.display,
            }
            found: dict[str, Any] = {
                "id": field,
                "type": "Observation",
                "codeFilter": [{"path": "code", "code": [coding]}],
            }
            if rule.mcode:
                found["profile"] = [rule.mcode]
            return found
    # Our Questionnaire nests a sectioned field's item in its section's group.
    item = "item.item" if "." in field else "item"
    return {
        "id": field,
        "type": "QuestionnaireResponse",
        "mustSupport": ["questionnaire", f"{item}.linkId", f"{item}.answer"],
    }


def _fhir_id(text: str) -> str:
    """``text`` as a FHIR id ([A-Za-z0-9-.]{1,64})."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", text)[:64] or "x"


def _option_request(therapy: str, name: str, subject: dict[str, Any]) -> dict[str, Any]:
    """The contained MedicationRequest an option's action points at."""
    table = code_table()
    products = [m for m in table.medications if m.option == therapy]
    concept: dict[str, Any] = {"text": name}
    if len({m.name for m in products}) == 1:
        code = products[0].codes[0]
        concept["coding"] = [
            {"system": table.uri(code.system), "code": code.code, "display": code.display}
        ]
    return {
        "resourceType": "MedicationRequest",
        "id": _fhir_id(f"option-{therapy}"),
        "status": "draft",
        "intent": "option",
        "medicationCodeableConcept": concept,
        "subject": subject,
    }


def _alternative_request(key: str, name: str, subject: dict[str, Any]) -> dict[str, Any]:
    """The contained ServiceRequest an alternative's action points at."""
    return {
        "resourceType": "ServiceRequest",
        "id": _fhir_id(f"alternative-{key}"),
        "status": "draft",
        "intent": "option",
        "code": {"text": name},
        "subject": subject,
    }


def _artifact(citation: Citation) -> dict[str, Any]:
    artifact: dict[str, Any] = {
        "type": "citation",
        "label": citation.key,
        "display": citation.label,
    }
    if citation.doi:
        artifact["url"] = f"https://doi.org/{citation.doi}"
    elif citation.pmid:
        artifact["url"] = f"https://pubmed.ncbi.nlm.nih.gov/{citation.pmid}/"
    return artifact


def _option_action(rec: Recommendation, option: Option, rank: int) -> dict[str, Any]:
    reasons = [r for r in rec.reasons if r.therapy == option.therapy and r.rule in option.reasons]
    lines = [f"{option.status.replace('_', ' ')}; weight of arguments {option.score}."]
    if option.deferred_until:
        lines.append(f"Deferred until {option.deferred_until}.")
    for reason in reasons:
        cited = ", ".join(c.key for c in reason.citations)
        lines.append(
            f"{reason.title} ({reason.strength or reason.effect}): {reason.text} [{cited}]"
        )
    citations: dict[str, Citation] = {}
    for reason in reasons:
        for citation in reason.citations:
            citations.setdefault(citation.key, citation)
    action: dict[str, Any] = {
        "prefix": str(rank),
        "title": option.name,
        "description": "\n".join(lines),
        "code": [{"coding": [{"system": OPTION_SYSTEM, "code": option.therapy}]}],
        "priority": "routine",
    }
    if citations:
        action["documentation"] = [_artifact(c) for c in citations.values()]
    return action


def guidance_response(
    rec: Recommendation,
    *,
    as_of: datetime.datetime | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Return ``rec`` as a FHIR R4 GuidanceResponse (JSON), with the options as a contained
    RequestGroup and every missing fact as a ``dataRequirement``.

    ``as_of`` becomes ``occurrenceDateTime`` (left out when None, so the output depends
    on ``rec`` alone); ``request_id`` the ``requestIdentifier`` (e.g. a CDS Hooks
    hookInstance).
    """
    digest = hashlib.sha256(rec.model_dump_json().encode()).hexdigest()[:16]
    subject = {"reference": f"Patient/{rec.patient_id}"}
    requests: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for i, option in enumerate(rec.options, start=1):
        requests.append(_option_request(option.therapy, option.name, subject))
        action = _option_action(rec, option, i)
        action["resource"] = {"reference": f"#{requests[-1]['id']}"}
        actions.append(action)
    for j, alternative in enumerate(rec.alternatives, start=len(actions) + 1):
        requests.append(_alternative_request(alternative.id, alternative.name, subject))
        actions.append(
            {
                "prefix": str(j),
                "title": f"Alternative: {alternative.name}",
                "description": alternative.text,
                "documentation": [_artifact(c) for c in alternative.citations],
                "resource": {"reference": f"#{requests[-1]['id']}"},
            }
        )
    stamp = rec.rulebook
    group: dict[str, Any] = {
        "resourceType": "RequestGroup",
        "id": "options",
        "status": "draft",
        "intent": "proposal",
        "subject": subject,
        "note": [
            {"text": summary_words(rec.summary)},
            # the plan around the choice, one note per step, in phase order
            *(
                {"text": f"Plan ({PHASE_WORDS[s.phase].lower()}): {s.text} [{s.rule}]"}
                for s in rec.plan
            ),
        ],
    }
    if actions:
        group["action"] = actions
    parameters = {
        "resourceType": "Parameters",
        "id": "outputs",
        "parameter": [
            {"name": "preferred", "valueString": rec.preferred or "none"},
            {"name": "close-call", "valueBoolean": rec.close_call},
            {"name": "provisional", "valueBoolean": rec.provisional},
            {"name": "context", "valueString": rec.context.name},
            {"name": "rulebook-version", "valueString": stamp.version},
            {"name": "rulebook-digest", "valueString": stamp.digest},
        ],
    }
    response: dict[str, Any] = {
        "resourceType": "GuidanceResponse",
        "id": f"sequencer-{digest}",
        "contained": [group, *requests, parameters],
        "identifier": [
            {"system": "urn:ietf:rfc:3986", "value": f"urn:sequencer:guidance:{digest}"}
        ],
        "moduleUri": f"urn:sequencer:rulebook:{stamp.name}:{stamp.version}",
        "status": _status(rec),
        "subject": subject,
        "outputParameters": {"reference": "#outputs"},
        "result": {"reference": "#options"},
        "note": [
            {"text": rec.notice},
            {"text": summary_words(rec.summary)},
            {
                "text": f"Rule base {stamp.name} {stamp.version} ({stamp.digest}); "
                f"context {rec.context.name}; review: {stamp.rule_base_review}."
            },
        ],
    }
    names = [o.name for o in rec.options]
    if names:
        response["reasonCode"] = [{"text": f"Choice between {' and '.join(names)}"}]
    response["text"] = {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
        f"<p>{html.escape(summary_words(rec.summary))}</p>"
        f"<p>{html.escape(rec.notice)}</p></div>",
    }
    if request_id:
        response["requestIdentifier"] = {"value": request_id}
    if as_of is not None:
        response["occurrenceDateTime"] = as_of.isoformat()
    if rec.missing:
        response["dataRequirement"] = [_requirement(m.field) for m in rec.missing]
        if any(d["type"] == "QuestionnaireResponse" for d in response["dataRequirement"]):
            response["note"].append(
                {
                    "text": "A dataRequirement of type QuestionnaireResponse asks for the "
                    f"answer to the item of Questionnaire {QUESTIONNAIRE_URL} whose linkId "
                    "is the requirement's id."
                }
            )
    return response
