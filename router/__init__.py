"""samband.router: the policy (compiled tables, pure decisions), the live policy and the routing service."""

from ._errors import DeliveryFailed, PolicyError, RouterError
from ._live import LivePolicy, grant_from, operation_from
from ._minimise import View
from ._model import PolicyData, load_policy_dir
from ._policy import LUS, NOBODY, Decision, Policy
from ._service import Router, RouterStats
from ._synthetic import SYNTHETIC_AT, measure_decide, synthetic_data, synthetic_envelopes, synthetic_policy

__all__ = [
    "LUS",
    "NOBODY",
    "SYNTHETIC_AT",
    "Decision",
    "DeliveryFailed",
    "LivePolicy",
    "Policy",
    "PolicyData",
    "PolicyError",
    "Router",
    "RouterError",
    "RouterStats",
    "View",
    "grant_from",
    "load_policy_dir",
    "measure_decide",
    "operation_from",
    "synthetic_data",
    "synthetic_envelopes",
    "synthetic_policy",
]
