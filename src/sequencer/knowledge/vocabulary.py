"""Plain-language words for profile fields, their values and rule conditions.

Shared by the what-if list, the case report and teaching mode, so that a field reads
the same everywhere ("CNS status (CSF)", "CNS2: blasts in the CSF"). Every field of
the profile format has a label here; a test fails when a new field lacks one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from sequencer.knowledge.conditions import evaluate, parse_condition
from sequencer.knowledge.contexts import ACCESS_FIELD
from sequencer.knowledge.schema import (
    AddOn,
    Caution,
    Defer,
    Derive,
    Failed,
    Favors,
    HoldsBack,
    Missing,
    NotEligible,
    Rule,
    SetsAside,
    SuggestOutsideTherapy,
)
from sequencer.model.fields import FIELDS, flatten, is_unknown
from sequencer.model.profile import PatientProfile

if TYPE_CHECKING:  # the rule base is built from this module's layer; only its type here
    from sequencer.knowledge.rulebook import Rulebook

__all__ = [
    "Establish",
    "MootRule",
    "VignetteWords",
    "Vocabulary",
    "VocabularyFile",
    "effect_summary",
    "effect_words",
    "lower_label",
    "unknown_fields",
]


class MootRule(BaseModel):
    """Unknown fields not asked for when a condition on the known ones holds."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    when: dict[str, Any]
    fields: Annotated[list[str], Field(min_length=1)]


class VignetteWords(BaseModel):
    """The words a case vignette builds its sentences from."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    disease: Annotated[str, Field(min_length=2)]
    phrases: dict[str, dict[str, Annotated[str, Field(min_length=2)]]]
    prior_therapies: dict[str, Annotated[str, Field(min_length=2)]]
    mention_only_when_given: list[str] = []


class Establish(BaseModel):
    """How a board establishes an unknown fact: the work-up, and whether it is an order."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    how: Annotated[str, Field(min_length=5)]
    order: bool = False


class VocabularyFile(BaseModel):
    """``rules/vocabulary.yaml``: words for the profile's fields and values."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    labels: dict[str, Annotated[str, Field(min_length=2)]]
    values: dict[str, dict[str, Annotated[str, Field(min_length=1)]]] = {}
    in_conditions: dict[str, dict[str, str]] = {}
    """Accepted so that rule bases written before 0.4 still load; nothing reads it (it
    named values in a rule's condition for a view no longer built)."""
    units: dict[str, str] = {}
    moot: list[MootRule] = []
    vignette: VignetteWords
    establish: dict[str, Establish] = {}
    override_reasons: dict[
        Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")],
        Annotated[str, Field(min_length=5)],
    ] = {}


class Vocabulary:
    """The rule base's words for fields, values, conditions and cases."""

    def __init__(self, data: VocabularyFile) -> None:
        self.labels: Mapping[str, str] = data.labels
        self._values = data.values
        self._units = data.units
        self._moot = [(parse_condition(m.when).profile, tuple(m.fields)) for m in data.moot]
        self._vignette = data.vignette
        self.establish: Mapping[str, Establish] = data.establish
        self.override_reasons: Mapping[str, str] = data.override_reasons

    def _phrase(self, field: str, value: Any, default: str | None = None) -> str | None:
        """The vignette's words for a field's value (booleans as ``true``/``false``)."""
        key = str(value).lower() if isinstance(value, bool) else str(value)
        return self._vignette.phrases.get(field, {}).get(key, default)

    def label(self, field: str) -> str:
        """Return the plain-language name of a profile field (the path itself if unknown)."""
        return self.labels.get(field, field)

    def unit(self, field: str) -> str:
        """Return the unit words that follow a number of ``field`` ("" when none)."""
        return self._units.get(field, "")

    def value_text(self, field: str, value: Any) -> str:
        """Return a profile value in plain language; ``None`` or ``"unknown"`` is 'not known'."""
        spec = FIELDS.get(field)
        if value is None or (spec is not None and value == spec.unknown_value):
            return "not known"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int | float):
            return _number(value) + self._units.get(field, "")
        if isinstance(value, list | tuple):
            words = (self.value_text(field, str(v)) for v in value)
            return ", ".join(words) if value else "tested, none found"
        return self._values.get(field, {}).get(str(value), str(value).replace("_", " "))

    def known_facts(self, profile: PatientProfile) -> list[tuple[str, str, str]]:
        """Return (field, label, value in words) for every known field, in format order."""
        return [
            (field, self.label(field), self.value_text(field, value))
            for field, value in flatten(profile).items()
            if not is_unknown(field, value)
        ]

    def fact_text(self, field: str, value: Any) -> str:
        """Return one known fact as a statement: the vignette's clause for the value when
        it is a whole clause (``The blasts express CD19``, ``There is no GVHD``), else
        ``Label: value``."""
        phrase = self._phrase(field, value)
        if phrase and phrase.split(" ", 1)[0] in ("the", "there"):
            return _sentence(phrase).rstrip(".")
        return f"{self.label(field)}: {self.value_text(field, value)}"

    def vignette(self, profile: PatientProfile, setting: str | None = None) -> str:
        """Return a plain-language case vignette written from the profile's fields.

        Nothing is copied from elsewhere: each sentence is generated from one group of
        fields, and the unknown fields are named at the end. ``setting`` (a regulatory
        context's title) says where and when access to CAR T cells applies.
        """
        d, t = profile.disease, profile.transplant
        who = f"A {profile.age}-year-old adult" if profile.age is not None else "An adult"
        kinds = [
            k
            for k in (
                self._phrase("disease.ph", d.ph),
                self._phrase("disease.kmt2a_rearranged", d.kmt2a_rearranged),
            )
            if k
        ]
        disease = " ".join([*kinds, self._vignette.disease])
        status = f" {self._phrase('disease.status', d.status)}" if d.status else ""
        out = [_sentence(f"{who} with {disease}{status}")]

        burden = []
        if d.marrow_blasts_pct is not None:
            burden.append(f"the marrow holds {d.marrow_blasts_pct:g}% blasts")
        if d.mrd_pct is not None:
            burden.append(f"MRD is {d.mrd_pct:g}%")
        cd19 = self._phrase("disease.cd19", d.cd19) or self._phrase("disease.cd19", "unknown")
        if cd19:
            burden.append(cd19)
        out.append(_sentence("; ".join(burden)))

        sites = []
        cns = self._phrase("disease.cns", d.cns)
        if cns:
            sites.append(cns)
        if d.cns_relapse_history is True:
            sites.append("there was a CNS relapse in the past")
        elif d.cns_relapse_history is False:
            sites.append("there has never been a CNS relapse")
        extramedullary = self._phrase("disease.extramedullary", d.extramedullary)
        if extramedullary:
            sites.append(extramedullary)
        if sites:
            out.append(_sentence("; ".join(sites)))
        if d.rapidly_progressing is True:
            out.append("The leukemia is progressing fast: a wait of several weeks is not safe.")
        elif d.rapidly_progressing is False:
            out.append("The leukemia is not progressing so fast that a few weeks' wait is unsafe.")

        if t.prior_allo_hct is False:
            out.append("There has been no allogeneic transplant.")
        elif t.prior_allo_hct:
            when = (
                f"{t.months_since_hct:g} months after an allogeneic transplant"
                if t.months_since_hct is not None
                else "after an allogeneic transplant"
            )
            after = [f"this relapse came {when}"]
            if t.on_immunosuppression is True:
                after.append("immunosuppression continues")
            elif t.on_immunosuppression is False:
                after.append("immunosuppression has stopped")
            gvhd = self._phrase("transplant.gvhd", t.gvhd)
            if gvhd:
                after.append(gvhd)
            out.append(_sentence("; ".join(after)))
        if t.candidate is True:
            donor = self._phrase("transplant.donor", t.donor) or self._phrase(
                "transplant.donor", "unknown"
            )
            further = "further " if t.prior_allo_hct else ""
            out.append(f"A {further}transplant is planned, with {donor}.")
        elif t.candidate is False:
            further = "further " if t.prior_allo_hct else ""
            out.append(f"No {further}transplant is planned.")
        elif t.prior_allo_hct:
            out.append("Whether a second transplant will be possible is uncertain.")

        facts = flatten(profile)
        quiet = set(self._vignette.mention_only_when_given)
        before = [
            text
            for field, drug in self._vignette.prior_therapies.items()
            if not (field in quiet and facts[field] == "none")
            for text in (_prior(drug, facts[field]),)
            if text
        ]
        if before:
            out.append(_sentence("; ".join(before)))
        fitness = []
        if profile.ecog is not None:
            fitness.append(f"ECOG performance status is {profile.ecog}")
        if profile.immune.t_cell_depleted is True:
            fitness.append("T-cell counts are markedly low")
        if fitness:
            out.append(_sentence("; ".join(fitness)))
        if profile.access.car_t is not None:
            where = f" ({setting.split(' (')[0]})" if setting else ""
            access = self._phrase(ACCESS_FIELD, profile.access.car_t)
            if access:
                out.append(_sentence(access + where))
        unknown = [lower_label(self.label(f)) for f in self.relevant_unknowns(profile)]
        if unknown:
            out.append("Not reported: " + ", ".join(unknown) + ".")
        return " ".join(out)

    def relevant_unknowns(self, profile: PatientProfile) -> list[str]:
        """Return the unknown fields, less those the known ones make moot (the
        vocabulary's ``moot`` list: transplant details without a transplant, say)."""
        facts = flatten(profile)
        moot = {f for node, fields in self._moot if evaluate(node, facts) for f in fields}
        return [f for f in unknown_fields(profile) if f not in moot]


def _number(value: float) -> str:
    return f"{value:g}"


def unknown_fields(profile: PatientProfile) -> list[str]:
    """Return the fields the profile leaves unknown, in format order."""
    return [f for f, v in flatten(profile).items() if is_unknown(f, v)]


# --- a case vignette built from the profile -------------------------------------------


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _prior(drug: str, answer: str | None) -> str | None:
    if answer == "responded":
        return f"{drug} was given before and the leukemia responded"
    if answer == "refractory":
        return f"{drug} was given before without response"
    if answer == "consolidation":
        return f"{drug} was given as consolidation in first remission"
    if answer == "none":
        return f"no {drug} so far"
    return None


def lower_label(text: str) -> str:
    """Lower-case a leading capital unless it starts an acronym (``ECOG``, ``MRD``)."""
    if text[1:2].isupper() or text.startswith("Philadelphia"):
        return text
    return text[:1].lower() + text[1:]


# --- a rule's effects in words (the one place effects become words) ----------


def effect_summary(rule: Rule) -> str:
    """A rule's effects as the catalogue lists them (``argues x, favoring car_t
    (moderate); caution: car_t``)."""
    parts = []
    for e in rule.then:
        if isinstance(e, Favors):
            parts.append(f"argues {e.argues}, favoring {e.favors} ({e.strength})")
        elif isinstance(e, Failed):
            parts.append(f"failed: {e.failed} (its arguments set aside)")
        elif isinstance(e, SetsAside):
            parts.append(f"sets aside: {', '.join(e.sets_aside)}")
        elif isinstance(e, Defer):
            parts.append(f"deferred: {', '.join(e.defer)} until {' '.join(e.until.split())}")
        elif isinstance(e, NotEligible):
            parts.append(f"not eligible: {', '.join(e.not_eligible)}")
        elif isinstance(e, Caution):
            parts.append(f"caution: {', '.join(e.caution)}")
        elif isinstance(e, Missing):
            parts.append(f"missing: {e.missing}")
        elif isinstance(e, AddOn):
            parts.append(f"add-on to {e.to}: {e.name}")
        elif isinstance(e, SuggestOutsideTherapy):
            parts.append(f"alternative: {e.alternative}")
        elif isinstance(e, Derive):
            parts.append(f"derives: {e.derive}")
        elif isinstance(e, HoldsBack):
            parts.append(f"holds back {e.holds_back} until {' '.join(e.until.split())}")
    return "; ".join(parts)


def effect_words(book: Rulebook, rule: Rule, plain: bool = False) -> tuple[str, bool]:
    """A rule's effects as a what-if line names them (``CD19 CAR T cells +2
    (argument)``), and whether any of them can change the choice. With ``plain`` the
    arguments, fields and alternatives are named in words (titles, labels, names)
    instead of by their ids."""
    names = book.option_names

    def argument(arg_id: str) -> str:
        found = book.arguments.get(arg_id)
        return lower_label(found.title) if plain and found is not None else arg_id

    def field(path: str) -> str:
        return lower_label(book.vocabulary.label(path)) if plain else path

    def alternative(alt_id: str) -> str:
        found = book.alternatives.get(alt_id)
        return found.name if plain and found is not None else alt_id

    parts: list[str] = []
    decisive = False
    for effect in rule.then:
        if isinstance(effect, Favors):
            favors = names[str(effect.favors)]
            parts.append(f"{favors} +{book.weights[effect.strength]} ({argument(effect.argues)})")
            decisive = True
        elif isinstance(effect, Failed):
            parts.append(f"{names[effect.failed]} failed: its arguments set aside")
            decisive = True
        elif isinstance(effect, SetsAside):
            parts.append(f"sets aside {', '.join(argument(a) for a in effect.sets_aside)}")
            decisive = True
        elif isinstance(effect, Defer):
            parts.append(f"{_option_list(book, effect.defer)} deferred")
            decisive = True
        elif isinstance(effect, NotEligible):
            parts.append(f"{_option_list(book, effect.not_eligible)} not eligible")
            decisive = True
        elif isinstance(effect, Missing):
            if effect.blocking:
                parts.append(f"blocks the choice until {field(effect.missing)} is known")
                decisive = True
            else:
                parts.append(f"asks for {field(effect.missing)}")
        elif isinstance(effect, Caution):
            parts.append(f"caution on {_option_list(book, effect.caution)}")
        elif isinstance(effect, AddOn):
            parts.append(f"add-on: {effect.name}")
        elif isinstance(effect, SuggestOutsideTherapy):
            parts.append(f"suggests {alternative(effect.alternative)}")
        elif isinstance(effect, HoldsBack):
            parts.append(f"{effect.holds_back} waits")
    return "; ".join(parts) or "derives a concept", decisive


def _option_list(book: Rulebook, options: Iterable[str]) -> str:
    return " and ".join(book.option_names[t] for t in options)
