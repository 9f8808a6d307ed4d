"""The ``sequencer`` command line (entry point ``sequencer.cli:main``)."""

from sequencer.cli.main import main

__all__ = ["main"]
