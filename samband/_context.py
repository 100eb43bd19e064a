"""What every subcommand is handed: where the deployment lives, how to connect as an identity,
which agency names exist, and the seams that compose two packages (a native record through
its adapter mapping, for `policy explain --native`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["Context"]


class Context:
    def __init__(self, state_dir: Path, *, log_level: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.log_level = log_level

    def has_deployment(self) -> bool:
        return (self.state_dir / "deployment.json").exists()

    def deployment(self):
        from samband.broker_config import Deployment

        if not self.has_deployment():
            raise click.ClickException(
                f"Expected a deployment in {self.state_dir}, found none: start one with "
                f"`samband --state-dir {self.state_dir} up`, or point --state-dir at it"
            )
        return Deployment.load(self.state_dir)

    async def connect(self, identity: str):
        return await self.deployment().connect(identity)

    def policy_dir(self) -> Path:
        """The shipped policy (package data of samband.broker_config); the router is handed the path."""
        from ._platform import shipped_policy_dir

        return shipped_policy_dir()

    def agencies(self) -> set[str]:
        """Every agency name a user may mean: the policy's, the built-in ones and this deployment's
        (onboarded agencies included). An offboarded agency stays a name: its history is queried."""
        from samband.broker_config import builtin_agencies
        from samband.router import Policy

        names = set(builtin_agencies()) | set(Policy.load(self.policy_dir()).data.agencies)
        if self.has_deployment():
            names |= set(self.deployment().agencies)
        return names

    def check_agency(self, value: str | None, option: str, *, known: set[str] | None = None) -> str | None:
        """``value`` if it names an agency; else a usage error with the closest name."""
        from samband.schemas import unknown_name

        if value is None:
            return None
        known = self.agencies() if known is None else known
        if value not in known:
            raise click.BadParameter(unknown_name("an agency", value, known), param_hint=f"'{option}'")
        return value

    def onboarded_mapping(self, agency: str) -> Path | None:
        """The mapping file the deployment kept when ``agency`` was onboarded, if any."""
        if not self.has_deployment():
            return None
        from samband.broker_config import Deployment

        found = Deployment.load(self.state_dir).agencies.get(agency)
        if found is None or not found.mapping:
            return None
        path = Path(found.mapping)
        return path if path.is_absolute() and path.is_file() else None

    def native_envelope(self, agency: str, source: Path, line: int | None) -> Any:
        """The envelope AGENCY's adapter makes of one native record of ``source`` (its ``line``,
        or the first record), or a `RejectedRecord` saying why it makes none."""
        from ._native import native_envelope

        return native_envelope(agency, source, line, mapping_file=self.onboarded_mapping(agency))
