"""sequencer: cited decision support for choosing blinatumomab or CD19 CAR T cells.

Public surface (everything else is internal and may change)::

    from sequencer import recommend, PatientProfile, Recommendation

Decision support for a tumor board, not an order.
"""

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sequencer.errors import (
    PROBLEM_CODES,
    AnswerFileError,
    CaseFileError,
    CorpusError,
    EngineError,
    FhirError,
    Problem,
    ProfileError,
    RuleBaseError,
    SequencerError,
    UnknownContextError,
    UsageError,
)
from sequencer.knowledge.rulebook import Rulebook, load_rulebook
from sequencer.knowledge.shipped import default_rulebook
from sequencer.model.parsing import parse_profile
from sequencer.model.profile import FORMAT_VERSION, PatientProfile

if TYPE_CHECKING:
    from sequencer.api import fired_rules, recommend
    from sequencer.batch import BatchResult, recommend_many
    from sequencer.explain.validation import ValidationReport
    from sequencer.model.recommendation import Recommendation

# Imported on first use: loading the rule base (``default_rulebook``) needs none of them,
# and the engine, the ranking and the output models are most of the import's cost.
_LAZY = {
    "fired_rules": "sequencer.api",
    "recommend": "sequencer.api",
    "BatchResult": "sequencer.batch",
    "recommend_many": "sequencer.batch",
    "Recommendation": "sequencer.model.recommendation",
}


def __getattr__(name: str) -> Any:
    """Return the public name ``name`` imported on first use (PEP 562).

    Raises ``AttributeError`` for a name the package does not export.
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sequencer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "FORMAT_VERSION",
    "PROBLEM_CODES",
    "AnswerFileError",
    "BatchResult",
    "CaseFileError",
    "CorpusError",
    "EngineError",
    "FhirError",
    "PatientProfile",
    "Problem",
    "ProfileError",
    "Recommendation",
    "RuleBaseError",
    "Rulebook",
    "SequencerError",
    "UnknownContextError",
    "UsageError",
    "__version__",
    "default_rulebook",
    "fired_rules",
    "load_rulebook",
    "parse_profile",
    "recommend",
    "recommend_many",
    "validate",
]

__version__ = "0.1.0"


def validate(
    corpus: Iterable[Path | str] | None = None,
    *,
    rulebook: Rulebook | None = None,
    context: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> "ValidationReport":
    """Return a corpus of past decisions judged against the rule base: each case
    concordant, conditional, discordant or not assessable, with the shares and their 95%
    Wilson intervals (``sequencer.explain.validation.validate``; imported on first use).

    ``corpus`` names case files, board-minutes CSV files or directories (the shipped
    corpus when ``None``). Raises ``CorpusError`` listing every problem of every file."""
    from sequencer.explain.validation import validate as run

    return run(corpus, rulebook=rulebook, context=context, progress=progress)
