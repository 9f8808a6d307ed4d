"""The FHIR codes sequencer reads (``fhir-codes.yaml``, shipped in the package), loaded
once into strict models: which Observation, Condition and medication codes fill which
profile field, and where each code was verified."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sequencer.errors import RuleBaseError
from sequencer.knowledge.yamlsource import load_yaml
from sequencer.model.fields import FIELDS

__all__ = [
    "CODES_FILE",
    "AminoAcids",
    "Code",
    "CodeTable",
    "ConditionMap",
    "GenomicVariantMap",
    "MedicationMap",
    "ObservationMap",
    "Recognised",
    "VariantListMap",
    "VerificationStatus",
    "code_table",
    "load_code_table",
]

CODES_FILE = Path(__file__).with_name("fhir-codes.yaml")

_STRICT = ConfigDict(extra="forbid", frozen=True)

Text = Annotated[str, Field(min_length=1)]


class Code(BaseModel):
    """One code: its system (a key of ``systems``), code and display, and where it was
    verified when that is not its group's ``verified``."""

    model_config = _STRICT
    system: Text
    code: Text
    display: Text
    verified: str | None = None


class Answer(Code):
    """A coded Observation value and the profile value it means."""

    value: Text
    verified: Text


class ObservationMap(BaseModel):
    """Observation.code -> a profile field."""

    model_config = _STRICT
    field: Text
    code: Code
    value: Literal["integer", "coded", "quantity"]
    verified: Text
    newest_wins: bool
    why: Text
    mcode: str | None = None
    interpretation: str | None = None
    caveat: str | None = None
    unit: Code | None = None
    answers: list[Answer] = []

    @model_validator(mode="after")
    def _unit_for_quantity(self) -> ObservationMap:
        if (self.value == "quantity") != (self.unit is not None):
            raise ValueError("a quantity needs its unit, and only a quantity has one")
        return self


class GenomicVariantMap(BaseModel):
    """An mCODE GenomicVariant of exactly ``genes`` (its gene-studied components) -> a
    profile field, from its coded value (present, absent)."""

    model_config = _STRICT
    field: Text
    code: Code
    gene_component: Code
    genes: Annotated[list[Code], Field(min_length=1)]
    verified: Text
    mcode: str | None = None
    why: Text
    answers: Annotated[list[Answer], Field(min_length=1)]


class VariantListMap(BaseModel):
    """mCODE GenomicVariants of exactly ``gene``, present, gathered into one list field:
    each one's amino-acid change (an HGVS protein description in ``change_component``)
    written in one-letter codes."""

    model_config = _STRICT
    field: Text
    code: Code
    gene_component: Code
    gene: Code
    change_component: Code
    change_system: Text
    present: Code
    verified: Text
    mcode: str | None = None
    why: Text


class AminoAcids(BaseModel):
    """Three-letter amino-acid symbols -> one-letter ones."""

    model_config = _STRICT
    verified: Text
    letters: dict[
        Annotated[str, Field(pattern=r"^[A-Z][a-z]{2}$")], Annotated[str, Field(pattern=r"^[A-Z]$")]
    ]


class ClinicalStatus(BaseModel):
    """Condition.clinicalStatus codes -> the profile's values."""

    model_config = _STRICT
    system: Text
    verified: Text
    values: dict[str, Text]


class VerificationStatus(BaseModel):
    """Condition.verificationStatus codes under which a Condition is read."""

    model_config = _STRICT
    system: Text
    verified: Text
    accepted: Annotated[list[Text], Field(min_length=1)]


class ConditionMap(BaseModel):
    """Condition.code (any of ``codes``) -> a profile field, by clinical status; several
    Conditions combine as ``combine`` says (``any-active``: one active one makes it active)."""

    model_config = _STRICT
    field: Text
    codes: Annotated[list[Code], Field(min_length=1)]
    verified: Text
    combine: Literal["any-active"]
    verification_status: VerificationStatus
    clinical_status: ClinicalStatus


class MedicationMap(BaseModel):
    """Medication codes of one product -> the field it shows (given, or current)."""

    model_config = _STRICT
    name: Text
    field: Text
    use: Literal["given", "current"]
    option: str | None = None
    verified: Text
    ingredient: Code | None = None
    codes: Annotated[list[Code], Field(min_length=1)]

    def all_codes(self) -> list[Code]:
        """The ingredient (when named) and every product code."""
        return ([self.ingredient] if self.ingredient else []) + list(self.codes)


class Recognised(BaseModel):
    """Condition codes recognised but mapped to no profile field, and why."""

    model_config = _STRICT
    what: Text
    why: Text
    verified: Text
    codes: Annotated[list[Code], Field(min_length=1)]


class LeftOut(BaseModel):
    """A code looked for and not verified, so not read."""

    model_config = _STRICT
    what: Text
    why: Text


class CodeTable(BaseModel):
    """The whole file; every field named is a profile field, every system declared."""

    model_config = _STRICT
    systems: dict[str, Text]
    observations: list[ObservationMap]
    genomic_variants: list[GenomicVariantMap] = []
    variant_lists: list[VariantListMap] = []
    amino_acids: AminoAcids | None = None
    conditions: list[ConditionMap]
    medications: list[MedicationMap]
    recognised: list[Recognised] = []
    recognised_procedures: list[Recognised] = []
    standard_only: list[Text]
    left_out: list[LeftOut]

    @model_validator(mode="after")
    def _consistent(self) -> CodeTable:
        fields = [o.field for o in self.observations] + [c.field for c in self.conditions]
        fields += [g.field for g in self.genomic_variants]
        fields += [v.field for v in self.variant_lists]
        if self.variant_lists and self.amino_acids is None:
            raise ValueError("variant_lists need the amino_acids table")
        fields += [m.field for m in self.medications] + list(self.standard_only)
        unknown = sorted({f for f in fields if f not in FIELDS and f != "age"})
        if unknown:
            raise ValueError(f"not profile fields: {', '.join(unknown)}")
        codes: list[Code] = [o.code for o in self.observations]
        codes += [a for o in self.observations for a in o.answers]
        codes += [c for m in self.conditions for c in m.codes]
        codes += [c for m in self.medications for c in m.all_codes()]
        codes += [o.unit for o in self.observations if o.unit is not None]
        codes += [c for r in [*self.recognised, *self.recognised_procedures] for c in r.codes]
        for g in self.genomic_variants:
            codes += [g.code, g.gene_component, *g.genes, *g.answers]
        for v in self.variant_lists:
            codes += [v.code, v.gene_component, v.gene, v.change_component, v.present]
        systems = {c.system for c in codes} | {c.clinical_status.system for c in self.conditions}
        systems |= {v.change_system for v in self.variant_lists}
        systems |= {c.verification_status.system for c in self.conditions}
        undeclared = sorted(systems - set(self.systems))
        if undeclared:
            raise ValueError(f"code systems not declared under systems: {', '.join(undeclared)}")
        return self

    def uri(self, system: str) -> str:
        """The system URI of a short system name (``loinc`` -> ``http://loinc.org``)."""
        return self.systems[system]


def load_code_table(path: Path = CODES_FILE) -> CodeTable:
    """Load and check a code table file.

    Raises ``RuleBaseError`` (file and line) when it is unreadable or malformed.
    """
    located = load_yaml(path)
    try:
        return CodeTable.model_validate(located.data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        line = located.line_of([p for p in first["loc"] if isinstance(p, int | str)])
        where = ".".join(str(p) for p in first["loc"])
        raise RuleBaseError(f"{where}: {first['msg']}", path=path, line=line) from None


@cache
def code_table() -> CodeTable:
    """The shipped code table, loaded once. Raises ``RuleBaseError`` if it is broken."""
    return load_code_table()
