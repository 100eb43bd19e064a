"""The one `samband` entry point. Each package contributes the verbs it owns in its own
``cli.py`` (a module-level ``commands`` list of click commands), gathered here.

Here too is the one place a user's mistake becomes a line instead of a traceback: each
package's error base (and click's own errors) is printed as ``Error: ...`` on stderr, exit
code 2 for a usage error, 1 for a failed check. Global options (``--state-dir``,
``--log-level``) are accepted before or after the subcommand.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from samband import __version__

from ._commands import demo, up
from ._context import Context
from ._onboard import onboard
from ._status_cli import status

__all__ = ["cli", "main"]

# Where verbs live: each package's cli.py, beside what it calls.
_VERB_MODULES = (
    "samband.schemas.cli",
    "samband.observability.cli",
    "samband.broker_config.cli",
    "samband.router.cli",
    "samband.adapters.cli",
    "samband.bench.cli",
    "samband.console.cli",
)


def _set_state_dir(obj: Context, value: Path) -> None:
    obj.state_dir = value


def _set_log_level(obj: Context, value: str) -> None:
    from samband.observability import configure_logging

    obj.log_level = value
    configure_logging(level=value)


# (name, click declarations, options, what setting it does). Each is an option of the group and,
# hidden from nothing, of every subcommand too: `samband up --state-dir X` = `samband --state-dir X up`.
_GLOBAL_OPTIONS: tuple[tuple[str, Sequence[str], dict[str, Any], Callable[[Context, Any], None]], ...] = (
    (
        "state_dir",
        ("--state-dir",),
        dict(
            type=click.Path(file_okay=False, path_type=Path),
            metavar="DIR",
            help="Where credentials, keys, the rendered config and the JetStream store live "
            "[env SAMBAND_STATE; default: .samband].",
        ),
        _set_state_dir,
    ),
    (
        "log_level",
        ("--log-level",),
        dict(
            type=click.Choice(["debug", "info", "warning", "error"]),
            help="Least severe log records written (to stderr) [env SAMBAND_LOG_LEVEL; default: info].",
        ),
        _set_log_level,
    ),
)


def _global_callback(apply: Callable[[Context, Any], None]):
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is not None:
            obj = ctx.find_object(Context)
            if obj is not None:
                apply(obj, value)
        return value

    return callback


def _with_global_options(command: click.Command) -> None:
    """Give ``command`` (and every command under it) the global options, unless it has them."""
    names = {p.name for p in command.params}
    for name, decls, options, apply in _GLOBAL_OPTIONS:
        if name not in names:
            command.params.append(
                click.Option(list(decls), expose_value=False, callback=_global_callback(apply), **options)
            )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _with_global_options(sub)


class _Samband(click.Group):
    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        _with_global_options(cmd)
        super().add_command(cmd, name)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        extra.pop("standalone_mode", None)
        try:
            code = super().main(args, prog_name or "samband", standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (try `{exc.ctx.command_path if exc.ctx is not None else 'samband'} -h`)"
            _fail(exc.format_message() + hint, 2)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            _fail("Aborted.", 130)
        except _user_errors() as exc:
            _fail(str(exc), 1)
        except OSError as exc:
            # a path the user gave that cannot be written or read, a port the system refuses: the
            # commands translate what they expect; this is the boundary for the rest
            where = f" - at {exc.filename}" if exc.filename else ""
            _fail(f"{exc.strerror or exc}{where}", 1)
        sys.exit(code if isinstance(code, int) else 0)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Each package's error base: what it raises is a sentence for the user, never a traceback."""
    from samband.adapters import AdapterError
    from samband.broker_config import BrokerConfigError
    from samband.console import ConsoleError
    from samband.observability import ObservabilityError
    from samband.router import RouterError
    from samband.schemas import SchemaError

    return (SchemaError, ObservabilityError, BrokerConfigError, RouterError, AdapterError, ConsoleError)


def _fail(message: str, code: int) -> None:
    # One line: a message that runs over several (a server's log tail) keeps its first and says so.
    first, *rest = message.strip().splitlines() or [""]
    click.echo(f"Error: {first}" + (" (more in the log)" if rest and "log" not in first else ""), err=True)
    sys.exit(code)


@click.group(name="samband", cls=_Samband, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("SAMBAND_STATE", ".samband"),
    show_default=".samband",
    metavar="DIR",
    help="Where credentials, keys, the rendered config and the JetStream store live (env SAMBAND_STATE). "
    "Accepted after the subcommand too.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Least severe log records written to stderr (env SAMBAND_LOG_LEVEL; default info). "
    "Console lines on a terminal, JSON lines otherwise.",
)
@click.version_option(__version__, "--version", "-V", prog_name="samband", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, state_dir: Path, log_level: str | None) -> None:
    """samband: the federated message bus for the multi-agency effort against organised crime."""
    from samband.observability import configure_logging

    ctx.obj = Context(state_dir, log_level=log_level)
    configure_logging(level=log_level)


cli.add_command(up)
cli.add_command(demo)
cli.add_command(onboard)
cli.add_command(status)
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
