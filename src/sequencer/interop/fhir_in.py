"""FHIR R4 in: Patient, Observation, Condition, MedicationRequest/Administration and the
QuestionnaireResponse to our Questionnaire, mapped to a v1 profile.

What is read, and which code fills which field, is data (``fhir-codes.yaml``); this
module applies it. Every resource is first validated with the ``fhir.resources`` R4B
models (R4B parses R4). Nothing is guessed: a field nothing maps stays unknown and is
listed in ``not_found``; a resource read but not used is listed in ``unused`` with the
reason.

**Contradictions.** Two resources giving one field different values are an error
naming the field and both sources, with one exception: among resources of the same type
that all carry a date, the newest is the current value when it is strictly the newest
(a newer ECOG or a newer questionnaire answer replaces the older), and the older ones
are listed in ``unused`` as superseded. Between resource types (an Observation and a
questionnaire answer, a recorded administration and an answer "not given") there is no
such rule: it is an error.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from sequencer.errors import FhirError, Problem, ProfileError
from sequencer.interop.codes import CodeTable, MedicationMap, code_table
from sequencer.interop.questionnaire import QUESTIONNAIRE_URL, answers_of, is_ours
from sequencer.model.fields import FIELDS
from sequencer.model.parsing import parse_profile

__all__ = ["FhirMapping", "MappedFact", "UnusedResource", "profile_from_fhir", "therapy_ordered"]

MAX_RESOURCES = 5_000

_OUT = ConfigDict(extra="forbid", frozen=True, strict=True)


class MappedFact(BaseModel):
    """One profile value and where it came from."""

    model_config = _OUT
    field: str
    value: Any
    source: str
    system: str | None = None
    code: str | None = None
    date: str | None = None


class UnusedResource(BaseModel):
    """A resource that was read but gave no profile value, and why."""

    model_config = _OUT
    source: str
    reason: str


class FhirMapping(BaseModel):
    """The profile mapped from FHIR, with what was found where and what was not.

    ``profile`` is a v1 profile dict (unknown facts absent) that ``recommend()``
    accepts; ``found`` the values set and their sources; ``given`` the therapies shown
    given whose response FHIR does not record (the field needs the questionnaire);
    ``not_found`` every profile field nothing mapped (reported missing, never guessed);
    ``unused`` the resources read that gave nothing, each with a reason.
    """

    model_config = _OUT
    profile: dict[str, Any]
    found: tuple[MappedFact, ...]
    given: tuple[MappedFact, ...] = ()
    not_found: tuple[str, ...]
    unused: tuple[UnusedResource, ...]


@dataclass(frozen=True)
class _Fact:
    field: str
    value: Any
    source: str
    kind: str
    date: datetime.date | None
    system: str | None = None
    code: str | None = None

    def public(self) -> MappedFact:
        day = self.date.isoformat() if self.date else None
        return MappedFact(
            field=self.field, value=self.value, source=self.source, system=self.system,
            code=self.code, date=day,
        )  # fmt: skip


_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def _date(*values: Any) -> datetime.date | None:
    """The first value that starts with a full date (YYYY-MM-DD)."""
    for value in values:
        if isinstance(value, str) and (m := _DATE.match(value)):
            try:
                return datetime.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return None
    return None


def _flatten(data: Any, prefix: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every resource in ``data`` (Bundles opened, lists walked) with its path."""
    if isinstance(data, Mapping):
        if data.get("resourceType") == "Bundle":
            for i, entry in enumerate(data.get("entry") or []):
                where = f"{prefix}entry[{i}]"
                resource = entry.get("resource") if isinstance(entry, Mapping) else None
                if isinstance(resource, Mapping):
                    yield from _flatten(resource, f"{where}.resource.")
                else:
                    yield where, {}
            return
        yield prefix.rstrip("."), data
    elif isinstance(data, list | tuple):
        for i, item in enumerate(data):
            yield from _flatten(item, f"{prefix}[{i}].")
    else:
        yield prefix.rstrip("."), {}


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _validate(path: str, resource: Mapping[str, Any]) -> list[Problem]:
    """Problems that make ``resource`` invalid FHIR R4 (R4B models), with their paths."""
    from fhir.resources.R4B import get_fhir_model_class

    where = path or "<resource>"
    kind = resource.get("resourceType")
    if not isinstance(kind, str):
        return [
            Problem(f"{path}.resourceType".lstrip("."), "not a FHIR resource (no resourceType)")
        ]
    try:
        model = get_fhir_model_class(kind)
    except (ValueError, KeyError):
        return [Problem(f"{path}.resourceType".lstrip("."), f"unknown resource type {kind!r}")]
    try:
        model.model_validate(dict(resource))
    except ValidationError as error:
        return [
            Problem(f"{path}{_loc(tuple(e['loc']))}".lstrip(".") or where, e["msg"])
            for e in error.errors(include_url=False)
        ]
    except (ValueError, TypeError, RecursionError) as error:
        return [Problem(where, f"not valid FHIR ({type(error).__name__})")]
    return []


def _codings(concept: Any) -> list[tuple[str, str]]:
    if not isinstance(concept, Mapping):
        return []
    return [
        (str(c.get("system")), str(c.get("code")))
        for c in concept.get("coding") or []
        if isinstance(c, Mapping) and c.get("code") is not None
    ]


def _name(resource: Mapping[str, Any], path: str) -> str:
    rid = resource.get("id")
    return (
        f"{resource.get('resourceType')}/{rid}"
        if rid
        else f"{resource.get('resourceType')} at {path}"
    )


def _medication_codes(
    resource: Mapping[str, Any], medications: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """The codings of the medication a request or administration names (directly, or
    through a reference to a contained or listed Medication)."""
    codes = _codings(resource.get("medicationCodeableConcept"))
    ref = resource.get("medicationReference")
    target = ref.get("reference") if isinstance(ref, Mapping) else None
    if isinstance(target, str):
        if target.startswith("#"):
            for contained in resource.get("contained") or []:
                if isinstance(contained, Mapping) and contained.get("id") == target[1:]:
                    codes += _codings(contained.get("code"))
        elif target in medications:
            codes += _codings(medications[target].get("code"))
    return codes


def _match_medication(table: CodeTable, codes: list[tuple[str, str]]) -> MedicationMap | None:
    for med in table.medications:
        wanted = {(table.uri(c.system), c.code) for c in med.codes}
        if wanted & set(codes):
            return med
    return None


def therapy_ordered(resource: Mapping[str, Any]) -> str | None:
    """Return the rule-base option id (``blinatumomab``, ``car_t``) a MedicationRequest or
    ServiceRequest orders, or None when it orders neither (or is another resource).

    Only the verified codes of ``fhir-codes.yaml`` count; a medication given by reference
    counts when the Medication is contained in the request.
    """
    table = code_table()
    kind = resource.get("resourceType")
    if kind == "MedicationRequest":
        codes = _medication_codes(resource, {})
    elif kind == "ServiceRequest":
        codes = _codings(resource.get("code"))
    else:
        return None
    med = _match_medication(table, codes)
    return med.option if med is not None else None


class _Reader:
    """One pass over the resources: facts, evidence of therapies given, unused ones."""

    def __init__(self, table: CodeTable, as_of: datetime.date) -> None:
        self.table = table
        self.as_of = as_of
        self.facts: list[_Fact] = []
        self.given: list[_Fact] = []
        self.unused: list[UnusedResource] = []
        self.problems: list[Problem] = []

    def skip(self, source: str, reason: str) -> None:
        self.unused.append(UnusedResource(source=source, reason=reason))

    def patient(self, res: Mapping[str, Any], source: str) -> None:
        birth = res.get("birthDate")
        born = _date(birth) if isinstance(birth, str) and len(birth) == 10 else None
        if born is None:
            self.skip(source, "no full birthDate, so no age")
            return
        years = (
            self.as_of.year
            - born.year
            - ((self.as_of.month, self.as_of.day) < (born.month, born.day))
        )
        self.facts.append(_Fact("age", years, source, "Patient", None))

    def observation(self, res: Mapping[str, Any], source: str) -> None:
        codes = set(_codings(res.get("code")))
        rule = next(
            (
                o
                for o in self.table.observations
                if (self.table.uri(o.code.system), o.code.code) in codes
            ),
            None,
        )
        if rule is None:
            self.skip(source, "no code in the mapping")
            return
        if res.get("status") not in ("final", "amended", "corrected"):
            self.skip(source, f"status {res.get('status')!r} is not a final result")
            return
        when = _date(res.get("effectiveDateTime"), (res.get("effectivePeriod") or {}).get("start"),
                     res.get("issued"))  # fmt: skip
        system, code = self.table.uri(rule.code.system), rule.code.code
        if rule.value == "integer":
            value = res.get("valueInteger")
            if isinstance(value, int) and not isinstance(value, bool):
                self.facts.append(
                    _Fact(rule.field, value, source, "Observation", when, system, code)
                )
            else:
                self.skip(source, "no valueInteger")
            return
        values = set(_codings(res.get("valueCodeableConcept")))
        for answer in rule.answers:
            if (self.table.uri(answer.system), answer.code) in values:
                self.facts.append(
                    _Fact(rule.field, answer.value, source, "Observation", when, system, code)
                )
                return
        self.skip(source, "its value is not a coded answer in the mapping")

    def condition(self, res: Mapping[str, Any], source: str) -> None:
        codes = set(_codings(res.get("code")))
        for rule in self.table.conditions:
            if not codes & {(self.table.uri(c.system), c.code) for c in rule.codes}:
                continue
            verification = {c for _, c in _codings(res.get("verificationStatus"))}
            if verification & {"refuted", "entered-in-error"}:
                self.skip(source, "verification status refuted or entered in error")
                return
            status_system = self.table.uri(rule.clinical_status.system)
            statuses = [c for s, c in _codings(res.get("clinicalStatus")) if s == status_system]
            value = next(
                (
                    rule.clinical_status.values[c]
                    for c in statuses
                    if c in rule.clinical_status.values
                ),
                None,
            )
            if value is None:
                self.skip(source, "no clinical status in the mapping")
                return
            when = _date(res.get("recordedDate"), res.get("onsetDateTime"))
            self.facts.append(_Fact(rule.field, value, source, "Condition", when))
            return
        self.skip(source, "no code in the mapping")

    def medication(
        self, res: Mapping[str, Any], source: str, meds: Mapping[str, Mapping[str, Any]]
    ) -> None:
        kind = str(res.get("resourceType"))
        med = _match_medication(self.table, _medication_codes(res, meds))
        if med is None:
            self.skip(source, "no medication code in the mapping")
            return
        status = res.get("status")
        if kind == "MedicationRequest" and status == "draft":
            self.skip(source, "a draft order, not a record of treatment (therapy_ordered reads it)")
            return
        when = _date(res.get("authoredOn"), res.get("effectiveDateTime"),
                     (res.get("effectivePeriod") or {}).get("start"))  # fmt: skip
        coding = next(c for c in med.codes)
        system = self.table.uri(coding.system)
        current = (kind, status) in (
            ("MedicationRequest", "active"),
            ("MedicationAdministration", "in-progress"),
        )
        given = status in ("active", "completed", "in-progress")
        if med.use == "current":
            if current:
                self.facts.append(_Fact(med.field, True, source, kind, when, system, None))
            else:
                self.skip(source, f"{med.name} with status {status!r}: not a current treatment")
        elif given:
            self.given.append(_Fact(med.field, "given", source, kind, when, system, None))
        else:
            self.skip(source, f"{med.name} with status {status!r}: not shown given")

    def response(self, res: Mapping[str, Any], source: str, path: str) -> None:
        if not is_ours(res):
            self.skip(source, "answers another questionnaire")
            return
        if res.get("status") not in ("completed", "amended"):
            self.skip(source, f"status {res.get('status')!r} is not completed")
            return
        answers, problems = answers_of(res, path)
        self.problems += problems
        when = _date(res.get("authored"))
        for field, (value, _where) in answers.items():
            self.facts.append(
                _Fact(field, value, source, "QuestionnaireResponse", when, QUESTIONNAIRE_URL, field)
            )
        if not answers and not problems:
            self.skip(source, "no answer that is known")


def _subject(res: Mapping[str, Any]) -> str | None:
    for key in ("subject", "patient"):
        ref = res.get(key)
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
            return str(ref["reference"])
    return None


def _resolve(
    facts: list[_Fact], unused: list[UnusedResource], problems: list[Problem]
) -> dict[str, list[_Fact]]:
    """One value per field, or a contradiction problem (see the module's docstring)."""
    by_field: dict[str, list[_Fact]] = {}
    for fact in facts:
        by_field.setdefault(fact.field, []).append(fact)
    chosen: dict[str, list[_Fact]] = {}
    for field, group in by_field.items():
        values = {repr(f.value) for f in group}
        if len(values) == 1:
            chosen[field] = group
            continue
        kinds = {f.kind for f in group}
        dates = [f.date for f in group]
        if len(kinds) == 1 and all(d is not None for d in dates):
            newest = max(d for d in dates if d is not None)
            winners = [f for f in group if f.date == newest]
            if len({repr(f.value) for f in winners}) == 1:
                chosen[field] = winners
                for f in group:
                    if f.date != newest:
                        unused.append(
                            UnusedResource(
                                source=f.source,
                                reason=f"{field}: superseded by {winners[0].source} of {newest}",
                            )
                        )
                continue
        said = "; ".join(f"{f.source} says {f.value!r}" for f in group)
        problems.append(Problem(field, f"sources disagree: {said}", "contradiction"))
    return chosen


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

    ``resources`` is a Bundle (any type; ``entry[].resource`` is read), one resource, or
    an iterable of resources and Bundles (a CDS Hooks prefetch: a Patient and several
    searchset Bundles). ``as_of`` is the date ages are computed against (default today);
    ``patient_id`` the profile's id (default the Patient's id).

    Returns a ``FhirMapping``. Raises ``FhirError`` listing every problem: resources that
    are not valid FHIR R4 (each with its path, e.g. ``entry[3].resource.code``), answers
    that are not values of the field, sources that contradict each other (naming the
    field and both sources), more than one patient, no patient id at all, or a mapped
    profile the library rejects.
    """
    table = code_table()
    day = as_of or datetime.date.today()
    flat = list(_flatten(resources if isinstance(resources, Mapping) else list(resources), ""))
    if len(flat) > MAX_RESOURCES:
        raise FhirError([Problem("", f"more than {MAX_RESOURCES:,} resources")])
    problems: list[Problem] = []
    for path, res in flat:
        problems += _validate(path, res) if res else [Problem(path, "entry without a resource")]
    if problems:
        raise FhirError(problems)
    patients = {
        str(r.get("id")) for _, r in flat if r.get("resourceType") == "Patient" and r.get("id")
    }
    pid = patient_id or (next(iter(patients)) if len(patients) == 1 else None)
    if len(patients) > 1 or (patient_id and patients and patients != {patient_id}):
        named = sorted((patients | {pid or ""}) - {""})
        problems.append(Problem("", f"more than one patient: {', '.join(named)}"))
    if pid is None:
        problems.append(Problem("", "no Patient resource and no patient_id: whose profile is it?"))
    if problems:
        raise FhirError(problems)
    assert pid is not None
    meds = {
        f"Medication/{r['id']}": r
        for _, r in flat
        if r.get("resourceType") == "Medication" and r.get("id")
    }
    reader = _Reader(table, day)
    referenced = set()
    for _, res in flat:
        for key in ("medicationReference",):
            ref = res.get(key)
            if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
                referenced.add(ref["reference"])
    for path, res in flat:
        kind = res["resourceType"]
        source = _name(res, path)
        subject = _subject(res)
        if kind != "Patient" and subject is not None and subject.rsplit("/", 1)[-1] != pid:
            reader.skip(source, f"about another patient ({subject})")
        elif kind == "Patient":
            reader.patient(res, source)
        elif kind == "Observation":
            reader.observation(res, source)
        elif kind == "Condition":
            reader.condition(res, source)
        elif kind in ("MedicationRequest", "MedicationAdministration"):
            reader.medication(res, source, meds)
        elif kind == "QuestionnaireResponse":
            reader.response(res, source, path)
        elif kind == "Medication" and source in referenced:
            continue
        else:
            reader.skip(source, f"{kind} is not read")
    problems += reader.problems
    chosen = _resolve(reader.facts, reader.unused, problems)
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
    values = {field: group[0].value for field, group in chosen.items()}
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
    found = sorted(
        (f for group in chosen.values() for f in group),
        key=lambda f: (order.get(f.field, -1), f.source),
    )
    return FhirMapping(
        profile=profile,
        found=tuple(f.public() for f in found),
        given=tuple(f.public() for f in reader.given),
        not_found=tuple(f for f in FIELDS if f not in values),
        unused=tuple(reader.unused),
    )


def _sources(chosen: Mapping[str, list[_Fact]], field: str) -> str:
    group = chosen.get(field) or [
        f for g in chosen.values() for f in g if field.startswith(f.field)
    ]
    return ", ".join(sorted({f.source for f in group})) or "the input"
