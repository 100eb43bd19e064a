"""The one `samband` entry point. Each package contributes the verbs it owns in its own
``cli.py`` (a module-level ``commands`` list of click commands), gathered here."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import click

from ._commands import demo, up

__all__ = ["cli", "main"]

# Where verbs live: each package's cli.py, beside what it calls.
_VERB_MODULES = (
    "samband.schemas.cli",
    "samband.observability.cli",
    "samband.broker_config.cli",
    "samband.router.cli",
    "samband.adapters.cli",
    "samband.bench.cli",
)


class Context:
    """Handed to every subcommand: where the deployment lives and how to connect as an identity."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def deployment(self):
        from samband.broker_config import Deployment

        if not (self.state_dir / "deployment.json").exists():
            raise click.ClickException(f"no deployment in {self.state_dir}: start one with `samband up` first")
        return Deployment.load(self.state_dir)

    async def connect(self, identity: str):
        return await self.deployment().connect(identity)

    def policy_dir(self) -> Path:
        """The shipped policy (package data of samband.broker_config); the router is handed the path."""
        from ._platform import shipped_policy_dir

        return shipped_policy_dir()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("SAMBAND_STATE", ".samband"),
    show_default=".samband",
    help="Where credentials, keys, the rendered config and the JetStream store live (env SAMBAND_STATE).",
)
@click.pass_context
def cli(ctx: click.Context, state_dir: Path) -> None:
    """samband: the federated message bus for the multi-agency effort against organised crime."""
    ctx.obj = Context(state_dir)


cli.add_command(up)
cli.add_command(demo)
for _name in _VERB_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:
        if exc.name != _name:  # a verb module that exists but fails to import is a bug, not an absence
            raise
        continue
    for _command in _module.commands:
        cli.add_command(_command)


def main() -> None:
    cli()
