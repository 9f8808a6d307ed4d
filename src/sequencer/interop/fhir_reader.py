"""What each kind of FHIR resource gives the profile, by the code table
(``fhir-codes.yaml``): a Patient its age, a coded Observation or Condition its field, a
MedicationRequest or MedicationAdministration a current or past therapy, our
QuestionnaireResponse its answers; and, for every resource that gives nothing, why."""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Mapping
from typing import Any

from sequencer.errors import Problem
from sequencer.interop.codes import CodeTable, MedicationMap, ObservationMap, VariantListMap
from sequencer.interop.fhir_facts import NEVER, NEWEST, Fact, UnusedResource
from sequencer.interop.fhir_resources import codings, first_date, medication_codes
from sequencer.interop.questionnaire import QUESTIONNAIRE_URL, answers_of, is_ours

__all__ = ["Reader", "match_medication"]

# MedicationRequest intents that make an active request a current prescription (FHIR R4
# MedicationRequest.intent); proposal, plan, directive, option and the rest do not.
_ORDER_INTENTS = ("order", "original-order", "instance-order", "filler-order")

# An HGVS protein description of one amino-acid substitution, with or without its
# reference sequence and the parentheses of a predicted change: NP_005148.2:p.(Thr315Ile),
# p.Thr315Ile, p.(T315I). The residues are checked against the code table's symbols.
_SUBSTITUTION = re.compile(
    r"^(?:[A-Za-z0-9_.]+:)?p\.(\()?(?P<ref>[A-Z][a-z]{2}|[A-Z])(?P<pos>[1-9][0-9]{0,4})"
    r"(?P<alt>[A-Z][a-z]{2}|[A-Z])(?(1)\))$"
)


def match_medication(table: CodeTable, codes: list[tuple[str, str]]) -> MedicationMap | None:
    """The first medication of the code table one of ``codes`` names, or None."""
    for med in table.medications:
        wanted = {(table.uri(c.system), c.code) for c in med.all_codes()}
        if wanted & set(codes):
            return med
    return None


class Reader:
    """One pass over the resources: facts, evidence of therapies given, unused ones."""

    def __init__(self, table: CodeTable, as_of: datetime.date) -> None:
        self.table = table
        self.as_of = as_of
        self.facts: list[Fact] = []
        self.given: list[Fact] = []
        self.unused: list[UnusedResource] = []
        self.problems: list[Problem] = []
        self.gathered: dict[str, list[tuple[str, str, datetime.date | None]]] = {}

    def skip(self, source: str, reason: str) -> None:
        self.unused.append(UnusedResource(source=source, reason=reason))

    def patient(self, res: Mapping[str, Any], source: str) -> None:
        birth = res.get("birthDate")
        born = first_date(birth) if isinstance(birth, str) and len(birth) == 10 else None
        if born is None:
            self.skip(source, "no full birthDate, so no age")
            return
        years = (
            self.as_of.year
            - born.year
            - ((self.as_of.month, self.as_of.day) < (born.month, born.day))
        )
        self.facts.append(Fact("age", years, source, "Patient", None))

    def observation(self, res: Mapping[str, Any], source: str) -> None:
        codes = set(codings(res.get("code")))
        rule = next(
            (
                o
                for o in self.table.observations
                if (self.table.uri(o.code.system), o.code.code) in codes
            ),
            None,
        )
        if rule is None:
            self._variant(res, source, codes)
            return
        if res.get("status") not in ("final", "amended", "corrected"):
            self.skip(source, f"status {res.get('status')!r} is not a final result")
            return
        when = first_date(
            res.get("effectiveDateTime"),
            (res.get("effectivePeriod") or {}).get("start"),
            res.get("issued"),
        )
        system, code = self.table.uri(rule.code.system), rule.code.code
        policy = NEWEST if rule.newest_wins else NEVER
        if rule.value == "quantity":
            self._quantity(
                res,
                source,
                rule,
                Fact(rule.field, None, source, "Observation", when, system, code, policy),
            )
            return
        if rule.value == "integer":
            value = res.get("valueInteger")
            if isinstance(value, int) and not isinstance(value, bool):
                self.facts.append(
                    Fact(rule.field, value, source, "Observation", when, system, code, policy)
                )
            else:
                self.skip(source, "no valueInteger")
            return
        values = set(codings(res.get("valueCodeableConcept")))
        for answer in rule.answers:
            if (self.table.uri(answer.system), answer.code) in values:
                self.facts.append(
                    Fact(
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

    def _variant(self, res: Mapping[str, Any], source: str, codes: set[tuple[str, str]]) -> None:
        """An mCODE GenomicVariant of the genes a rule names, read by its value; any other
        Observation listed unused with the reason."""
        table = self.table
        for listed in table.variant_lists:
            if self._listed_variant(res, source, codes, listed):
                return
        for rule in table.genomic_variants:
            if (table.uri(rule.code.system), rule.code.code) not in codes:
                continue
            if res.get("status") not in ("final", "amended", "corrected"):
                self.skip(source, f"status {res.get('status')!r} is not a final result")
                return
            wanted = (table.uri(rule.gene_component.system), rule.gene_component.code)
            genes = {
                gene
                for part in res.get("component") or []
                if isinstance(part, Mapping) and wanted in codings(part.get("code"))
                for gene in codings(part.get("valueCodeableConcept"))
            }
            named = {(table.uri(g.system), g.code) for g in rule.genes}
            if genes != named:
                said = ", ".join(sorted(code for _, code in genes)) or "none named"
                self.skip(source, f"a genomic variant of other genes ({said})")
                return
            values = set(codings(res.get("valueCodeableConcept")))
            answer = next(
                (a for a in rule.answers if (table.uri(a.system), a.code) in values), None
            )
            if answer is None:
                self.skip(source, "its value is not a coded answer in the mapping")
                return
            when = first_date(res.get("effectiveDateTime"), res.get("issued"))
            system, code = table.uri(rule.code.system), rule.code.code
            self.facts.append(
                Fact(rule.field, answer.value, source, "Observation", when, system, code, NEVER)
            )
            return
        self.skip(source, "no code in the mapping")

    def _listed_variant(
        self,
        res: Mapping[str, Any],
        source: str,
        codes: set[tuple[str, str]],
        rule: VariantListMap,
    ) -> bool:
        """Gather the amino-acid change of a present variant of exactly ``rule.gene`` (see
        ``gather``), or list the variant unused with why; False when ``res`` is not a
        variant of that gene alone."""
        table = self.table
        if (table.uri(rule.code.system), rule.code.code) not in codes:
            return False
        parts = [p for p in res.get("component") or [] if isinstance(p, Mapping)]
        wanted = (table.uri(rule.gene_component.system), rule.gene_component.code)
        genes = {
            g
            for p in parts
            if wanted in codings(p.get("code"))
            for g in codings(p.get("valueCodeableConcept"))
        }
        if genes != {(table.uri(rule.gene.system), rule.gene.code)}:
            return False
        if res.get("status") not in ("final", "amended", "corrected"):
            self.skip(source, f"status {res.get('status')!r} is not a final result")
            return True
        present = (table.uri(rule.present.system), rule.present.code)
        if present not in set(codings(res.get("valueCodeableConcept"))):
            self.skip(
                source,
                f"a variant of {rule.gene.display} not reported present: it says only that this "
                f"change was not found, not that {rule.field} is empty",
            )
            return True
        change_code = (table.uri(rule.change_component.system), rule.change_component.code)
        hgvs = table.uri(rule.change_system)
        said = [
            code
            for p in parts
            if change_code in codings(p.get("code"))
            for system, code in codings(p.get("valueCodeableConcept"))
            if system == hgvs
        ]
        if not said:
            self.skip(
                source,
                f"a variant of {rule.gene.display} without an HGVS amino-acid change "
                f"({rule.change_component.code}): nothing to list",
            )
            return True
        change = self._one_letter(said[0])
        if change is None:
            self.skip(
                source,
                f"amino-acid change {said[0][:80]!r} is not one amino-acid substitution "
                f"written in HGVS: not listed in {rule.field}",
            )
            return True
        when = first_date(res.get("effectiveDateTime"), res.get("issued"))
        self.gathered.setdefault(rule.field, []).append((change, source, when))
        return True

    def _one_letter(self, hgvs: str) -> str | None:
        """``T315I`` for ``NP_005148.2:p.(Thr315Ile)`` (or ``p.T315I``), or None when it is
        not one substitution of one standard amino acid by another."""
        assert self.table.amino_acids is not None  # the code table checks it
        letters = self.table.amino_acids.letters
        found = _SUBSTITUTION.match(hgvs.strip())
        if found is None:
            return None
        ref, alt = (
            letters.get(r) if len(r) == 3 else (r if r in letters.values() else None)
            for r in (found["ref"], found["alt"])
        )
        if ref is None or alt is None or ref == alt:
            return None
        return f"{ref}{found['pos']}{alt}"

    def gather(self) -> None:
        """One fact per gathered list field: the changes found, each once, in order; its
        source names every Observation, its date is the newest."""
        loinc = {
            v.field: (self.table.uri(v.code.system), v.code.code) for v in self.table.variant_lists
        }
        for field, found in self.gathered.items():
            changes = sorted({change for change, _, _ in found})
            sources = ", ".join(dict.fromkeys(source for _, source, _ in found))
            dates = [when for _, _, when in found if when is not None]
            system, code = loinc[field]
            self.facts.append(
                Fact(
                    field,
                    changes,
                    sources,
                    "Observation",
                    max(dates, default=None),
                    system,
                    code,
                    NEVER,
                )
            )

    def _quantity(
        self, res: Mapping[str, Any], source: str, rule: ObservationMap, fact: Fact
    ) -> None:
        """A number from ``valueQuantity`` in the rule's unit, or the resource listed unused
        with the reason (no quantity, a comparator, another unit)."""
        assert rule.unit is not None
        found = res.get("valueQuantity")
        quantity: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        unit = f"{rule.unit.code} ({self.table.uri(rule.unit.system)})"
        number = quantity.get("value")
        if not isinstance(number, int | float) or isinstance(number, bool):
            self.skip(source, f"no valueQuantity with a value (wanted: {unit})")
            return
        if quantity.get("comparator") is not None:
            self.skip(
                source,
                f"value {quantity['comparator']}{quantity['value']} is a bound, not a number",
            )
            return
        if (quantity.get("system"), quantity.get("code")) != (
            self.table.uri(rule.unit.system),
            rule.unit.code,
        ):
            said = quantity.get("code") or quantity.get("unit") or "no unit"
            self.skip(source, f"unit {said!r} does not fit {rule.field} (wanted: {unit})")
            return
        self.facts.append(dataclasses.replace(fact, value=number))

    def condition(self, res: Mapping[str, Any], source: str) -> None:
        codes = set(codings(res.get("code")))
        for rule in self.table.conditions:
            if not codes & {(self.table.uri(c.system), c.code) for c in rule.codes}:
                continue
            checked = rule.verification_status
            if res.get("verificationStatus") is not None:
                ver_system = self.table.uri(checked.system)
                verification = [
                    c for s, c in codings(res.get("verificationStatus")) if s == ver_system
                ]
                if not set(verification) & set(checked.accepted):
                    said = ", ".join(verification) or "not coded in HL7 condition-ver-status"
                    self.skip(source, f"verification status {said}: not a confirmed diagnosis")
                    return
            status_system = self.table.uri(rule.clinical_status.system)
            statuses = [c for s, c in codings(res.get("clinicalStatus")) if s == status_system]
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
            when = first_date(res.get("recordedDate"), res.get("onsetDateTime"))
            self.facts.append(
                Fact(rule.field, value, source, "Condition", when, policy=rule.combine)
            )
            return
        for known in self.table.recognised:
            if codes & {(self.table.uri(c.system), c.code) for c in known.codes}:
                self.skip(source, f"{known.what}: {known.why}")
                return
        self.skip(source, "no code in the mapping")

    def procedure(self, res: Mapping[str, Any], source: str) -> None:
        """A Procedure gives nothing yet: a recognised one is listed unused with why."""
        codes = set(codings(res.get("code")))
        for known in self.table.recognised_procedures:
            if codes & {(self.table.uri(c.system), c.code) for c in known.codes}:
                self.skip(source, f"{known.what}: {known.why}")
                return
        self.skip(
            source,
            "Procedure: no code in the mapping (HCT and CAR T infusion codes are not confirmed)",
        )

    def medication(
        self, res: Mapping[str, Any], source: str, meds: Mapping[str, Mapping[str, Any]]
    ) -> None:
        kind = str(res.get("resourceType"))
        med = match_medication(self.table, medication_codes(res, meds))
        if med is None:
            self.skip(source, "no medication code in the mapping")
            return
        status = res.get("status")
        when = first_date(
            res.get("authoredOn"),
            res.get("effectiveDateTime"),
            (res.get("effectivePeriod") or {}).get("start"),
        )
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
                self.facts.append(Fact(med.field, True, source, kind, when, system, None))
            else:
                self.skip(
                    source,
                    f"{med.name} request with status {status!r} and intent {intent!r}: "
                    "not a current prescription",
                )
            return
        if med.use == "current":
            if status == "in-progress":
                self.facts.append(Fact(med.field, True, source, kind, when, system, None))
            else:
                self.skip(source, f"{med.name} with status {status!r}: not a current treatment")
        elif status in ("completed", "in-progress", "stopped"):  # stopped: partly given
            self.given.append(Fact(med.field, "given", source, kind, when, system, None))
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
        when = first_date(res.get("authored"))
        for field, (value, _where) in answers.items():
            self.facts.append(
                Fact(
                    field,
                    value,
                    source,
                    "QuestionnaireResponse",
                    when,
                    QUESTIONNAIRE_URL,
                    field,
                    NEWEST,
                )
            )
        unknown = [f for f, (v, _) in answers.items() if v is None]
        if len(unknown) == len(answers) and not problems:
            said = f" ({', '.join(unknown)} answered unknown: they stay unknown)" if unknown else ""
            self.skip(source, f"no answer that is known{said}")
