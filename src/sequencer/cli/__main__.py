"""``python -m sequencer.cli``: the same as the ``sequencer`` command."""

import sys

from sequencer.cli.main import main

sys.exit(main())
