"""Each expectation of a validation case checked against a recommendation, in words.

What a key means (``examples/validation/README.md`` has the table):

- ``preferred``: the library prefers that option (``None``: prefers none); with
  ``close_call_ok``, a flagged close call leaning the other way also holds;
- ``acceptable``: the preferred option is any of these;
- ``<option>_deferred`` / ``_not_eligible`` / ``_eligible`` and ``all_not_eligible``: the
  option's status (eligible = not "not eligible");
- ``alternatives``: non-CD19 options are offered; ``alternatives_include``: these ids are;
- ``tki_add_on``: the option carries an add-on suggested by a rule that reads the
  Philadelphia-chromosome field; with ``ponatinib``, the add-on ``ponatinib``;
- ``caution_on``: the option carries a caution or an argument against it;
- ``gvhd_both``: both options are cautioned, deferred or argued against by a rule that
  reads the GVHD field;
- ``missing_includes``: these fields are among the missing facts that matter.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from sequencer.decide.unknowns import fields_read
from sequencer.explain.corpus import Expectation
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.recommendation import Recommendation

__all__ = ["GVHD_FIELD", "PH_FIELD", "Check", "checks"]

PH_FIELD = "disease.ph"
GVHD_FIELD = "transplant.gvhd"


def _status_prefix(key: str) -> str | None:
    """The option prefix of a status key (``car_t`` of ``car_t_not_eligible``), or None."""
    for state in ("_not_eligible", "_deferred", "_eligible"):
        if key.endswith(state) and not key.startswith("all_"):
            return key[: -len(state)]
    return None


_STATUS_KEYS = {
    key: prefix for key in Expectation.model_fields if (prefix := _status_prefix(key)) is not None
}
"""Each status key of the corpus format (``car_t_deferred``, ``blin_eligible`` ...) with
its prefix, which names the option whose id starts with it."""


def _option_of(prefix: str, rec: Recommendation) -> str:
    """The id of the option a status key's prefix names (its id starts with it)."""
    named = [o.therapy for o in rec.options if o.therapy.startswith(prefix)]
    return named[0] if named else prefix


class Check(BaseModel):
    """One expectation and whether it held, in words."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    holds: bool
    text: str


def _reading(book: Rulebook, field: str) -> set[str]:
    """The rules whose firing depends on ``field`` (worked out once per rule base)."""
    reads = book.compiled("fields-read", lambda b: fields_read(b.active))
    return {rule for rule, fields in reads.items() if field in fields}


def _status(rec: Recommendation, option: str) -> str:
    for o in rec.options:
        if o.therapy == option:
            return o.status
    return "absent"


def _option_rules(rec: Recommendation, option: str) -> set[str]:
    """Every rule that cautions, defers, excludes or argues against ``option``."""
    out: set[str] = {c.rule for c in rec.warnings if c.therapy == option}
    for o in rec.options:
        if o.therapy == option:
            out |= {*o.warnings, *o.deferred_by, *o.failed_by, *o.reasons}
    for a in rec.arguments:
        if a.con_of == option:
            out |= set(a.rules)
    return out


def _preferred(e: Expectation, rec: Recommendation) -> Check:
    got = rec.preferred
    if got == e.preferred:
        return Check(key="preferred", holds=True, text=f"prefers {got or 'none'}")
    if e.close_call_ok and rec.close_call:
        return Check(key="preferred", holds=True, text=f"a close call leaning to {got}")
    return Check(
        key="preferred", holds=False, text=f"prefers {got or 'none'}, not {e.preferred or 'none'}"
    )


def _status_checks(e: Expectation, rec: Recommendation) -> list[Check]:
    out = []
    for key, prefix in _STATUS_KEYS.items():
        wanted = getattr(e, key)
        if wanted is None:
            continue
        option = _option_of(prefix, rec)
        status = _status(rec, option)
        if key.endswith("_deferred"):
            holds = status == "deferred"
        elif key.endswith("_not_eligible"):
            holds = status == "not_eligible"
        else:
            holds = status not in ("not_eligible", "absent")
        holds = holds == wanted
        out.append(Check(key=key, holds=holds, text=f"{option} is {status.replace('_', ' ')}"))
    if e.all_not_eligible is not None:
        states = [o.status for o in rec.options]
        holds = all(s == "not_eligible" for s in states) == e.all_not_eligible
        out.append(Check(key="all_not_eligible", holds=holds, text="options: " + ", ".join(states)))
    return out


def checks(e: Expectation, rec: Recommendation, book: Rulebook) -> list[Check]:
    """Return every expectation ``e`` states, checked against ``rec``."""
    out: list[Check] = []
    if "preferred" in e.model_fields_set:
        out.append(_preferred(e, rec))
    if e.acceptable is not None:
        holds = rec.preferred in e.acceptable
        shown = ", ".join(a or "none" for a in e.acceptable)
        out.append(
            Check(
                key="acceptable",
                holds=holds,
                text=f"prefers {rec.preferred or 'none'} (acceptable: {shown})",
            )
        )
    out.extend(_status_checks(e, rec))
    offered = [a.id for a in rec.alternatives]
    if e.alternatives is not None:
        holds = bool(offered) == e.alternatives
        out.append(
            Check(
                key="alternatives",
                holds=holds,
                text=f"alternatives offered: {', '.join(offered) or 'none'}",
            )
        )
    for wanted in e.alternatives_include or ():
        holds = wanted in offered
        out.append(
            Check(
                key="alternatives_include",
                holds=holds,
                text=f"{wanted} {'is' if holds else 'is not'} offered",
            )
        )
    if e.tki_add_on is not None:
        ph_rules = _reading(book, PH_FIELD)
        add_ons = [a for o in rec.options if o.therapy == e.tki_add_on for a in o.add_ons]
        tki = [a.id for a in add_ons if a.rule in ph_rules]
        out.append(
            Check(
                key="tki_add_on",
                holds=bool(tki),
                text=f"{e.tki_add_on} add-ons for Ph+: {', '.join(tki) or 'none'}",
            )
        )
        if e.ponatinib:
            holds = "ponatinib" in tki
            out.append(
                Check(
                    key="ponatinib",
                    holds=holds,
                    text=f"ponatinib {'is' if holds else 'is not'} named",
                )
            )
    if e.caution_on is not None:
        option = e.caution_on
        against = [a.id for a in rec.arguments if a.con_of == option and a.status == "counted"]
        cautions = [c.rule for c in rec.warnings if c.therapy == option]
        holds = bool(against or cautions)
        out.append(
            Check(
                key="caution_on",
                holds=holds,
                text=f"{option}: {len(cautions)} cautions, {len(against)} arguments against",
            )
        )
    if e.gvhd_both is not None:
        gvhd = _reading(book, GVHD_FIELD)
        raised = [o.therapy for o in rec.options if _option_rules(rec, o.therapy) & gvhd]
        holds = (len(raised) == len(rec.options)) == e.gvhd_both
        out.append(
            Check(
                key="gvhd_both", holds=holds, text=f"GVHD raised on: {', '.join(raised) or 'none'}"
            )
        )
    listed = [m.field for m in rec.missing]
    for field in e.missing_includes or ():
        holds = field in listed
        out.append(
            Check(
                key="missing_includes",
                holds=holds,
                text=f"{field} {'is' if holds else 'is not'} listed missing",
            )
        )
    return out
