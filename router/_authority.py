"""Citations: which decision or policy file an audit entry names as the authority for a decision.

An operation's rules (its participants' need-to-know allows, its closing) rest on the council
decision in force for it, or on ``operations.toml``; a co-option's on the grant's decision, or on
``cooptions.toml``; the follow-up of outcomes on ``outcomes.toml``. `Citations` is built by
`LivePolicy` from the decisions in force and handed to the compile step, which writes the
`Authority` into each prebuilt `Decision`: the hot path copies a reference, nothing more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import msgspec

from samband.observability.audit import Authority

from ._decisions import DecisionEntry
from ._legal_time import swedish_date
from ._model import PolicyData

__all__ = ["Citations", "cite_decision", "files_version"]

FILES = {"operation": "operations.toml", "cooption": "cooptions.toml", "outcomes": "outcomes.toml"}


def files_version(data: PolicyData) -> str:
    """The version of the policy files alone (the same hash as a policy compiled from them)."""
    return hashlib.sha256(msgspec.json.encode(data, order="sorted")).hexdigest()[:16]


def cite_decision(e: DecisionEntry) -> Authority:
    """An admitted decision as an audit entry cites it."""
    return Authority(
        source="decision",
        ref=e.ref,
        kind=e.kind,
        target=e.target,
        council=e.council,
        decided_by=e.decided_by,
        decided_on=swedish_date(e.issued_at).isoformat() if e.issued_at is not None else None,
        decision_id=e.decision_id,
    )


class Citations:
    """The authority of each operation and grant: its decision in force, else its policy file."""

    def __init__(
        self,
        decisions: Mapping[tuple[str, str], Authority] | None = None,
        *,
        policy_dir: Path | str | None = None,
        version: str | None = None,
    ) -> None:
        self.decisions = dict(decisions or {})
        self.policy_dir = str(policy_dir) if policy_dir is not None else None
        self.version = version  # None: the compiled policy's own version (no decisions merged in)
        self._files: dict[str, Authority] = {}

    def key(self) -> tuple:
        """What the citations depend on (a policy with the same version and key cites the same)."""
        return (tuple(sorted(self.decisions.items(), key=lambda kv: kv[0])), self.policy_dir, self.version)

    def of(self, kind: str, target: str | None, version: str) -> Authority:
        """``kind``: ``operation``, ``cooption`` or ``outcomes``; ``version``: the compiled policy's."""
        if target is not None:
            cited = self.decisions.get((kind, target))
            if cited is not None:
                return cited
        name = FILES[kind]
        found = self._files.get(name)
        if found is None:
            path = str(Path(self.policy_dir) / name) if self.policy_dir is not None else name
            found = self._files[name] = Authority(source="policy-file", ref=path, version=self.version or version)
        return found
