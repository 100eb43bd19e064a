"""samband.router: the policy (compiled tables, pure decisions) and the routing service."""

from ._errors import DeliveryFailed, PolicyError, RouterError
from ._policy import LUS, Decision, Policy, Rule
from ._service import Router, RouterStats

__all__ = ["LUS", "Decision", "DeliveryFailed", "Policy", "PolicyError", "Router", "RouterError", "RouterStats", "Rule"]
