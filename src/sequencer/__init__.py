"""sequencer: cited decision support for choosing blinatumomab or CD19 CAR T cells.

Public surface (everything else is internal and may change)::

    from sequencer import recommend, PatientProfile, Recommendation

Decision support for a tumor board, not an order.
"""

from sequencer.api import default_rulebook, fired_rules, recommend
from sequencer.batch import BatchResult, recommend_many
from sequencer.errors import (
    PROBLEM_CODES,
    AnswerFileError,
    CaseFileError,
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
from sequencer.model.parsing import parse_profile
from sequencer.model.profile import FORMAT_VERSION, PatientProfile
from sequencer.model.recommendation import Recommendation

__all__ = [
    "FORMAT_VERSION",
    "PROBLEM_CODES",
    "AnswerFileError",
    "BatchResult",
    "CaseFileError",
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
]

__version__ = "0.1.0"
