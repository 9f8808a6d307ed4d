"""sequencer: cited decision support for choosing blinatumomab or CD19 CAR T cells.

Public surface (everything else is internal and may change)::

    from sequencer import recommend, PatientProfile, Recommendation

Decision support for a tumor board, not an order.
"""

from sequencer.api import default_rulebook, fired_rules, recommend
from sequencer.batch import BatchResult, recommend_many
from sequencer.errors import EngineError, Problem, ProfileError, RuleBaseError, SequencerError
from sequencer.profile import PatientProfile, parse_profile
from sequencer.recommendation import Recommendation
from sequencer.rulebook import Rulebook, load_rulebook

__all__ = [
    "BatchResult",
    "EngineError",
    "PatientProfile",
    "Problem",
    "ProfileError",
    "Recommendation",
    "RuleBaseError",
    "Rulebook",
    "SequencerError",
    "__version__",
    "default_rulebook",
    "fired_rules",
    "load_rulebook",
    "parse_profile",
    "recommend",
    "recommend_many",
]

__version__ = "0.1.0"
