"""The interchange contracts as JSON Schema (2020-12): the v1 profile and the
recommendation, with an ``$id`` and a format version.

They are generated from the strict models (``PatientProfile``, ``Recommendation``) and
shipped with the package (``sequencer/schemas/``); ``sequencer schema profile`` prints
one. A schema states what it can (types, enumerations, ranges, unknown keys refused);
the profile's contradictions (a transplant's details without a transplant, say) need
the library: the schema's description says so.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sequencer.model.profile import FORMAT_VERSION, PatientProfile
from sequencer.model.recommendation import Recommendation

__all__ = ["FORMAT_VERSION", "SCHEMA_NAMES", "schema"]

SCHEMA_NAMES = ("profile", "recommendation")

_NOTES = {
    "profile": (
        "A patient profile in sequencer's interchange format v1. Null means unknown. "
        "Beyond what this schema states, the library refuses contradictions it cannot "
        "express: months since transplant, GVHD (resolved or active) or the original donor "
        "without a prior transplant; ABL1 mutations in Ph-negative disease; MRD-only status "
        "with 5% or more marrow blasts or without detectable MRD below 5%; an overt relapse "
        "with no site of disease; a contraindication listed twice; and repeated keys."
    ),
    "recommendation": (
        "A ranked, cited recommendation from sequencer (decision support, not an order). "
        "It carries the rule base's name, version and digest for audit."
    ),
}


def schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema (2020-12) of ``name`` (``profile`` or ``recommendation``).

    Raises ``KeyError`` for another name.
    """
    models: dict[str, type[BaseModel]] = {
        "profile": PatientProfile,
        "recommendation": Recommendation,
    }
    body = models[name].model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:sequencer:schema:{name}:v{FORMAT_VERSION}",
        "x-format-version": FORMAT_VERSION,
        **{k: v for k, v in body.items() if k != "description"},
        "description": _NOTES[name],
    }
