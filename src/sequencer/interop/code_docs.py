"""The FHIR code table (``interop/fhir-codes.yaml``) as Markdown, for the documentation
site: generated when the site is built, so the page cannot drift from the data."""

from __future__ import annotations

from collections.abc import Sequence

from sequencer.interop.codes import Code, CodeTable, code_table

__all__ = ["markdown_code_table"]


def _cell(text: str) -> str:
    """Return ``text`` safe inside a Markdown table cell (pipes and line breaks escaped)."""
    return " ".join(text.split()).replace("|", "\\|")


def _codes(table: CodeTable, codes: Sequence[Code]) -> str:
    return "<br>".join(
        f"{_cell(table.uri(c.system))} `{_cell(c.code)}` {_cell(c.display)}" for c in codes
    )


def markdown_code_table(table: CodeTable | None = None) -> str:
    """Return the code table (default: the shipped one) as Markdown: per resource type,
    every code read, the profile field it fills and where the code was verified; then
    what is read only from the QuestionnaireResponse and the codes left out."""
    table = table or code_table()
    out = [
        "| resource | codes read | profile field | verified at |",
        "|---|---|---|---|",
    ]
    for o in table.observations:
        answers = f"<br>values: {_codes(table, o.answers)}" if o.answers else ""
        out.append(
            f"| Observation ({o.value}) | {_codes(table, [o.code])}{answers} | `{o.field}` "
            f"| <{o.verified}> |"
        )
    for c in table.conditions:
        out.append(f"| Condition | {_codes(table, c.codes)} | `{c.field}` | <{c.verified}> |")
    for m in table.medications:
        out.append(
            f"| Medication ({_cell(m.name)}, {m.use}) | {_codes(table, m.codes)} "
            f"| `{m.field}` | <{m.verified}> |"
        )
    for g in table.genomic_variants:
        profile = f", mCODE {_cell(g.mcode)}" if g.mcode else ""
        out.append(
            f"| Observation (genomic variant{profile}) | {_codes(table, [g.code])}<br>genes: "
            f"{_codes(table, g.genes)} | `{g.field}` | <{g.verified}> |"
        )
    for v in table.variant_lists:
        profile = f", mCODE {_cell(v.mcode)}" if v.mcode else ""
        out.append(
            f"| Observation (variant list{profile}) | {_codes(table, [v.code])}<br>gene: "
            f"{_codes(table, [v.gene])}, change: {_codes(table, [v.change_component])} "
            f"| `{v.field}` | <{v.verified}> |"
        )
    recognised = [*table.recognised, *table.recognised_procedures]
    if recognised:
        out += ["", "Recognised and listed, filling no field:", ""]
        out += [
            f"- {_cell(r.what)} ({_codes(table, r.codes)}): {_cell(r.why)} Verified at "
            f"<{r.verified}>."
            for r in recognised
        ]
    out += [
        "",
        "Read only from the QuestionnaireResponse: "
        + ", ".join(f"`{f}`" for f in table.standard_only)
        + ".",
        "",
        "Looked for and left out (not verified, so not read):",
        "",
    ]
    out += [f"- {_cell(x.what)}: {_cell(x.why)}" for x in table.left_out]
    return "\n".join(out) + "\n"
