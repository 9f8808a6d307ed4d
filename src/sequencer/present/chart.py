"""The report's bar chart (inline SVG): per option, its total and what each counted
argument added."""

from __future__ import annotations

from collections.abc import Mapping

from sequencer.model.recommendation import Recommendation
from sequencer.present.phrases import html_text as _e
from sequencer.present.phrases import (
    standing_words,
    weight_clause,
)

__all__ = ["bar_chart"]


def bar_chart(rec: Recommendation, colours: Mapping[str, str]) -> str:
    """Horizontal bars, one group per option: its total, then what each rule added."""
    width, left = 960, 8
    top_score = max([o.score for o in rec.options] + [3])
    unit = min(80.0, (width - 220) / top_score)
    rows: list[str] = []
    y = 0
    for option in rec.options:
        color = colours[option.therapy]
        y += 34
        rows.append(
            f'<text x="{left}" y="{y}" font-size="24" font-weight="700">'
            f"{_e(option.name)}: {_e(standing_words(rec, option))}"
            f"{_e(weight_clause(option))}</text>"
        )
        # not eligible: no bar and no points, a weight would read as support for what
        # cannot be given; only what rules it out is drawn
        shown = option.status != "not_eligible"
        if shown:
            y += 10
            bar = max(option.score * unit, 2)
            rows.append(
                f'<rect x="{left}" y="{y}" width="{bar:.1f}" height="30" fill="{color}">'
                f"<title>{_e(option.name)}: weight of arguments {option.score}</title></rect>"
            )
            rows.append(
                f'<text x="{left + bar + 10:.1f}" y="{y + 22}" font-size="20" font-weight="700">'
                f"{option.score}</text>"
            )
            y += 30
        reasons = [
            r
            for r in rec.reasons
            if r.therapy == option.therapy
            and (r.effect != "favors" or (r.status == "counted" and shown))
        ]
        if not reasons:
            y += 28
            rows.append(
                f'<text x="{left}" y="{y}" font-size="18">No rule adds to this option.</text>'
            )
        for reason in reasons:
            y += 30
            if reason.effect in ("not_eligible", "deferred"):
                word = "Not eligible" if reason.effect == "not_eligible" else "Deferred"
                rows.append(
                    f'<text x="{left}" y="{y}" font-size="18" fill="#8a0000" font-weight="700">'
                    f"{word}: {_e(reason.title)} ({_e(reason.rule)})</text>"
                )
                y += 8
                rows.append(
                    f'<rect x="{left}" y="{y}" width="{3 * unit:.1f}" height="16" '
                    'fill="url(#hatch)" stroke="#8a0000" stroke-width="2"/>'
                )
                y += 16
                continue
            rows.append(
                f'<text x="{left}" y="{y}" font-size="18">+{reason.weight} '
                f"{_e(reason.title)}</text>"
            )
            y += 8
            rows.append(
                f'<rect x="{left}" y="{y}" width="{reason.weight * unit:.1f}" height="16" '
                f'fill="{color}" fill-opacity="0.55" stroke="{color}" stroke-width="2">'
                f"<title>{_e(reason.rule)}: +{reason.weight}</title></rect>"
            )
            y += 16
        y += 14
    height = y + 6
    described = "; ".join(
        f"{o.name}{weight_clause(o)} ({standing_words(rec, o)})" for o in rec.options
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="chart-title chart-desc" '
        f'font-family="DejaVu Sans, Noto Sans, Arial, sans-serif" fill="#111">'
        '<title id="chart-title">What each rule added to each option</title>'
        f'<desc id="chart-desc">{_e(described)}</desc>'
        '<defs><pattern id="hatch" width="10" height="10" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="10" height="10" fill="#fff"/>'
        '<line x1="0" y1="0" x2="0" y2="10" stroke="#8a0000" stroke-width="5"/></pattern>'
        "</defs>" + "".join(rows) + "</svg>"
    )
