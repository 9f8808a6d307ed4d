"""Audit of recommendation quality on a seeded sample of generated profiles (a measurement).

Run from the checkout, with the package installed (``make install``)::

    python bench/audit.py --n 3000 --seed 7 [--context us-2026] [--json out.json]

It draws ``--n`` realistic, valid v1 profiles from its own seeded generator (about a
quarter of the fields unknown, ``--unknown-rate``), skips and counts any the library
rejects with ``ProfileError``, and measures:

a. "no preference": the share of profiles where ``preferred`` is None while an option
   is still open. Strict: some option is ``alternative`` and the summary starts with
   "No preference". Generic: some option's status is neither ``not_eligible`` nor
   ``deferred``.
b. preferring a therapy that has failed: ``preferred`` is a therapy whose
   ``prior_therapy`` entry is ``refractory``; and, among patients refractory to
   blinatumomab with CD19 ``positive``/``dim`` disease and CAR T access not
   ``unavailable`` (as given in the input, null included), the share still preferring
   blinatumomab.
c. missing-fact completeness, by substitution: every unknown field of a profile is set
   in turn to candidate values (both booleans; every enumeration value but "unknown";
   for numbers, each threshold the rule conditions use, +/- a small step, plus ages 25,
   26, 60, 61, 64, 65; for lists [] and ["T315I"]). A field *matters* when some valid
   value changes the preferred option or any option's status. Completeness is the share
   of profiles whose every mattering field is listed in ``missing``; also the share of
   (profile, mattering field) pairs listed, the top uncovered fields, and the share of
   listed unknown fields that matter. ``access.car_t`` counts as unknown only when the
   input leaves it null (the library may derive it from age and context), so
   completeness is also given ignoring it.
d. the preferred outcomes, for context.

Only the public API is used: ``recommend``, ``default_rulebook`` (for the thresholds),
``sequencer.model.profile.FIELDS``, ``sequencer.knowledge.conditions`` and ``ProfileError``.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sequencer import default_rulebook, recommend
from sequencer.errors import ProfileError
from sequencer.knowledge.conditions import AllOf, AnyOf, Compare
from sequencer.model.fields import FIELDS

THERAPIES = ("blinatumomab", "car_t")
CLOSED = frozenset({"not_eligible", "deferred"})
AGE_EXTRAS = (25, 26, 60, 61, 64, 65)
LIST_CANDIDATES: tuple[list[str], ...] = ([], ["T315I"])
DERIVED = "access.car_t"  # the library may fill it in from age and context
NUMERIC_OPS = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "in", "not_in"})

Outcome = tuple[str | None, tuple[tuple[str, str], ...]]


# --- the generator ------------------------------------------------------------------


class Generator:
    """Seeded, realistic, valid v1 profiles (no Hypothesis)."""

    def __init__(self, seed: int, unknown_rate: float) -> None:
        self.rng = random.Random(seed)
        self.p = unknown_rate

    def maybe(self, values: Sequence[Any], weights: Sequence[float] | None = None) -> Any:
        """One of ``values`` (weighted), or None at the unknown rate."""
        if self.rng.random() < self.p:
            return None
        return self.rng.choices(list(values), weights=weights)[0]

    def known(self) -> bool:
        return self.rng.random() >= self.p

    def age(self) -> int | None:
        if not self.known():
            return None
        if self.rng.random() < 0.3:
            return self.rng.choice([18, 25, 26, 40, 60, 61, 64, 65, 75])
        return self.rng.randint(18, 85)

    def blasts(self, status: str | None) -> float | None:
        if not self.known():
            return None
        if status == "mrd_positive":
            return self.rng.choice([0, 0.5, 1, 2, 4.9, round(self.rng.uniform(0, 4.99), 2)])
        if self.rng.random() < 0.25:
            return self.rng.choice([0, 4.9, 5, 5.1, 49.9, 50, 75, 75.1, 100])
        return round(self.rng.uniform(0, 100), 1)

    def mrd(self, status: str | None) -> float | None:
        if not self.known():
            return None
        if status == "mrd_positive":
            if self.rng.random() < 0.4:
                return self.rng.choice([0.0001, 0.001, 0.01, 0.05, 0.099, 0.1, 0.5, 1, 4.9])
            return round(10 ** self.rng.uniform(-4, 0.69), 5)
        return round(10 ** self.rng.uniform(-3, 2), 4)

    def months(self) -> float | None:
        if not self.known():
            return None
        if self.rng.random() < 0.3:
            return self.rng.choice([3, 5.9, 6, 11.9, 12, 24])
        return round(self.rng.uniform(0, 120), 1)

    def profile(self, index: int) -> dict[str, Any]:
        m = self.maybe
        status = m(["relapsed", "refractory", "mrd_positive"], [45, 30, 25])
        ph = m(["positive", "negative", "unknown"], [25, 65, 10])
        abl1: list[str] | None
        if ph == "negative":
            abl1 = self.rng.choice([None, []])
        else:
            abl1 = m([[], ["T315I"], ["E255K"], ["T315I", "E255K"]], [60, 20, 15, 5])
        prior_hct = m([True, False], [40, 60])
        if prior_hct is False:
            months, gvhd = None, self.rng.choice([None, "none"])
        else:
            months, gvhd = self.months(), m(["none", "resolved", "active"], [50, 35, 15])
        response = ["none", "responded", "refractory"]
        return {
            "id": f"audit-{index}",
            "age": self.age(),
            "ecog": m([0, 1, 2, 3, 4], [25, 35, 20, 12, 8]),
            "disease": {
                "status": status,
                "marrow_blasts_pct": self.blasts(status),
                "mrd_pct": self.mrd(status),
                "cd19": m(["positive", "dim", "negative", "unknown"], [65, 15, 12, 8]),
                "ph": ph,
                "abl1_mutations": abl1,
                "kmt2a_rearranged": m([True, False], [12, 88]),
                "cns": m(["CNS1", "CNS2", "CNS3", "unknown"], [75, 8, 10, 7]),
                "cns_relapse_history": m([True, False], [15, 85]),
                "extramedullary": m(["none", "present", "bulky", "unknown"], [70, 15, 8, 7]),
                "rapidly_progressing": m([True, False], [30, 70]),
            },
            "transplant": {
                "prior_allo_hct": prior_hct,
                "months_since_hct": months,
                "on_immunosuppression": m([True, False], [20, 80]),
                "gvhd": gvhd,
                "donor": m(
                    [
                        "matched_sibling",
                        "matched_unrelated",
                        "haploidentical",
                        "cord",
                        "none",
                        "unknown",
                    ],
                    [25, 25, 25, 5, 10, 10],
                ),
                "candidate": m([True, False], [60, 40]),
            },
            "prior_therapy": {
                "blinatumomab": m(response, [50, 25, 25]),
                "car_t": m(response, [75, 10, 15]),
                "ponatinib": m(response, [70, 15, 15]),
            },
            "access": {"car_t": m(["approved", "trial", "unavailable"], [60, 20, 20])},
            "immune": {"t_cell_depleted": m([True, False], [20, 80])},
        }


# --- profile paths ------------------------------------------------------------------


def get_path(profile: dict[str, Any], path: str) -> Any:
    node: Any = profile
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def with_value(profile: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``profile`` with ``path`` set (sections along the path copied)."""
    out = dict(profile)
    node = out
    parts = path.split(".")
    for part in parts[:-1]:
        child = dict(node.get(part) or {})
        node[part] = child
        node = child
    node[parts[-1]] = copy.copy(value)
    return out


def is_unknown(profile: dict[str, Any], path: str) -> bool:
    value = get_path(profile, path)
    return value is None or value == FIELDS[path].unknown_value


# --- candidate values -----------------------------------------------------------------


def _compares(node: Any) -> Iterator[Compare]:
    if isinstance(node, Compare):
        yield node
    elif isinstance(node, AllOf | AnyOf):
        for item in node.items:
            yield from _compares(item)


def _numbers(value: Any) -> Iterator[float]:
    items = value if isinstance(value, tuple | list) else (value,)
    for item in items:
        if isinstance(item, int | float) and not isinstance(item, bool):
            yield item


def thresholds() -> dict[str, set[float]]:
    """Numbers the rule conditions compare each number field with."""
    out: dict[str, set[float]] = {}
    for rule in default_rulebook():
        for test in _compares(rule.condition.profile):
            if FIELDS[test.field].kind == "number" and test.op in NUMERIC_OPS:
                out.setdefault(test.field, set()).update(_numbers(test.value))
    return out


def _accepts(path: str, value: Any) -> bool:
    try:
        recommend(with_value({"id": "probe"}, path, value))
    except ProfileError:
        return False
    return True


def _is_integer_field(path: str, sample: float) -> bool:
    whole = round(sample)
    return not _accepts(path, whole + 0.5) and _accepts(path, whole)


def _step(threshold: float) -> float:
    return min(0.01, abs(threshold) / 10) if threshold else 0.01


def candidates_by_field() -> dict[str, list[Any]]:
    """The values each field is tried with when it is unknown."""
    limits = thresholds()
    out: dict[str, list[Any]] = {}
    for path, spec in FIELDS.items():
        values: list[Any]
        if spec.kind == "boolean":
            values = [True, False]
        elif spec.kind == "enum":
            values = [v for v in spec.values if v != "unknown"]
        elif spec.kind == "list":
            values = [list(v) for v in LIST_CANDIDATES]
        else:
            points = set(limits.get(path, set()))
            if path == "age":
                points.update(AGE_EXTRAS)
            integer = bool(points) and _is_integer_field(path, min(points))
            numbers: set[float] = set()
            for t in points:
                step = 1 if integer else _step(t)
                numbers.update(round(x, 9) for x in (t - step, t, t + step))
            values = sorted(int(n) if integer else n for n in numbers)
        out[path] = values
    return out


# --- one profile ------------------------------------------------------------------


def outcome(rec: Any) -> Outcome:
    return rec.preferred, tuple(sorted((str(o.therapy), str(o.status)) for o in rec.options))


@dataclass
class Tally:
    """Everything counted over the sample."""

    generated: int = 0
    skipped: int = 0
    calls: int = 0
    preferred: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    no_pref_strict: int = 0
    no_pref_generic: int = 0
    failed_preferred: int = 0
    failed_by_therapy: Counter[str] = field(default_factory=Counter)
    blin_refractory_cohort: int = 0
    blin_refractory_prefer: Counter[str] = field(default_factory=Counter)
    with_mattering: int = 0
    complete: int = 0
    complete_underived: int = 0
    pairs: int = 0
    pairs_covered: int = 0
    uncovered: Counter[str] = field(default_factory=Counter)
    mattering: Counter[str] = field(default_factory=Counter)
    listed_tested: int = 0
    listed_mattering: int = 0


def audit_one(
    profile: dict[str, Any], context: str, candidates: dict[str, list[Any]], tally: Tally
) -> None:
    try:
        rec = recommend(profile, context=context)
    except ProfileError:
        tally.skipped += 1
        return
    tally.calls += 1
    preferred = rec.preferred
    tally.preferred[str(preferred)] += 1
    for option in rec.options:
        tally.statuses[f"{option.therapy}:{option.status}"] += 1

    # a. no preference
    if preferred is None:
        statuses = {str(o.status) for o in rec.options}
        if "alternative" in statuses and rec.summary.startswith("No preference"):
            tally.no_pref_strict += 1
        if statuses - CLOSED:
            tally.no_pref_generic += 1

    # b. preferring a therapy that has failed
    prior = profile.get("prior_therapy") or {}
    if preferred is not None and prior.get(preferred) == "refractory":
        tally.failed_preferred += 1
        tally.failed_by_therapy[preferred] += 1
    cd19 = get_path(profile, "disease.cd19")
    access = get_path(profile, "access.car_t")
    blin_failed = prior.get("blinatumomab") == "refractory"
    if blin_failed and cd19 in ("positive", "dim") and access != "unavailable":
        tally.blin_refractory_cohort += 1
        tally.blin_refractory_prefer[str(preferred)] += 1

    # c. missing-fact completeness by substitution
    base = outcome(rec)
    listed = {m.field for m in rec.missing}
    matters: set[str] = set()
    tested: set[str] = set()
    for path in FIELDS:
        if not is_unknown(profile, path):
            continue
        tested.add(path)
        for value in candidates[path]:
            try:
                variant = recommend(with_value(profile, path, value), context=context)
            except ProfileError:
                continue
            tally.calls += 1
            if outcome(variant) != base:
                matters.add(path)
                break
    if matters:
        tally.with_mattering += 1
    covered = matters & listed
    if covered == matters:
        tally.complete += 1
    if matters - {DERIVED} <= listed:
        tally.complete_underived += 1
    tally.pairs += len(matters)
    tally.pairs_covered += len(covered)
    tally.mattering.update(matters)
    tally.uncovered.update(matters - listed)
    tally.listed_tested += len(listed & tested)
    tally.listed_mattering += len(listed & tested & matters)


# --- report -------------------------------------------------------------------------


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def summarize(tally: Tally, args: argparse.Namespace, elapsed: float) -> dict[str, Any]:
    n = tally.generated - tally.skipped
    cohort = tally.blin_refractory_cohort
    return {
        "params": {
            "n": args.n,
            "seed": args.seed,
            "context": args.context,
            "unknown_rate": args.unknown_rate,
        },
        "generated": tally.generated,
        "skipped_profile_error": tally.skipped,
        "evaluated": n,
        "recommend_calls": tally.calls,
        "elapsed_s": round(elapsed, 2),
        "no_preference": {
            "strict": _share(tally.no_pref_strict, n),
            "generic": _share(tally.no_pref_generic, n),
            "strict_count": tally.no_pref_strict,
            "generic_count": tally.no_pref_generic,
        },
        "failed_therapy_preferred": {
            "share": _share(tally.failed_preferred, n),
            "count": tally.failed_preferred,
            "by_therapy": dict(tally.failed_by_therapy),
            "blin_refractory_cohort": cohort,
            "blin_refractory_prefers_blinatumomab": _share(
                tally.blin_refractory_prefer["blinatumomab"], cohort
            ),
            "blin_refractory_preferred": dict(tally.blin_refractory_prefer),
        },
        "missing_completeness": {
            "profiles_complete": _share(tally.complete, n),
            "profiles_with_mattering_field": tally.with_mattering,
            "profiles_complete_among_those": _share(
                tally.complete - (n - tally.with_mattering), tally.with_mattering
            ),
            "profiles_complete_ignoring_access_car_t": _share(tally.complete_underived, n),
            "pairs": tally.pairs,
            "pairs_covered": _share(tally.pairs_covered, tally.pairs),
            "listed_unknown_that_matter": _share(tally.listed_mattering, tally.listed_tested),
            "top_uncovered": tally.uncovered.most_common(10),
            "mattering_by_field": dict(tally.mattering.most_common()),
        },
        "preferred": {k: tally.preferred[k] for k in ("blinatumomab", "car_t", "None")},
        "option_statuses": dict(sorted(tally.statuses.items())),
    }


def _table(rows: Iterable[tuple[str, str]]) -> str:
    rows = list(rows)
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)


def render(result: dict[str, Any]) -> str:
    p = result["params"]
    a = result["no_preference"]
    b = result["failed_therapy_preferred"]
    c = result["missing_completeness"]
    d = result["preferred"]
    n = result["evaluated"]
    rows = [
        ("context / seed / n", f"{p['context']} / {p['seed']} / {p['n']}"),
        ("evaluated (skipped: ProfileError)", f"{n} ({result['skipped_profile_error']})"),
        ("a. no preference, strict (summary)", f"{_pct(a['strict'])} ({a['strict_count']})"),
        ("a. no preference, generic", f"{_pct(a['generic'])} ({a['generic_count']})"),
        ("b. prefers a refractory therapy", f"{_pct(b['share'])} ({b['count']})"),
        ("   by therapy", json.dumps(b["by_therapy"], sort_keys=True)),
        ("b. blin-refractory, CD19+/dim, CAR T not unavailable", str(b["blin_refractory_cohort"])),
        ("   of which prefer blinatumomab", _pct(b["blin_refractory_prefers_blinatumomab"])),
        ("   preferred there", json.dumps(b["blin_refractory_preferred"], sort_keys=True)),
        ("c. profiles complete (all)", _pct(c["profiles_complete"])),
        ("   profiles with a mattering unknown", str(c["profiles_with_mattering_field"])),
        ("   complete among those", _pct(c["profiles_complete_among_those"])),
        ("   complete, ignoring access.car_t", _pct(c["profiles_complete_ignoring_access_car_t"])),
        ("c. mattering pairs covered", f"{_pct(c['pairs_covered'])} of {c['pairs']}"),
        ("c. listed unknown fields that matter", _pct(c["listed_unknown_that_matter"])),
        (
            "d. preferred blinatumomab",
            f"{d['blinatumomab']} ({_pct(_share(d['blinatumomab'], n))})",
        ),
        ("d. preferred car_t", f"{d['car_t']} ({_pct(_share(d['car_t'], n))})"),
        ("d. preferred None", f"{d['None']} ({_pct(_share(d['None'], n))})"),
        ("recommend() calls / elapsed", f"{result['recommend_calls']} / {result['elapsed_s']} s"),
    ]
    uncovered = [(name, str(count)) for name, count in c["top_uncovered"]] or [("(none)", "")]
    return (
        "Recommendation audit\n"
        + _table(rows)
        + "\n\nTop uncovered mattering fields (profiles)\n"
        + _table(uncovered)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=3000, help="profiles to generate")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--context", default="us-2026")
    parser.add_argument("--unknown-rate", type=float, default=0.25)
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    candidates = candidates_by_field()
    generator = Generator(args.seed, args.unknown_rate)
    tally = Tally()
    for index in range(args.n):
        tally.generated += 1
        audit_one(generator.profile(index), args.context, candidates, tally)
    result = summarize(tally, args, time.perf_counter() - start)
    result["candidates"] = {k: v for k, v in candidates.items() if FIELDS[k].kind == "number"}
    print(render(result))
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2, sort_keys=True)
            out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
