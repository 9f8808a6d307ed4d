"""The loaded rule base kept on disk: read back only when nothing it was built from has
changed, only from a private file, and never able to change an answer."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
from pathlib import Path

import pytest
from conftest import PATIENTS_DIR, RULES_DIR

from sequencer import RuleBaseError, recommend
from sequencer.knowledge import kept
from sequencer.knowledge.rulebook import Rulebook, load_rulebook


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SEQUENCER_CACHE_DIR", str(folder))
    monkeypatch.delenv("SEQUENCER_CACHE", raising=False)
    return folder


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES_DIR, copy)
    return copy


def _copies(folder: Path) -> list[Path]:
    return sorted(folder.glob("rulebook-*.pickle"))


def _forbid_full_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(root: object = None) -> Rulebook:
        raise AssertionError("loaded in full although a kept copy was expected")

    monkeypatch.setattr(kept, "load_rulebook", refuse)


def _same(a: Rulebook, b: Rulebook) -> None:
    for f in dataclasses.fields(Rulebook):
        if f.name == "vocabulary":  # a plain class: equal when its parts are
            assert vars(a.vocabulary) == vars(b.vocabulary)
        elif f.name != "_compiled":
            assert getattr(a, f.name) == getattr(b, f.name), f.name


def test_the_kept_shipped_rule_base_equals_a_full_load_and_answers_the_same(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kept.load_kept()
    assert len(_copies(cache)) == 1
    _forbid_full_load(monkeypatch)
    again = kept.load_kept()
    assert again is not first
    _same(again, load_rulebook())
    for path in sorted(PATIENTS_DIR.glob("*.json")):
        fresh = recommend(path.read_text(), rulebook=load_rulebook())
        assert recommend(path.read_text(), rulebook=again).model_dump() == fresh.model_dump()


def test_a_changed_rule_file_is_loaded_in_full(cache: Path, rules: Path) -> None:
    before = kept.load_kept(rules)
    bib = rules / "bibliography.yaml"
    bib.write_text(bib.read_text() + "\n# a comment changes the bytes, not the meaning\n")
    plan = rules / "rulebook.yaml"
    text = plan.read_text()
    assert f"version: {before.version}" in text or f'version: "{before.version}"' in text
    plan.write_text(text.replace(before.version, "9.9.9", 1))
    after = kept.load_kept(rules)
    assert after.version == "9.9.9"
    assert after.digest != before.digest
    assert len(_copies(cache)) == 2


def test_a_broken_rule_file_is_refused_with_its_line_although_a_copy_was_kept(
    cache: Path, rules: Path
) -> None:
    kept.load_kept(rules)
    target = rules / "considerations" / "access.yaml"
    lines = target.read_text().splitlines()
    lines.insert(1, "unknown_key_here: 1")
    target.write_text("\n".join(lines) + "\n")
    with pytest.raises(RuleBaseError) as caught:
        kept.load_kept(rules)
    assert target.name in str(caught.value)
    assert caught.value.line == 2


def test_a_damaged_copy_is_replaced_by_a_full_load(
    cache: Path, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept.load_kept(rules)
    (copy,) = _copies(cache)
    copy.write_bytes(b"not a pickle at all")
    book = kept.load_kept(rules)
    _same(book, load_rulebook(rules))
    _forbid_full_load(monkeypatch)
    _same(kept.load_kept(rules), book)  # the replacement is read back


def _plant(copy: Path, book: Rulebook) -> None:
    """Write a copy under the right key whose rule base says another version."""
    key, _ = pickle.loads(copy.read_bytes())
    copy.write_bytes(pickle.dumps((key, dataclasses.replace(book, version="6.6.6"))))


def test_a_copy_another_user_could_write_is_never_read(cache: Path, rules: Path) -> None:
    book = kept.load_kept(rules)
    (copy,) = _copies(cache)
    _plant(copy, book)
    copy.chmod(0o600)
    assert kept.load_kept(rules).version == "6.6.6"  # a private copy is trusted ...
    _plant(copy, book)
    copy.chmod(0o666)
    assert kept.load_kept(rules).version == book.version  # ... a writable one is not
    _plant(copy, book)
    copy.chmod(0o600)
    cache.chmod(0o777)
    try:
        assert kept.load_kept(rules).version == book.version  # nor one in an open folder
    finally:
        cache.chmod(0o700)


def test_keeping_turned_off_writes_nothing(
    cache: Path, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQUENCER_CACHE", "off")
    assert kept.cache_dir() is None
    kept.load_kept(rules)
    assert not cache.exists()


def test_a_cache_folder_that_cannot_be_made_still_loads(
    tmp_path: Path, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SEQUENCER_CACHE_DIR", str(blocker / "cache"))
    _same(kept.load_kept(rules), load_rulebook(rules))


def test_the_key_covers_the_files_the_folder_and_the_naming(rules: Path, tmp_path: Path) -> None:
    key = kept.kept_key(rules, shipped=False)
    assert kept.kept_key(rules, shipped=False) == key
    assert kept.kept_key(rules, shipped=True) != key
    other = tmp_path / "elsewhere"
    shutil.copytree(rules, other)
    assert kept.kept_key(other, shipped=False) != key
    about = rules / "about.yaml"
    about.write_text(about.read_text() + " ")
    assert kept.kept_key(rules, shipped=False) != key


def test_at_most_a_few_copies_are_kept(cache: Path, rules: Path) -> None:
    bib = rules / "bibliography.yaml"
    text = bib.read_text()
    for n in range(kept._KEEP + 3):
        bib.write_text(text + f"\n# edit {n}\n")
        kept.load_kept(rules)
    assert len(_copies(cache)) == kept._KEEP
