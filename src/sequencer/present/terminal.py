"""What the command line reads and says: input files or standard input, and messages
that are safe to print on a terminal.

Nothing a user typed (a file name, a patient id in an error) reaches the terminal with
its control characters live: escape sequences, BEL and NUL are shown escaped.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["printable", "read_input", "say"]


def printable(text: str) -> str:
    """Return ``text`` with control characters (C0, DEL, C1) shown as escapes."""
    return "".join(
        ch
        if ch in "\n\t" or (ch.isprintable() and not 0x80 <= ord(ch) <= 0x9F)
        else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def say(message: str) -> None:
    """Print ``sequencer: message`` on standard error, safe for a terminal."""
    print(f"sequencer: {printable(message)}", file=sys.stderr)


def read_input(file: str) -> bytes:
    """Return the bytes of ``file`` (``-``: standard input).

    Raises ``OSError`` when it cannot be read, standard input closed included.
    """
    if file == "-":
        if sys.stdin is None:
            raise OSError(9, "standard input is closed")
        return sys.stdin.buffer.read()
    return Path(file).read_bytes()
