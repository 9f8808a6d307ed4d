"""FHIR R4 in: Patient, Observation, Condition, MedicationRequest/Administration and the
QuestionnaireResponse to our Questionnaire, mapped to a v1 profile.

What is read, and which code fills which field, is data (``fhir-codes.yaml``); this
module applies it. Every resource is first validated with the ``fhir.resources`` R4B
models (R4B parses R4). Nothing is guessed: a field nothing maps stays unknown and is
listed in ``not_found``; a resource read but not used is listed in ``unused`` with the
reason.

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
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from sequencer.errors import FhirError, Problem, ProfileError
from sequencer.interop.codes import CodeTable, MedicationMap, code_table
from sequencer.interop.questionnaire import QUESTIONNAIRE_URL, answers_of, is_ours
from sequencer.model.fields import FIELDS
from sequencer.model.parsing import code_of, parse_profile

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


# How the readings of one field from resources of one type combine (see the docstring).
_NEWEST, _NEVER, _ANY_ACTIVE = "newest", "never", "any-active"

# MedicationRequest intents that make an active request a current prescription (FHIR R4
# MedicationRequest.intent); proposal, plan, directive, option and the rest do not.
_ORDER_INTENTS = ("order", "original-order", "instance-order", "filler-order")

# Elements whose date says when a resource's content happened or was stated.
_WHEN = (
    ("effectiveDateTime",),
    ("effectivePeriod", "start"),
    ("effectiveInstant",),
    ("issued",),
    ("authoredOn",),
    ("authored",),
    ("recordedDate",),
    ("onsetDateTime",),
    ("onsetPeriod", "start"),
)


@dataclass(frozen=True)
class _Fact:
    field: str
    value: Any  # None: answered "unknown"
    source: str
    kind: str
    date: datetime.date | None
    system: str | None = None
    code: str | None = None
    policy: str = _NEVER

    def public(self) -> MappedFact:
        day = self.date.isoformat() if self.date else None
        return MappedFact(
            field=self.field,
            value=self.value,
            source=self.source,
            system=self.system,
            code=self.code,
            date=day,
        )


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


_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")


def _earliest(value: Any) -> datetime.date | None:
    """The first day a FHIR date or dateTime (``2020``, ``2020-03``, ``2020-03-05T...``)
    can mean, or None when it is not one."""
    if not isinstance(value, str) or not (m := _PARTIAL.match(value)):
        return None
    try:
        return datetime.date(int(m[1]), int(m[2] or 1), int(m[3] or 1))
    except ValueError:
        return None


def _after(res: Mapping[str, Any], day: datetime.date) -> str | None:
    """The first date of ``res`` (see ``_WHEN``) later than ``day``, named, or None."""
    for path in _WHEN:
        value: Any = res
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        when = _earliest(value)
        if when is not None and when > day:
            return f"{'.'.join(path)} {value}"
    return None


def _flatten(
    data: Any, prefix: str, *, named: bool = False
) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
    """Every resource in ``data`` (Bundles opened, lists walked, named inputs opened when
    ``named``) with its path; None where something that is no resource stands."""
    if isinstance(data, Mapping):
        if named and "resourceType" not in data:
            for key, value in data.items():
                if value is not None:  # a prefetch key the client could not fill
                    yield from _flatten(value, f"{prefix}{key}.", named=True)
            return
        if data.get("resourceType") == "Bundle":
            for i, entry in enumerate(data.get("entry") or []):
                where = f"{prefix}entry[{i}]"
                resource = entry.get("resource") if isinstance(entry, Mapping) else None
                if isinstance(resource, Mapping):
                    yield from _flatten(resource, f"{where}.resource.")
                else:
                    yield where, None
            return
        yield prefix.rstrip("."), data
    elif isinstance(data, list | tuple):
        for i, item in enumerate(data):
            yield from _flatten(item, f"{prefix}[{i}].")
    else:
        yield prefix.rstrip("."), None


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
            Problem(
                f"{path}.resourceType".lstrip("."),
                "not a FHIR resource (no resourceType)",
                "missing_field" if "resourceType" not in resource else "wrong_type",
            )
        ]
    try:
        model = get_fhir_model_class(kind)
    except (ValueError, KeyError):
        return [Problem(f"{path}.resourceType".lstrip("."), f"unknown resource type {kind!r}")]
    try:
        model.model_validate(dict(resource))
    except ValidationError as error:
        return [
            Problem(
                f"{path}{_loc(tuple(e['loc']))}".lstrip(".") or where, e["msg"], code_of(e["type"])
            )
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
        policy = _NEWEST if rule.newest_wins else _NEVER
        if rule.value == "integer":
            value = res.get("valueInteger")
            if isinstance(value, int) and not isinstance(value, bool):
                self.facts.append(
                    _Fact(rule.field, value, source, "Observation", when, system, code, policy)
                )
            else:
                self.skip(source, "no valueInteger")
            return
        values = set(_codings(res.get("valueCodeableConcept")))
        for answer in rule.answers:
            if (self.table.uri(answer.system), answer.code) in values:
                self.facts.append(
                    _Fact(
                        rule.field,
                        answer.value,
                        source,
                        "Observation",
                        when,
                        system,
                        code,
                        policy,
                    )
                )
                return
        self.skip(source, "its value is not a coded answer in the mapping")

    def condition(self, res: Mapping[str, Any], source: str) -> None:
        codes = set(_codings(res.get("code")))
        for rule in self.table.conditions:
            if not codes & {(self.table.uri(c.system), c.code) for c in rule.codes}:
                continue
            checked = rule.verification_status
            if res.get("verificationStatus") is not None:
                ver_system = self.table.uri(checked.system)
                verification = [
                    c for s, c in _codings(res.get("verificationStatus")) if s == ver_system
                ]
                if not set(verification) & set(checked.accepted):
                    said = ", ".join(verification) or "not coded in HL7 condition-ver-status"
                    self.skip(source, f"verification status {said}: not a confirmed diagnosis")
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
            self.facts.append(
                _Fact(rule.field, value, source, "Condition", when, policy=rule.combine)
            )
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
        when = _date(res.get("authoredOn"), res.get("effectiveDateTime"),
                     (res.get("effectivePeriod") or {}).get("start"))  # fmt: skip
        system = self.table.uri(med.codes[0].system)
        if kind == "MedicationRequest":
            intent = res.get("intent")
            if status == "draft":
                self.skip(
                    source, "a draft order, not a record of treatment (therapy_ordered reads it)"
                )
            elif res.get("doNotPerform") is True:
                self.skip(source, f"{med.name}: doNotPerform, an order not to give it")
            elif med.use == "given":
                self.skip(
                    source,
                    f"{med.name}: an order is not a record that it was given "
                    "(only a MedicationAdministration shows that)",
                )
            elif status == "active" and intent in _ORDER_INTENTS:
                self.facts.append(_Fact(med.field, True, source, kind, when, system, None))
            else:
                self.skip(
                    source,
                    f"{med.name} request with status {status!r} and intent {intent!r}: "
                    "not a current prescription",
                )
            return
        if med.use == "current":
            if status == "in-progress":
                self.facts.append(_Fact(med.field, True, source, kind, when, system, None))
            else:
                self.skip(source, f"{med.name} with status {status!r}: not a current treatment")
        elif status in ("completed", "in-progress", "stopped"):  # stopped: partly given
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
        answers, problems = answers_of(res, path, keep_unknown=True)
        self.problems += problems
        when = _date(res.get("authored"))
        for field, (value, _where) in answers.items():
            self.facts.append(
                _Fact(
                    field,
                    value,
                    source,
                    "QuestionnaireResponse",
                    when,
                    QUESTIONNAIRE_URL,
                    field,
                    _NEWEST,
                )
            )
        unknown = [f for f, (v, _) in answers.items() if v is None]
        if len(unknown) == len(answers) and not problems:
            said = f" ({', '.join(unknown)} answered unknown: they stay unknown)" if unknown else ""
            self.skip(source, f"no answer that is known{said}")


def _subject(res: Mapping[str, Any]) -> str | None:
    for key in ("subject", "patient"):
        ref = res.get(key)
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
            return str(ref["reference"])
    return None


def _not_ours(res: Mapping[str, Any], pid: str) -> str | None:
    """Why ``res`` is not about patient ``pid``, or None when its subject (or patient) is
    the relative reference ``Patient/{pid}``: the only form read (an absolute URL may name
    another server's patient with the same id)."""
    subject = _subject(res)
    if subject == f"Patient/{pid}":
        return None
    if subject is None:
        return "no subject (a Patient reference): whose is it?"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", subject):
        return f"its subject is an absolute reference ({subject}); only Patient/{pid} is read"
    if subject.startswith("Patient/"):
        return f"about another patient ({subject})"
    return f"its subject is not a Patient ({subject})"


def _said(value: Any) -> str:
    return "unknown" if value is None else repr(value)


def _combine(field: str, group: list[_Fact], unused: list[UnusedResource]) -> list[_Fact]:
    """The facts of one field from one resource type that stand, by their policy; those
    set aside are listed in ``unused`` with the reason."""
    if len({repr(f.value) for f in group}) == 1:
        return group
    policy, kind = group[0].policy, group[0].kind
    if policy == _ANY_ACTIVE:
        active = [f for f in group if f.value == "active"]
        for f in group:
            if f.value != "active" and active:
                reason = f"{field}: {active[0].source} is active (one active {kind} is enough)"
                unused.append(UnusedResource(source=f.source, reason=reason))
        return active or group
    dates = [f.date for f in group]
    if policy == _NEWEST and all(d is not None for d in dates):
        newest = max(d for d in dates if d is not None)
        winners = [f for f in group if f.date == newest]
        if len({repr(f.value) for f in winners}) == 1:
            for f in group:
                if f.date != newest:
                    reason = f"{field}: superseded by {winners[0].source} of {newest}"
                    if winners[0].value is None:
                        reason += " (answered unknown)"
                    unused.append(UnusedResource(source=f.source, reason=reason))
            return winners
    return group


def _resolve(
    facts: list[_Fact], unused: list[UnusedResource], problems: list[Problem]
) -> dict[str, list[_Fact]]:
    """One value per field (None: answered unknown), or a contradiction problem (see the
    module's docstring)."""
    by_field: dict[str, dict[str, list[_Fact]]] = {}
    for fact in facts:
        by_field.setdefault(fact.field, {}).setdefault(fact.kind, []).append(fact)
    chosen: dict[str, list[_Fact]] = {}
    for field, kinds in by_field.items():
        group = [f for kind in kinds.values() for f in _combine(field, kind, unused)]
        known = [f for f in group if f.value is not None]
        if known and len(known) < len(group):
            known_kinds = {f.kind for f in known}
            if not {f.kind for f in group if f.value is None} & known_kinds:
                for f in group:
                    if f.value is None:
                        reason = f"{field}: answered unknown; {known[0].source} gives its value"
                        unused.append(UnusedResource(source=f.source, reason=reason))
                group = known
        if len({repr(f.value) for f in group}) == 1:
            chosen[field] = group
            continue
        said = "; ".join(f"{f.source} says {_said(f.value)}" for f in group)
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
        flat = list(_flatten(resources, "", named=True))
    else:
        flat = list(_flatten(list(resources), ""))
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
            problems += _validate(path, res)
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
    reader = _Reader(table, day)
    referenced = set()
    for _, res in found:
        ref = res.get("medicationReference")
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
            referenced.add(ref["reference"])
    for path, res in found:
        kind = res["resourceType"]
        source = _name(res, path)
        if kind == "Medication":
            if source not in referenced:
                reader.skip(
                    source, "Medication is not read (no request or administration names it)"
                )
            continue
        if kind != "Patient":
            if (why := _not_ours(res, pid)) is not None:
                reader.skip(source, why)
                continue
            if (late := _after(res, day)) is not None:
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


def _sources(chosen: Mapping[str, list[_Fact]], field: str) -> str:
    group = chosen.get(field) or [
        f for g in chosen.values() for f in g if field.startswith(f.field)
    ]
    return ", ".join(sorted({f.source for f in group})) or "the input"
