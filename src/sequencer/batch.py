"""Evaluating many profiles: a stream in, a stream out, in constant memory.

``recommend_many`` takes any iterable of profiles (dicts, JSON text, or
``PatientProfile``) and yields one ``BatchResult`` per input, in input order. A profile
that fails validation yields a result carrying its problems; a blank text line yields
a result marked ``blank``; the batch goes on. If the input itself fails (a generator
that raises), every result already read is yielded first, then the error is raised.

With ``processes > 1`` the work is spread over a fork-based process pool (durable_rules
holds the GIL, so threads would not help). At most a few chunks per worker are in
flight at any time, so memory stays flat however long the input is.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pydantic_core
from pydantic import BaseModel

from sequencer.api import ProfileInput, default_rulebook, recommend
from sequencer.errors import EngineError, Problem, ProfileError, UsageError
from sequencer.knowledge.rulebook import Rulebook
from sequencer.model.recommendation import Recommendation

__all__ = ["MAX_PROCESSES", "BatchResult", "recommend_many", "recommendation_json"]

MAX_PROCESSES = 4 * (os.cpu_count() or 1)
"""The most worker processes a batch may ask for (more only compete for the CPUs)."""


@dataclass(frozen=True)
class BatchResult:
    """The outcome for one input: a recommendation (or its JSON), or the problems.

    ``index`` is the 0-based position of the profile in the input.
    """

    index: int
    recommendation: Recommendation | None = None
    json: str | None = None
    problems: tuple[Problem, ...] = ()
    blank: bool = False

    @property
    def ok(self) -> bool:
        """Whether the profile was valid and got a recommendation."""
        return not self.problems and not self.blank


# Set in the parent before the pool forks; the workers inherit it.
_job: tuple[Rulebook | None, str | None, bool] = (None, None, False)


# --- JSON out, assembled from cached fragments ----------------------------------------
#
# A recommendation's JSON is mostly its reasons and cautions, which are the same frozen
# objects from one recommendation to the next (ranking builds them once per rule). Their
# JSON is cached here, keyed by identity; the cache holds the object itself, so an id
# cannot be reused while its entry lives. A test checks the result is byte-for-byte
# ``Recommendation.model_dump_json()``.

_fragments: dict[int, tuple[BaseModel, bytes]] = {}
_FRAGMENTS_MAX = 20_000


def _fragment(model: BaseModel) -> bytes:
    hit = _fragments.get(id(model))
    if hit is not None and hit[0] is model:
        return hit[1]
    data = model.__pydantic_serializer__.to_json(model)
    if len(_fragments) >= _FRAGMENTS_MAX:
        _fragments.clear()
    _fragments[id(model)] = (model, data)
    return data


def _plain(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model)


_Part = bytes | BaseModel
"""A piece of a recommendation's JSON: literal bytes, or a shared part to serialize."""


_SHARED_LISTS = frozenset(
    {"arguments", "reasons", "warnings", "missing", "alternatives", "derived", "plan"}
)
"""List fields whose items are shared frozen objects (built once per rule base)."""

_LAYOUT = tuple(
    (f'{"{" if i == 0 else ","}"{name}":'.encode(), name)
    for i, name in enumerate(Recommendation.model_fields)
)
"""Each field's key as it opens its part of the JSON, in the model's order."""


def _parts(rec: Recommendation) -> list[_Part]:
    """Return ``rec``'s JSON in pieces: bytes, and the shared parts (the same frozen
    objects from one recommendation to the next: arguments, reasons, cautions, missing
    facts, outside-therapy suggestions, derived concepts, the rule base stamp, plan
    steps) left as models."""
    out: list[_Part] = []
    for key, name in _LAYOUT:
        out.append(key)
        value = getattr(rec, name)
        if isinstance(value, list) and (name in _SHARED_LISTS or name == "options"):
            out.append(b"[")
            for i, item in enumerate(value):
                if i:
                    out.append(b",")
                out.append(item if name in _SHARED_LISTS else _plain(item))
            out.append(b"]")
        elif name == "rulebook":
            out.append(value)
        elif isinstance(value, BaseModel):
            out.append(_plain(value))
        else:
            out.append(pydantic_core.to_json(value))
    out.append(b"}")
    return out


def recommendation_json(rec: Recommendation) -> str:
    """Return ``rec.model_dump_json()``, faster (shared parts are serialized once)."""
    return b"".join(p if isinstance(p, bytes) else _fragment(p) for p in _parts(rec)).decode()


# --- what a worker sends back -----------------------------------------------------------
#
# A recommendation's JSON is about 40 kB, most of it shared parts. Moving it whole from
# the workers to the parent cost more than evaluating it. A worker therefore numbers each
# shared part the first time it sends it (with its bytes) and afterwards sends the number
# only; the parent keeps each worker's numbered parts and joins the text back together.
# A worker that forgets its numbers (bounded memory) starts a new generation, and the
# parent a new table for it (a worker forgets between chunks only, and its chunks reach the
# parent in the order it made them).

_numbers: dict[int, tuple[BaseModel, int]] = {}
_generation = [0]


def _numbered(parts: list[_Part], new: list[tuple[int, bytes]]) -> list[bytes | int]:
    """Worker side: ``parts`` with shared parts as numbers and the bytes between them
    joined (fewer pieces to send and join); the first sending of a number is appended to
    ``new`` with its bytes."""
    out: list[bytes | int] = []
    between: list[bytes] = []
    for part in parts:
        if isinstance(part, bytes):
            between.append(part)
            continue
        if between:
            out.append(b"".join(between))
            between.clear()
        hit = _numbers.get(id(part))
        if hit is None or hit[0] is not part:
            hit = _numbers[id(part)] = (part, len(_numbers))
            new.append((hit[1], part.__pydantic_serializer__.to_json(part)))
        out.append(hit[1])
    if between:
        out.append(b"".join(between))
    return out


def _one(
    index: int, profile: ProfileInput, book: Rulebook | None, context: str | None, as_json: bool
) -> BatchResult:
    if isinstance(profile, str | bytes) and not profile.strip():
        return BatchResult(index, blank=True)
    try:
        rec = recommend(profile, rulebook=book, context=context)
    except ProfileError as error:
        return BatchResult(index, problems=tuple(error.problems))
    except EngineError as error:  # one line's fault; the batch answers every other line
        return BatchResult(index, problems=(Problem("", f"engine error: {error}", "engine_error"),))
    if as_json:
        return BatchResult(index, json=recommendation_json(rec))
    return BatchResult(index, recommendation=rec)


_Packed = tuple[int, Any, tuple[tuple[str, str, str], ...], bool]
_Chunk = tuple[tuple[int, int], list[tuple[int, bytes]], list[_Packed]]
"""(worker pid, its generation), the shared parts numbered in this chunk, the results."""


def _chunk(items: list[tuple[int, Any]]) -> _Chunk:
    """Worker side: evaluate a chunk, returning plain tuples (cheap to send back)."""
    book, context, as_json = _job
    out: list[_Packed] = []
    new: list[tuple[int, bytes]] = []
    if len(_numbers) >= _FRAGMENTS_MAX:  # forget, between chunks only
        _numbers.clear()
        _generation[0] += 1
    for index, profile in items:
        result = _one(index, profile, book, context, False)
        payload: Any = result.recommendation
        if as_json and payload is not None:
            payload = _numbered(_parts(payload), new)
        problems = tuple((p.field, p.message, p.code) for p in result.problems)
        out.append((index, payload, problems, result.blank))
    return (os.getpid(), _generation[0]), new, out


class _Tables:
    """Parent side: each worker's numbered shared parts, for its current generation."""

    def __init__(self) -> None:
        self._tables: dict[int, tuple[int, dict[int, bytes]]] = {}

    def table(self, worker: tuple[int, int], new: list[tuple[int, bytes]]) -> dict[int, bytes]:
        pid, generation = worker
        known = self._tables.get(pid)
        if known is None or known[0] != generation:
            known = self._tables[pid] = (generation, {})
        known[1].update(new)
        return known[1]


def _unpack(packed: _Packed, as_json: bool, table: dict[int, bytes]) -> BatchResult:
    index, payload, problems, blank = packed
    if blank:
        return BatchResult(index, blank=True)
    if problems:
        return BatchResult(index, problems=tuple(Problem(f, m, c) for f, m, c in problems))
    if as_json:
        text = b"".join([table[p] if type(p) is int else p for p in payload])
        return BatchResult(index, json=text.decode())
    return BatchResult(index, recommendation=payload)


def recommend_many(
    profiles: Iterable[ProfileInput],
    *,
    rulebook: Rulebook | None = None,
    context: str | None = None,
    processes: int = 1,
    chunk_size: int = 256,
    as_json: bool = False,
) -> Iterator[BatchResult]:
    """Yield a ``BatchResult`` for every profile, in input order, in constant memory.

    ``processes`` > 1 spreads the work over that many worker processes (``0`` means one
    per CPU). ``as_json=True`` yields each recommendation as JSON text (``.json``),
    which is cheaper to move between processes than the model. Invalid profiles yield
    results with ``.problems`` instead of raising. Raises ``UnknownContextError`` for an
    unknown context, ``UsageError`` for ``processes`` or ``chunk_size`` out of range, and
    ``EngineError`` if the engine fails.
    """
    book = rulebook or default_rulebook()
    book.context(context)  # fail now, not in a worker, on an unknown context
    workers = (os.cpu_count() or 1) if processes == 0 else processes
    if not 0 <= processes <= MAX_PROCESSES or chunk_size < 1:
        raise UsageError(
            f"processes must be between 0 and {MAX_PROCESSES} (four per CPU), "
            "and chunk_size at least 1"
        )
    numbered = enumerate(profiles)
    if workers <= 1:
        for index, profile in numbered:
            yield _one(index, profile, book, context, as_json)
        return
    yield from _pooled(numbered, book, context, as_json, workers, chunk_size)


def _pooled(
    numbered: Iterator[tuple[int, Any]],
    book: Rulebook,
    context: str | None,
    as_json: bool,
    workers: int,
    chunk_size: int,
) -> Iterator[BatchResult]:
    global _job
    _job = (book, context, as_json)
    from sequencer.api import engine_for  # register the ruleset before forking

    engine_for(book)
    window = 4 * workers
    pool = multiprocessing.get_context("fork").Pool(workers)
    failure: list[BaseException] = []

    def chunks() -> Iterator[list[tuple[int, Any]]]:
        """The input in chunks; an input that fails ends the chunks, remembering why."""
        while True:
            chunk: list[tuple[int, Any]] = []
            try:
                for item in numbered:
                    chunk.append(item)
                    if len(chunk) == chunk_size:
                        break
            except Exception as error:  # the caller's iterable failed: answer what came
                failure.append(error)
            if chunk:
                yield chunk
            if failure or len(chunk) < chunk_size:
                return

    try:
        pending: deque[Any] = deque()
        source = chunks()
        for chunk in itertools.islice(source, window):
            pending.append(pool.apply_async(_chunk, (chunk,)))
        tables = _Tables()
        while pending:
            worker, new, results = pending.popleft().get()
            for chunk in itertools.islice(source, 1):
                pending.append(pool.apply_async(_chunk, (chunk,)))
            table = tables.table(worker, new)
            for packed in results:
                yield _unpack(packed, as_json, table)
        if failure:
            raise failure[0]
    finally:
        pool.terminate()
        pool.join()
        _job = (None, None, False)
