"""The router as a process of its own, for `samband bench` (its RSS is measured apart from the load).

``python -m samband._bench_router STATE_DIR [--policy skeleton|bacchus] [--sample 1.0] [--no-audit]``

Runs the platform's router on the deployment in STATE_DIR until SIGTERM/SIGINT, then prints
one JSON line: the router's stats, its peak RSS (VmHWM) and the spans it produced.

``--no-audit`` is for measuring what the audit trail costs and nothing else: the router seals
its audit records as always but does not append them, so it delivers without an audit record,
which samband never does. It exists only in this bench module, in a subclass; the router
itself has no such switch.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import msgspec

from samband.broker_config import Deployment
from samband.observability import configure_logging, configure_tracing

from ._bench_env import NullExporter, rss_kib

__all__ = ["load_policy", "main"]


def _unaudited_router_class():
    from samband.router import Router

    class UnauditedRouter(Router):
        """Bench only: the audit records are sealed (their CPU is kept) but not appended."""

        async def _append_audit(self, plan) -> None:
            return None

    return UnauditedRouter


def load_policy(name: str):
    """``skeleton`` (fan-out 1) or ``bacchus`` (the demo's Operation Bacchus, when the policy files exist)."""
    from samband.router import Policy

    if name == "skeleton":
        return Policy.skeleton()
    if name == "bacchus":
        from . import _platform

        shipped = getattr(_platform, "shipped_policy_dir", None)
        if shipped is None or not hasattr(Policy, "load"):
            raise SystemExit("no shipped Operation Bacchus policy on this version")
        return Policy.load(shipped())
    return Policy.load(Path(name))


async def _run(state_dir: Path, policy_name: str, audit: bool = True) -> dict:
    from ._platform import Platform

    dep = Deployment.load(state_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    platform = Platform(dep, load_policy(policy_name), state_dir / "received")
    platform._stop = stop  # the platform's tasks end on our signal
    router = await platform.start_router(router_class=None if audit else _unaudited_router_class())
    print("ready", flush=True)
    await stop.wait()
    await platform.stop()
    s = router.stats
    return {
        "records": s.records,
        "batches": s.batches,
        "decisions": s.decisions,
        "allowed": s.allowed,
        "denied": s.denied,
        "audited": s.audited,
        "delivered": dict(s.delivered),
        "refused": s.refused,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m samband._bench_router")
    ap.add_argument("state_dir", type=Path)
    ap.add_argument("--policy", default="skeleton")
    ap.add_argument("--sample", type=float, default=1.0, help="parent-based ratio sampler for root spans")
    ap.add_argument("--no-audit", action="store_true", help="bench only: seal but do not append audit records")
    args = ap.parse_args(argv)
    configure_logging(level="error")
    exporter = NullExporter()
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = configure_tracing(
        "samband-router",
        sample_ratio=args.sample,
        processors=[BatchSpanProcessor(exporter, max_queue_size=65_536, max_export_batch_size=4096)],
    )
    stats = asyncio.run(_run(args.state_dir, args.policy, audit=not args.no_audit))
    provider.force_flush()
    stats["peak_rss_kib"] = rss_kib(field="VmHWM")
    stats["spans"] = exporter.exported
    sys.stdout.write(msgspec.json.encode(stats).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
