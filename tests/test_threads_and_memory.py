"""Threads and memory: concurrent callers get the serial answers, and resident memory
stays flat over 100,000 evaluations (the engine sessions are really released)."""

from __future__ import annotations

import gc
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import patched

from sequencer import recommend

VARIATIONS: dict[str, list[Any]] = {
    "age": [19, 45, 66, None],
    "disease.marrow_blasts_pct": [3, 30, 80],
    "disease.cns": ["CNS1", "CNS2", "unknown"],
    "disease.cd19": ["positive", "dim", "negative"],
    "transplant.prior_allo_hct": [True, False],
    "transplant.gvhd": ["none", "active"],
    "transplant.on_immunosuppression": [True, False],
    "access.car_t": ["approved", "trial", None],
}


def _profiles() -> list[dict[str, Any]]:
    out = []
    for values in itertools.product(*VARIATIONS.values()):
        patch = dict(zip(VARIATIONS, values, strict=True))
        if patch["transplant.prior_allo_hct"] is False and patch["transplant.gvhd"] == "active":
            continue  # a contradiction, rejected by design
        out.append(patched(patch))
    return out


def test_eight_threads_give_the_serial_results() -> None:
    """8 threads x 2 passes over 1,944 profiles equal the serial answers, one for one."""
    profiles = _profiles()
    assert len(profiles) == 1944
    serial = [recommend(p).model_dump_json() for p in profiles]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda p: recommend(p).model_dump_json(), profiles * 2))
    assert threaded == serial * 2


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")  # pragma: no cover


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_resident_memory_stays_flat_over_100k_evaluations(
    record_property: pytest.RecordProperty,
) -> None:
    """100,000 recommendations grow resident memory by less than 16 MiB."""
    evaluations = int(os.environ.get("SEQUENCER_MEMORY_EVALUATIONS", "100000"))
    profiles = _profiles()[:200]
    for profile in profiles * 10:  # warm-up: caches, interned strings, allocator pools
        recommend(profile)
    gc.collect()
    before = _rss_kib()
    for _, profile in zip(range(evaluations), itertools.cycle(profiles), strict=False):
        recommend(profile)
    gc.collect()
    after = _rss_kib()
    record_property("rss_before_kib", before)
    record_property("rss_after_kib", after)
    print(f"\nRSS over {evaluations} evaluations: {before} KiB -> {after} KiB")
    assert after - before < 16 * 1024
