"""FHIR R4 in: Patient, Observation, Condition, MedicationRequest/Administration and the
QuestionnaireResponse to our Questionnaire, mapped to a v1 profile.

What is read, and which code fills which field, is data (``fhir-codes.yaml``); this
module applies it (``fhir_resources`` opens and validates the input, ``fhir_reader``
reads each resource, ``fhir_facts`` combines the readings). Every resource is first
validated with the ``fhir.resources`` R4B models (R4B parses R4). Nothing is guessed: a
field nothing maps stays unknown and is listed in ``not_found``; a resource read but not
used is listed in ``unused`` with the reason.

**Whose, and when.** Only resources whose ``subject`` (or ``patient``) is the relative
reference ``Patient/{id}`` of the patient in hand are read; another patient, a Group, an
absolute URL and a resource with no subject at all are listed in ``unused``. A resource
dated after ``as_of`` (effective, issued, authored, recorded or onset date) is listed in
``unused`` too, so a replay reads the record as it stood that day.

**Contradictions.** Two resources giving one field different values are an error
naming the field and every source, except where the code table says how readings of
one type combine (``fhir-codes.yaml``): among dated Observations of a field whose
``newest_wins`` is true (ECOG), and among dated QuestionnaireResponses, the strictly
newest is the current value and the older ones are listed in ``unused`` as superseded
(an answer ``unknown`` supersedes too, leaving the field unknown); among Conditions of a
field combined ``any-active``, one active Condition makes the field active. A field
whose ``newest_wins`` is false (Ph status) is never superseded. Between resource types
(an Observation and a questionnaire answer, a recorded administration and an answer
"not given") there is no such rule: it is an error; an answer ``unknown`` beside a value
from another type of resource does not contradict it (the value stands).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from sequencer.errors import FhirError, Problem, ProfileError
from sequencer.interop.codes import code_table
from sequencer.interop.fhir_facts import OUTPUT, Fact, MappedFact, UnusedResource, resolve
from sequencer.interop.fhir_reader import Reader, match_medication
from sequencer.interop.fhir_resources import (
    codings,
    dated_after,
    flatten,
    medication_codes,
    not_about,
    source_name,
    validate,
)
from sequencer.model.fields import FIELDS
from sequencer.model.parsing import parse_profile

__all__ = ["FhirMapping", "profile_from_fhir", "therapy_ordered"]

MAX_RESOURCES = 5_000


class FhirMapping(BaseModel):
    """The profile mapped from FHIR, with what was found where and what was not.

    ``profile`` is a v1 profile dict (unknown facts absent) that ``recommend()``
    accepts; ``found`` the values set and their sources; ``given`` the therapies shown
    given whose response FHIR does not record (the field needs the questionnaire);
    ``not_found`` every profile field nothing mapped (reported missing, never guessed);
    ``unused`` the resources read that gave nothing, each with a reason.
    """

    model_config = OUTPUT
    profile: dict[str, Any]
    found: tuple[MappedFact, ...]
    given: tuple[MappedFact, ...] = ()
    not_found: tuple[str, ...]
    unused: tuple[UnusedResource, ...]


def therapy_ordered(resource: Mapping[str, Any]) -> str | None:
    """Return the rule-base option id (``blinatumomab``, ``car_t``) a MedicationRequest or
    ServiceRequest orders, or None when it orders neither (or is another resource).

    Only the verified codes of ``fhir-codes.yaml`` count; a medication given by reference
    counts when the Medication is contained in the request.
    """
    table = code_table()
    kind = resource.get("resourceType")
    if kind == "MedicationRequest":
        codes = medication_codes(resource, {})
    elif kind == "ServiceRequest":
        codes = codings(resource.get("code"))
    else:
        return None
    med = match_medication(table, codes)
    return med.option if med is not None else None


def _nest(values: Mapping[str, Any], patient_id: str) -> dict[str, Any]:
    profile: dict[str, Any] = {"id": patient_id}
    for path, value in values.items():
        section, _, leaf = path.rpartition(".")
        if section:
            profile.setdefault(section, {})[leaf] = value
        else:
            profile[leaf] = value
    return profile


def profile_from_fhir(
    resources: Mapping[str, Any] | Iterable[Mapping[str, Any]],
    *,
    as_of: datetime.date | None = None,
    patient_id: str | None = None,
) -> FhirMapping:
    """Map FHIR R4 resources to a v1 profile.

    ``resources`` is a Bundle (any type; ``entry[].resource`` is read), one resource, an
    iterable of resources and Bundles, or named inputs: a mapping without
    ``resourceType`` whose values are any of these (a CDS Hooks prefetch, ``{"patient":
    ..., "procedures": <searchset Bundle>}``; null values, prefetch keys the client could
    not fill, are skipped). Problem paths start with the name
    (``procedures.entry[0].resource.status``; nest the mapping, ``{"prefetch":
    prefetch}``, for ``prefetch.procedures...``), or with the position in a list
    (``[4].entry[0].resource.status``). ``as_of`` is the day the record is read as of
    (default today): ages are computed on it, and resources dated after it are not used.
    ``patient_id`` is the profile's id (default the Patient's id).

    Returns a ``FhirMapping``. Raises ``FhirError`` listing every problem: resources that
    are not valid FHIR R4 (each with its path and code: ``missing_field``,
    ``unknown_field``, ``wrong_type``, ``invalid_value``), answers that are not values of
    the field, sources that contradict each other (``contradiction``, naming the field
    and every source), more than one patient, no patient id at all, or a mapped profile
    the library rejects.
    """
    table = code_table()
    day = as_of or datetime.date.today()
    if isinstance(resources, Mapping):
        flat = list(flatten(resources, "", named=True))
    else:
        flat = list(flatten(list(resources), ""))
    if len(flat) > MAX_RESOURCES:
        raise FhirError([Problem("", f"more than {MAX_RESOURCES:,} resources", "too_large")])
    problems: list[Problem] = []
    found: list[tuple[str, Mapping[str, Any]]] = []
    for path, res in flat:
        if res is None:
            problems.append(
                Problem(path, "no FHIR resource here (a resource, Bundle or list)", "not_an_object")
            )
        else:
            problems += validate(path, res)
            found.append((path, res))
    if problems:
        raise FhirError(problems)
    patients = {
        str(r.get("id")) for _, r in found if r.get("resourceType") == "Patient" and r.get("id")
    }
    pid = patient_id or (next(iter(patients)) if len(patients) == 1 else None)
    if len(patients) > 1 or (patient_id and patients and patients != {patient_id}):
        named = sorted((patients | {pid or ""}) - {""})
        problems.append(Problem("", f"more than one patient: {', '.join(named)}"))
    if pid is None:
        problems.append(
            Problem(
                "", "no Patient resource and no patient_id: whose profile is it?", "missing_field"
            )
        )
    if problems:
        raise FhirError(problems)
    assert pid is not None
    meds = {
        f"Medication/{r['id']}": r
        for _, r in found
        if r.get("resourceType") == "Medication" and r.get("id")
    }
    reader = Reader(table, day)
    referenced = set()
    for _, res in found:
        ref = res.get("medicationReference")
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
            referenced.add(ref["reference"])
    for path, res in found:
        kind = res["resourceType"]
        source = source_name(res, path)
        if kind == "Medication":
            if source not in referenced:
                reader.skip(
                    source, "Medication is not read (no request or administration names it)"
                )
            continue
        if kind != "Patient":
            if (why := not_about(res, pid)) is not None:
                reader.skip(source, why)
                continue
            if (late := dated_after(res, day)) is not None:
                reader.skip(source, f"dated after the as-of date {day} ({late})")
                continue
        if kind == "Patient":
            reader.patient(res, source)
        elif kind == "Observation":
            reader.observation(res, source)
        elif kind == "Condition":
            reader.condition(res, source)
        elif kind in ("MedicationRequest", "MedicationAdministration"):
            reader.medication(res, source, meds)
        elif kind == "QuestionnaireResponse":
            reader.response(res, source, path)
        elif kind == "Procedure":
            reader.procedure(res, source)
        else:
            reader.skip(source, f"{kind} is not read")
    reader.gather()
    problems += reader.problems
    chosen = resolve(reader.facts, reader.unused, problems)
    for fact in reader.given:
        if fact.field in chosen and chosen[fact.field][0].value == "none":
            first = chosen[fact.field][0]
            problems.append(
                Problem(
                    fact.field,
                    f"sources disagree: {first.source} says 'none' (not given); "
                    f"{fact.source} shows it given",
                    "contradiction",
                )
            )
    if problems:
        raise FhirError(problems)
    values = {
        field: group[0].value for field, group in chosen.items() if group[0].value is not None
    }
    profile = _nest(values, pid)
    try:
        parse_profile(profile)
    except ProfileError as error:
        raise FhirError(
            [
                Problem(p.field, f"{p.message} (mapped from {_sources(chosen, p.field)})", p.code)
                for p in error.problems
            ]
        ) from None
    order = {f: i for i, f in enumerate(FIELDS)}
    facts = sorted(
        (f for group in chosen.values() for f in group if f.value is not None),
        key=lambda f: (order.get(f.field, -1), f.source),
    )
    return FhirMapping(
        profile=profile,
        found=tuple(f.public() for f in facts),
        given=tuple(f.public() for f in reader.given),
        not_found=tuple(f for f in FIELDS if f not in values),
        unused=tuple(reader.unused),
    )


def _sources(chosen: Mapping[str, list[Fact]], field: str) -> str:
    group = chosen.get(field) or [
        f for g in chosen.values() for f in g if field.startswith(f.field)
    ]
    return ", ".join(sorted({f.source for f in group})) or "the input"
