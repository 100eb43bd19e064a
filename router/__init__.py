"""samband.router: the policy (data, compiled tables, pure decisions), the live policy and the routing service."""

from inspect import isfunction

from msgspec import Struct

from ._authority import Citations
from ._councils import COUNCILS, CouncilKeys, council_for, create_council_keys, load_private_key, sign_decision
from ._decisions import DecisionEntry, Proposal, grant_from, operation_from
from ._delivery import Deliverer
from ._errors import CouncilKeyError, DecisionRefused, PolicyError, RouterError
from ._in_force import in_force
from ._legal_time import SWEDISH_TIME
from ._live import LivePolicy
from ._minimise import View
from ._model import (
    AgencyEntry,
    Coverage,
    Grant,
    LegalBasis,
    Need,
    Operation,
    PolicyData,
    RegionEntry,
    Restriction,
    load_policy_dir,
)
from ._options import policy_dir_option
from ._plan import Delivery, Plan, Planner
from ._policy import NOBODY, Decision, Facts, Policy
from ._proposal import read_decision_file, write_decision_file
from ._replay import Disclosure, Replay, replay
from ._review import DEFAULT_LAPSE, Hold, ReviewRule, review_rules
from ._review_desk import HoldView, ReviewReply, ReviewRequest
from ._service import Router, RouterStats
from ._validate import record_fields, required_fields

__all__ = [
    "COUNCILS",
    "DEFAULT_LAPSE",
    "NOBODY",
    "SWEDISH_TIME",
    "AgencyEntry",
    "Citations",
    "CouncilKeyError",
    "CouncilKeys",
    "Coverage",
    "Decision",
    "DecisionEntry",
    "DecisionRefused",
    "Deliverer",
    "Delivery",
    "Disclosure",
    "Facts",
    "Grant",
    "Hold",
    "HoldView",
    "LegalBasis",
    "LivePolicy",
    "Need",
    "Operation",
    "Plan",
    "Planner",
    "Policy",
    "PolicyData",
    "PolicyError",
    "Proposal",
    "RegionEntry",
    "Replay",
    "Restriction",
    "ReviewReply",
    "ReviewRequest",
    "ReviewRule",
    "Router",
    "RouterError",
    "RouterStats",
    "View",
    "council_for",
    "create_council_keys",
    "grant_from",
    "in_force",
    "load_policy_dir",
    "load_private_key",
    "operation_from",
    "policy_dir_option",
    "read_decision_file",
    "record_fields",
    "replay",
    "required_fields",
    "review_rules",
    "sign_decision",
    "write_decision_file",
]

# Tracebacks and reprs name the package, not the private module (httpx's habit). Not msgspec Structs:
# msgspec resolves their annotations in the module that `__module__` names.
for _obj in [globals()[n] for n in __all__]:
    if isfunction(_obj) or (isinstance(_obj, type) and not issubclass(_obj, Struct)):
        _obj.__module__ = __name__
