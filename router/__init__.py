"""samband.router: the policy (data, compiled tables, pure decisions), the live policy and the routing service."""

from inspect import isfunction

from msgspec import Struct

from ._errors import PolicyError, RouterError
from ._live import LivePolicy, grant_from, operation_from
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
    record_fields,
    required_fields,
)
from ._plan import Delivery, Plan, Planner
from ._policy import NOBODY, Decision, Policy
from ._service import Router, RouterStats

__all__ = [
    "NOBODY",
    "AgencyEntry",
    "Coverage",
    "Decision",
    "Delivery",
    "Grant",
    "LegalBasis",
    "LivePolicy",
    "Need",
    "Operation",
    "Plan",
    "Planner",
    "Policy",
    "PolicyData",
    "PolicyError",
    "RegionEntry",
    "Restriction",
    "Router",
    "RouterError",
    "RouterStats",
    "View",
    "grant_from",
    "load_policy_dir",
    "operation_from",
    "record_fields",
    "required_fields",
]

# Tracebacks and reprs name the package, not the private module (httpx's habit). Not msgspec Structs:
# msgspec resolves their annotations in the module that `__module__` names.
for _obj in [globals()[n] for n in __all__]:
    if isfunction(_obj) or (isinstance(_obj, type) and not issubclass(_obj, Struct)):
        _obj.__module__ = __name__
