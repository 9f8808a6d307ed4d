"""FHIR R4 out: a ``Recommendation`` as a GuidanceResponse.

* ``status``: ``data-required`` when a blocking fact is missing (no option is preferred
  until it is known: FHIR's "more data is required to complete the evaluation");
  ``data-requested`` when the choice is provisional (a missing fact could change it:
  "more data may result in a more complete evaluation"); otherwise ``success``.
* ``moduleUri`` names the rule base and its version (``urn:sequencer:rulebook:NAME:VERSION``);
  its digest, the regulatory context and the review state are in ``note`` and in the
  contained ``Parameters`` (``outputParameters``).
* ``dataRequirement``: one per missing fact, in the recommendation's order (those that
  could change the choice first): an Observation with its code where the code table has
  one, the Patient's birth date for the age, else the Questionnaire item (``linkId`` = the
  field).
* ``result`` references a contained RequestGroup whose actions are the options in their
  ranked order (``prefix`` 1, 2...), each with its standing, score and the cited reasons,
  then the alternatives outside the two options.
* ``note``: the decision-support notice, the summary and the rule base stamp.

Ids are derived from the recommendation's content, so the same recommendation gives
the same resource.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from sequencer.interop.codes import code_table
from sequencer.interop.questionnaire import QUESTIONNAIRE_URL
from sequencer.model.recommendation import Citation, Option, Recommendation

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
    return {
        "id": field,
        "type": "QuestionnaireResponse",
        "codeFilter": [{"path": "questionnaire", "valueSet": QUESTIONNAIRE_URL}],
        "mustSupport": [f"item.where(linkId='{field}').answer"],
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
    lines = [f"{option.status.replace('_', ' ')}; score {option.score}."]
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
    actions = [_option_action(rec, option, i) for i, option in enumerate(rec.options, start=1)]
    for j, alternative in enumerate(rec.alternatives, start=len(actions) + 1):
        actions.append(
            {
                "prefix": str(j),
                "title": f"Alternative: {alternative.name}",
                "description": alternative.text,
                "documentation": [_artifact(c) for c in alternative.citations],
            }
        )
    stamp = rec.rulebook
    group: dict[str, Any] = {
        "resourceType": "RequestGroup",
        "id": "options",
        "status": "draft",
        "intent": "proposal",
        "subject": subject,
        "note": [{"text": rec.summary}],
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
        "contained": [group, parameters],
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
            {"text": rec.summary},
            {
                "text": f"Rule base {stamp.name} {stamp.version} ({stamp.digest}); "
                f"context {rec.context.name}; review: {stamp.rule_base_review}."
            },
        ],
    }
    if request_id:
        response["requestIdentifier"] = {"value": request_id}
    if as_of is not None:
        response["occurrenceDateTime"] = as_of.isoformat()
    if rec.missing:
        response["dataRequirement"] = [_requirement(m.field) for m in rec.missing]
    return response
