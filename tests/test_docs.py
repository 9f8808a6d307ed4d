"""The README a newcomer reads in five minutes, and the documentation site beside it:
every page in the navigation, links that lead somewhere, generated parts generated."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO

DOCS = REPO / "docs"
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def _nav_pages(nav: Any) -> list[str]:
    """Every page file named in the mkdocs.yml navigation, at any depth."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [p for item in nav for p in _nav_pages(item)]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in _nav_pages(value)]
    return []


def _mkdocs() -> dict[str, Any]:
    # mkdocs.yml is plain YAML (no !!python tags), so the safe loader reads it
    config: dict[str, Any] = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    return config


def test_the_readme_is_short_and_covers_a_first_hour() -> None:
    """README.md is under 400 lines and holds the two commands, Python, CLI, service."""
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) < 400
    for part in ("make demo", "make test", "from sequencer import recommend", "sequencer serve"):
        assert part in text
    assert "## Where to read on" in text


def test_the_readme_names_what_the_test_command_needs_from_the_system() -> None:
    """The set-up lists Python and a compiler, Chromium and its driver, PostgreSQL, time."""
    setup = (REPO / "README.md").read_text().split("## Set-up", 1)[1].split("\n## ", 1)[0]
    for need in ("3.11", "C compiler", "chromium-driver", "PostgreSQL", "8 minutes"):
        assert need in setup


def test_every_relative_link_of_the_readme_and_the_pages_leads_to_a_file() -> None:
    """No relative link in README.md or docs/*.md points at a missing file."""
    broken = []
    for page in [REPO / "README.md", *sorted(DOCS.glob("*.md"))]:
        for target in LINK.findall(page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert broken == []


def test_every_page_is_in_the_navigation_and_every_navigation_entry_exists() -> None:
    """Every docs/*.md page is in the mkdocs.yml nav, and every nav entry exists."""
    named = set(_nav_pages(_mkdocs()["nav"]))
    present = {p.name for p in DOCS.glob("*.md")}
    assert present - named == set()
    assert named - present == set()


def test_the_literature_case_count_in_the_docs_is_the_case_files() -> None:
    """docs/cli.md says how many literature cases there are, and that is how many there are."""
    cases = yaml.safe_load((REPO / "examples" / "literature" / "cases.yaml").read_text())
    said = re.search(r"\((\d+) in all, each citing its source\)", (DOCS / "cli.md").read_text())
    assert said is not None and int(said.group(1)) == len(cases["cases"])


def _hooks() -> Any:
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", REPO / "mkdocs_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_site_generates_the_catalogue_and_the_code_table_whatever_the_file_holds() -> None:
    """The build hook replaces whatever stands between a page's markers with fresh text."""
    from sequencer import default_rulebook
    from sequencer.interop.code_docs import markdown_code_table
    from sequencer.present.markdown import markdown_catalogue

    page = (
        "# Page\n<!-- catalogue:start -->\nstale\n<!-- catalogue:end -->\n"
        "<!-- fhir-codes:start -->stale<!-- fhir-codes:end -->\nafter\n"
    )
    built = _hooks().on_page_markdown(page, None, None, None)
    assert "stale" not in built and built.endswith("\nafter\n")
    assert markdown_catalogue(default_rulebook()) in built
    table = markdown_code_table()
    assert table in built and "`ecog`" in table and "89247-1" in table


@pytest.mark.skipif(
    shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None,
    reason="mkdocs is installed by the docs extra (make install)",
)
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict` succeeds: no broken link, no page left out of the nav."""
    mkdocs = str(Path(sys.executable).parent / "mkdocs")
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "rule-base" / "index.html").is_file()
