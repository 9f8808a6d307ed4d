"""CDS Hooks discovery: the two services (their ids and hooks), the prefetch templates
they share and the discovery document (``GET /cds-services``)."""

from __future__ import annotations

from typing import Any

from sequencer.interop.codes import code_table
from sequencer.interop.questionnaire import QUESTIONNAIRE_URL
from sequencer.knowledge.rulebook import Rulebook

__all__ = ["CHOICE", "HOOKS", "ORDER_CHECK", "PREFETCH", "PREFETCH_KEY_OF_TYPE", "discovery"]

CHOICE = "sequencer-choice"
ORDER_CHECK = "sequencer-order-check"


def _observation_codes() -> str:
    """The Observation codes the FHIR mapping reads, as one FHIR token search value
    (``system|code`` joined by commas): a client sends only those observations."""
    table = code_table()
    codes = [o.code for o in table.observations] + [g.code for g in table.genomic_variants]
    return ",".join(f"{table.uri(c.system)}|{c.code}" for c in codes)


PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&code=" + _observation_codes(),
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
    "questionnaireResponses": (
        "QuestionnaireResponse?subject={{context.patientId}}&questionnaire=" + QUESTIONNAIRE_URL
    ),
}
"""What each service asks the client to prefetch; every key is needed (an absent key
with no FHIR server is a 412; a key sent as null means the record holds nothing)."""

PREFETCH_KEY_OF_TYPE: dict[str, str] = {
    template.partition("?")[0].partition("/")[0]: key for key, template in PREFETCH.items()
}
"""The prefetch key that holds each FHIR resource type (``Observation`` -> ``observations``)."""

HOOKS = {CHOICE: "patient-view", ORDER_CHECK: "order-select"}


def discovery(book: Rulebook) -> dict[str, Any]:
    """The discovery document (``GET /cds-services``)."""
    usage = (
        "For adults with relapsed or refractory B-cell ALL. Needs the prefetched resources "
        "(or fhirServer with an access token) and, for the facts FHIR has no place for, a "
        f"QuestionnaireResponse to {QUESTIONNAIRE_URL}. Decision support, not an order."
    )
    return {
        "services": [
            {
                "hook": "patient-view",
                "id": CHOICE,
                "title": f"{book.option_kind} therapy choice ({book.name} {book.version})",
                "description": (
                    f"Ranks {' and '.join(book.option_names.values())} for this patient, "
                    "with the cited arguments for and against each, the cautions, and the "
                    "unknown facts that could change the choice."
                ),
                "prefetch": dict(PREFETCH),
                "usageRequirements": usage,
            },
            {
                "hook": "order-select",
                "id": ORDER_CHECK,
                "title": f"{book.option_kind} order check ({book.name} {book.version})",
                "description": (
                    f"When {' or '.join(book.option_names.values())} is selected, says "
                    "whether the rule base prefers it, defers it or finds it not eligible."
                ),
                "prefetch": dict(PREFETCH),
                "usageRequirements": usage,
            },
        ]
    }
