"""A loaded rule base kept on disk, so that the next process starts without re-reading it.

Loading the shipped rule base (parsing about twenty YAML files with their line numbers,
validating each against its schema, the checks across files) takes about 30 ms; reading
back the result takes about 2 ms. ``load_kept`` returns the rule base from the kept copy
when one was written from exactly the same inputs, and otherwise loads it in full and
keeps the result for next time.

*The same inputs* means the key covers everything the result is built from: the bytes
of every file under the rule base directory and the directory's path, the source of the
code that loads it (``sequencer.knowledge``, ``sequencer.model``, ``sequencer.errors``),
and the versions of Python and pydantic. Any change to any of them is a different key, so
a changed or broken rule file is always loaded (and refused) in full, with its file and
line.

The copy is a pickle, so it is only ever read from a directory this user owns and no one
else can write to, and only when the file is this user's and not writable by others.
Whatever goes wrong with it (missing, unreadable, damaged, another key, a directory that
cannot be written) the rule base is loaded in full: the copy can make a start faster, it
cannot change an answer.

Where: ``$SEQUENCER_CACHE_DIR``, else ``$XDG_CACHE_HOME/sequencer``, else
``~/.cache/sequencer``. ``SEQUENCER_CACHE=off`` turns it off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
from pathlib import Path

from sequencer.knowledge.rulebook import Rulebook, default_rules_dir, hash_files, load_rulebook

__all__ = ["cache_dir", "kept_key", "load_kept"]

_CODE = ("knowledge", "model")
"""The subpackages whose code builds a rule base (with ``errors.py``)."""

_FORMAT = b"sequencer-kept-rulebook-1"
_KEEP = 8
"""How many kept rule bases a cache directory holds (several environments may share
one); the least recently written beyond that are removed."""


def cache_dir() -> Path | None:
    """Return the directory kept rule bases live in, or None when keeping is turned off."""
    if os.environ.get("SEQUENCER_CACHE", "").strip().lower() in ("off", "0", "no", "false"):
        return None
    if not hasattr(os, "getuid"):  # no owner to check the copy against: never read one
        return None
    chosen = os.environ.get("SEQUENCER_CACHE_DIR")
    if chosen:
        return Path(chosen)
    xdg = os.environ.get("XDG_CACHE_HOME")
    try:
        base = Path(xdg) if xdg else Path.home() / ".cache"
    except RuntimeError:  # no home directory to be found
        return None
    return base / "sequencer"


def kept_key(base: Path, shipped: bool) -> str:
    """Return the key of the rule base in ``base`` as this code would load it: a SHA-256
    over the rule files, the directory's path and whether it is the shipped one (its
    files are named differently), the loading code and the versions."""
    import pydantic

    sha = hashlib.sha256(_FORMAT)
    sha.update(f"\0{sys.version}\0{pydantic.VERSION}\0{base}\0{shipped}\0".encode())
    package = Path(__file__).resolve().parents[1]
    code = [package / "errors.py"]
    for sub in _CODE:
        code.extend(sorted((package / sub).glob("*.py")))
    rules = sorted(p for p in base.rglob("*") if p.is_file())
    hash_files(sha, package, code)
    hash_files(sha, base, rules)
    return sha.hexdigest()


def load_kept(root: Path | str | None = None) -> Rulebook:
    """Return the rule base in ``root`` (default: the shipped one) as ``load_rulebook``
    would: from the kept copy when its key matches, else loaded in full (and kept for the
    next process when the cache directory allows it).

    Raises ``RuleBaseError`` as ``load_rulebook`` does for a rule base that does not load.
    """
    folder = cache_dir()
    base = Path(root) if root is not None else default_rules_dir()
    if folder is None or not base.is_dir():
        return load_rulebook(root)
    key = kept_key(base.resolve(), shipped=root is None)
    path = folder / f"rulebook-{key[:32]}.pickle"
    found = _read(path, key)
    if found is not None:
        return found
    book = load_rulebook(root)
    _write(folder, path, key, book)
    return book


def _private(st: os.stat_result) -> bool:
    """Whether a file or directory is this user's and no one else can write to it."""
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(path: Path, key: str) -> Rulebook | None:
    """The kept rule base at ``path`` if it is safe to read and was kept under ``key``."""
    try:
        with path.open("rb") as handle:
            if not (_private(os.fstat(handle.fileno())) and _private(path.parent.stat())):
                return None
            stored_key, book = pickle.load(handle)  # a private file: see _private
    except Exception:  # missing, unreadable or damaged: load in full instead
        return None
    if stored_key != key or not isinstance(book, Rulebook):
        return None
    return book


def _write(folder: Path, path: Path, key: str, book: Rulebook) -> None:
    """Keep ``book`` under ``key`` at ``path``, atomically; nothing if that is not possible."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder.stat()):
            return
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".rulebook-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                pickle.dump((key, book), out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        kept = sorted(folder.glob("rulebook-*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in kept[:-_KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        return
