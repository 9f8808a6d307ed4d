"""What every verb of the command line shares: exit statuses, the terminal console and
the rule base a verb runs on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_DISAGREE",
    "EXIT_ENGINE",
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_RULES",
    "console",
    "rulebook_from",
]

EXIT_OK, EXIT_DISAGREE, EXIT_INPUT, EXIT_RULES, EXIT_ENGINE, EXIT_OUTPUT = 0, 1, 2, 3, 4, 5


def console(stderr: bool = False) -> Any:
    """A rich console that neither wraps nor highlights what it prints.

    A reader that goes away (``sequencer replay --all | head -1``) raises
    ``BrokenPipeError``, which the command line turns into the exit status for
    incomplete output, instead of rich's own ``SystemExit(1)`` (which would read as
    "the replay disagrees").
    """
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return _Console(stderr=stderr, soft_wrap=False, highlight=False)


def rulebook_from(directory: Path | None) -> Any:
    """The rule base in ``directory``, or the shipped one."""
    from sequencer.api import default_rulebook
    from sequencer.knowledge.rulebook import load_rulebook

    return load_rulebook(directory) if directory else default_rulebook()
