"""The rule base and the published patients ship inside the package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import PATIENTS_DIR, RULES_DIR

import sequencer
from sequencer import default_rulebook, load_rulebook
from sequencer.explain.published import default_cases_dir


def test_shipped_rule_base_is_the_checkout_rule_base() -> None:
    """The installed rules are byte-for-byte those in rules/ (same digest)."""
    assert default_rulebook().digest == load_rulebook(RULES_DIR).digest


def test_shipped_patients_match_the_checkout() -> None:
    """The installed published patients are those in examples/patients."""
    shipped = default_cases_dir()
    names = sorted(p.name for p in PATIENTS_DIR.iterdir() if p.is_file())
    assert sorted(p.name for p in shipped.iterdir() if p.is_file()) == names
    for name in names:
        assert (shipped / name).read_bytes() == (PATIENTS_DIR / name).read_bytes()


def test_installed_package_carries_its_own_rules() -> None:
    """Under `make test` the package is installed, not run from the checkout."""
    package = Path(sequencer.__file__).resolve().parent
    if package.parent.name == "src" and not os.environ.get("CI"):
        pytest.skip("running from an editable checkout; `make test` installs the wheel")
    assert (package / "rules" / "rulebook.yaml").is_file()
    assert default_rulebook().root.resolve() == (package / "rules").resolve()
    assert (package / "py.typed").is_file()
