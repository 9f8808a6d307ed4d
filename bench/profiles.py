"""A seeded generator of valid v1 profiles for benchmarks (no Hypothesis needed).

Covers every enumeration value, unknowns, and the numeric edges the rules use, drawn
uniformly; the same seed gives the same profiles on every machine.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

_NONE = None


def _maybe(rng: random.Random, values: list[Any]) -> Any:
    return rng.choice([*values, _NONE])


def profile(rng: random.Random, index: int) -> dict[str, Any]:
    """Return one valid profile dict."""
    status = _maybe(rng, ["relapsed", "refractory", "mrd_positive"])
    if status == "mrd_positive":
        blasts = _maybe(rng, [0, 1, 4.9])
        mrd = _maybe(rng, [0.00005, 0.01, 0.1, 0.15, 2])
    else:
        blasts = _maybe(rng, [0, 5, 10, 30, 49.9, 50, 80, 100])
        mrd = _maybe(rng, [0.01, 0.5])
    ph = rng.choice(["positive", "negative", "unknown"])
    abl1 = _maybe(rng, [[], ["T315I"], ["E255K"]]) if ph != "negative" else _maybe(rng, [[]])
    prior = _maybe(rng, [True, False])
    return {
        "id": f"bench-{index}",
        "age": _maybe(rng, [18, 22, 25, 26, 40, 60, 61, 64, 65, 75, 100]),
        "ecog": _maybe(rng, [0, 1, 2, 3, 4]),
        "disease": {
            "status": status,
            "marrow_blasts_pct": blasts,
            "mrd_pct": mrd,
            "cd19": rng.choice(["positive", "positive", "dim", "negative", "unknown"]),
            "ph": ph,
            "abl1_mutations": abl1,
            "kmt2a_rearranged": _maybe(rng, [True, False]),
            "cns": rng.choice(["CNS1", "CNS2", "CNS3", "unknown"]),
            "cns_relapse_history": _maybe(rng, [True, False]),
            "extramedullary": rng.choice(["none", "present", "bulky", "unknown"]),
            "rapidly_progressing": _maybe(rng, [True, False]),
        },
        "transplant": {
            "prior_allo_hct": prior,
            "months_since_hct": None if prior is False else _maybe(rng, [3, 5.9, 6, 11.9, 24]),
            "on_immunosuppression": _maybe(rng, [True, False]),
            "gvhd": (None if prior is False else _maybe(rng, ["none", "resolved", "active"])),
            "donor": rng.choice(
                [
                    "matched_sibling",
                    "matched_unrelated",
                    "haploidentical",
                    "cord",
                    "none",
                    "unknown",
                ]
            ),
            "candidate": _maybe(rng, [True, False]),
        },
        "prior_therapy": {
            "blinatumomab": _maybe(rng, ["none", "responded", "refractory"]),
            "car_t": _maybe(rng, ["none", "responded", "refractory"]),
            "ponatinib": _maybe(rng, ["none", "responded", "refractory"]),
        },
        "access": {"car_t": _maybe(rng, ["approved", "trial", "unavailable"])},
        "immune": {"t_cell_depleted": _maybe(rng, [True, False])},
    }


def profiles(count: int, seed: int = 2020) -> Iterator[dict[str, Any]]:
    """Yield ``count`` profiles, lazily (constant memory)."""
    rng = random.Random(seed)
    for index in range(count):
        item = profile(rng, index)
        disease = item["disease"]
        if (
            disease["status"] in ("relapsed", "refractory")
            and disease["marrow_blasts_pct"] == 0
            and disease["mrd_pct"] in (None, 0)
            and (disease["cns"], disease["extramedullary"]) == ("CNS1", "none")
        ):
            disease["marrow_blasts_pct"] = None  # no site of disease: a contradiction
        yield item
