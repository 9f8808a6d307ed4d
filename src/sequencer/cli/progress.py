"""Progress on long work (a cohort's coverage, a rule-base diff, a batch file), shown
on standard error only when it is a terminal: piped or redirected, the command line
prints nothing but its answer."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["on_terminal", "progress", "tracked"]

T = TypeVar("T")


def on_terminal() -> bool:
    """Return whether standard error is a terminal (progress is shown only there)."""
    return bool(sys.stderr is not None and sys.stderr.isatty())


@contextmanager
def progress(label: str, total: int | None) -> Iterator[Callable[..., None]]:
    """Yield a function ``advance(done, label=None)`` that sets how much of ``total`` is
    done (and, if given, what is being done); on a terminal a rich progress bar (cleared
    when the work ends) shows it, otherwise it does nothing."""
    if not on_terminal():
        yield lambda done, label=None: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from sequencer.cli.common import console

    columns: Sequence[Any] = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    bar = Progress(*columns, console=console(stderr=True), transient=True)
    task = bar.add_task(label, total=total)

    def advance(done: int, label: str | None = None) -> None:
        if label is None:
            bar.update(task, completed=done)
        else:
            bar.update(task, completed=done, description=label)

    with bar:
        yield advance


def tracked(items: Iterable[T], label: str, total: int, every: int = 100) -> Iterator[T]:
    """Yield ``items`` unchanged, showing on a terminal how many of ``total`` went by
    (updated every ``every`` items)."""
    with progress(label, total) as advance:
        for done, item in enumerate(items, start=1):
            yield item
            if done % every == 0 or done == total:
                advance(done)
