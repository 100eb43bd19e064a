"""The policy files' model and the council's decision records describe the same things: a field
added to one and not the other would be dropped silently when a decision is applied live."""

from __future__ import annotations

import msgspec

from samband.router._model import Grant, Operation
from samband.schemas import CooptionDecision, OperationDecision

# Fields a decision record has that the policy model keeps elsewhere (its key in the table).
KEYS = {OperationDecision: {"operation"}, CooptionDecision: {"grant_id"}}


def _fields(cls) -> dict[str, object]:
    return {f.name: f.type for f in msgspec.structs.fields(cls)}


def test_an_operation_decision_carries_exactly_the_fields_of_an_operation_in_the_policy_files():
    decision = {k: v for k, v in _fields(OperationDecision).items() if k not in KEYS[OperationDecision]}
    assert decision.keys() == _fields(Operation).keys()


def test_a_cooption_decision_carries_exactly_the_fields_of_a_grant_in_the_policy_files():
    decision = {k: v for k, v in _fields(CooptionDecision).items() if k not in KEYS[CooptionDecision]}
    assert decision.keys() == _fields(Grant).keys()
