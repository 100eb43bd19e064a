"""Onboarding and offboarding an agency on a running broker: one file in, live, no restart.

The steps, in order, each undone if a later one in the same group fails:
validate the file (and, through ``check``, its mapping: before anything changes), keep a copy
of the mapping in the state directory, make credentials, re-render, check with
``nats-server -t``, reload the running server (SIGHUP), create the agency's streams, announce
it to the router on REGISTRY.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from samband.observability import get_logger

from ._agencies import Agency, load_agency_file, mapping_path
from ._creds import ROUTER
from ._deployment import Deployment
from ._errors import AgencyFileError, BrokerConfigError, BrokerUnavailable, OnboardingError
from ._registry import announce, registration_subject

__all__ = [
    "MAPPINGS_DIR",
    "Onboarded",
    "adapter_command",
    "offboard",
    "onboard",
    "register",
    "registration_subject",
]

log = get_logger("samband.broker")

# Where a deployment keeps the mapping of each agency it onboarded (<state>/mappings/<slug>.toml):
# the copy that was checked, so `samband adapter run SLUG` needs no --mapping and no longer
# depends on where the agency file happened to lie.
MAPPINGS_DIR = "mappings"


@dataclass(frozen=True)
class Onboarded:
    agency: Agency
    file: Path
    seed_file: Path
    registration_seq: int
    adapter_command: str | None


def adapter_command(dep: Deployment, agency: Agency) -> str | None:
    """The command that runs the agency's declarative adapter against this deployment (the
    deployment remembers the mapping: no --mapping)."""
    if not agency.mapping:
        return None
    return shlex.join(
        ["samband", "--state-dir", str(dep.state_dir), "adapter", "run", agency.slug]
        + ["--sink", str(dep.state_dir / "received")]
    )


async def register(dep: Deployment, agency: Agency, *, active: bool = True) -> int:
    """Announce the agency to the router (REGISTRY stream in the ROUTER account); return the stream sequence."""
    if agency.tier == "centre":  # shipped in the policy's agencies.toml, never announced (see onboard)
        raise OnboardingError(f"Expected an agency of tier core or network, got centre {agency.slug!r}")
    nc = await dep.connect(ROUTER)
    try:
        return await announce(nc, agency, active=active)
    finally:
        await nc.close()


async def onboard(
    dep: Deployment, file: Path | str, *, check: Callable[[Agency, Path], None] | None = None
) -> Onboarded:
    """Onboard the agency described by ``file`` onto the running broker of ``dep``.

    ``check(agency, mapping_file)`` runs before anything changes (the CLI tries the mapping on
    its own sample records there); whatever it raises refuses the agency.
    """
    file = Path(file)
    agency = load_agency_file(file, require_mapping=True)
    if agency.tier == "centre":
        raise AgencyFileError(
            f"{file}: key `tier`: Expected core or network (the effort's centres ship with samband), got 'centre'"
        )
    if agency.slug in dep.agencies:
        raise AgencyFileError(
            f"{file}: key `slug`: Expected a slug not yet on the bus, got {agency.slug!r} (already onboarded)"
        )
    source = mapping_path(agency, file)
    if check is not None:
        check(agency, source)
    kept = (dep.state_dir / MAPPINGS_DIR / f"{agency.slug}.toml").resolve()
    agency = msgspec.structs.replace(agency, mapping=str(kept))
    try:
        dep.change(add=agency)
    except OnboardingError as exc:  # another `samband onboard` added it meanwhile
        raise AgencyFileError(f"{file}: key `slug`: {exc}") from exc
    except BrokerUnavailable:
        raise
    except BrokerConfigError as exc:
        raise OnboardingError(
            f"{file}: Expected the broker to accept the configuration with `{agency.slug}` added, "
            f"got {exc}; nothing changed"
        ) from exc
    try:
        kept.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(source, kept)
        await dep.provision_inbox(agency.slug)
        seq = await register(dep, agency, active=True)
    except (BrokerConfigError, OSError) as exc:
        # All or nothing: an agency on the bus without its inbox or unknown to the router helps no one.
        dep.change(remove=agency.slug)
        raise OnboardingError(
            f"{file}: Expected `{agency.slug}` set up (its streams and registration), "
            f"got {exc}; it was taken off the bus again"
        ) from exc
    log.info("agency onboarded", agency=agency.slug, registration_seq=seq)
    return Onboarded(agency, file, dep.seed(agency.slug), seq, adapter_command(dep, agency))


async def offboard(dep: Deployment, slug: str) -> int:
    """Revoke the agency's credentials live and announce it inactive; its audit history stays."""
    agency = dep.agencies.get(slug)
    if agency is None:
        raise OnboardingError(f"Expected an agency on the bus ({', '.join(sorted(dep.agencies))}), got {slug!r}")
    if agency.tier == "centre":
        raise OnboardingError(f"Expected an agency, got the centre {slug!r} (the effort's centres ship with samband)")
    try:
        dep.change(remove=slug)
    except BrokerUnavailable:
        raise
    except BrokerConfigError as exc:
        raise OnboardingError(
            f"Expected the broker to accept the configuration without `{slug}`, got {exc}; nothing changed"
        ) from exc
    seq = await register(dep, agency, active=False)
    log.info("agency offboarded", agency=slug, registration_seq=seq)
    return seq
