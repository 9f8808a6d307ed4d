"""Shared helpers: the checkout's paths, the base profile and dotted-key patches."""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from sequencer import Rulebook, default_rulebook

# Hypothesis profiles: "ci" (the default) keeps `make test` to a few minutes; "long"
# explores much further. Choose with SEQUENCER_HYPOTHESIS=long make test.
settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("SEQUENCER_HYPOTHESIS", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    """Keep the session's loaded rule bases (``sequencer.knowledge.kept``) in a directory
    of its own, not the user's cache: the first load in each process is a full one, and
    the CLI and servers the tests start read the copy it keeps."""
    if "SEQUENCER_CACHE_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="sequencer-test-cache-")
        os.environ["SEQUENCER_CACHE_DIR"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


REPO = Path(__file__).resolve().parents[1]
RULES_DIR = REPO / "rules"
PATIENTS_DIR = REPO / "examples" / "patients"
# Rule cases sit beside their rules (rules/considerations/age.cases.yaml), as patches
# over one base profile.
BASE_PROFILE: dict[str, Any] = json.loads((RULES_DIR / "cases-base.json").read_text())


def patched(patch: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return a copy of the base profile with dotted keys (``disease.cns``) replaced."""
    out = copy.deepcopy(dict(base if base is not None else BASE_PROFILE))
    for dotted, value in patch.items():
        *parents, leaf = dotted.split(".")
        node = out
        for part in parents:
            node = node[part]
        node[leaf] = value
    return out


def patient(number: int) -> dict[str, Any]:
    """Return published patient ``number`` as a profile dict."""
    data: dict[str, Any] = json.loads((PATIENTS_DIR / f"patient-{number}.json").read_text())
    return data


@pytest.fixture(scope="session")
def rulebook() -> Rulebook:
    return default_rulebook()
