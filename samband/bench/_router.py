"""The router as a process of its own, for `samband bench` (its RSS is measured apart from the load).

``python -m samband.bench._router STATE_DIR [--policy skeleton|bacchus] [--sample 1.0] [--no-audit] [--bundle]
[--profile FILE]``

Runs the platform's router on the deployment in STATE_DIR until SIGTERM/SIGINT, then prints
one JSON line: the router's stats, its peak RSS (VmHWM) and the spans it produced.

``--no-audit`` is for measuring what the audit trail costs and nothing else: the router is given
an appender that seals its audit records as always but does not append them, so it delivers
without an audit record, which samband never does. It exists only in this bench module; the
router itself has no such switch.

``--bundle`` delivers one inbox message per recipient and batch (`_bundles.BundlingDeliverer`), to
measure that design; samband delivers each copy alone.

``--profile FILE`` runs the router under cProfile and writes its stats to FILE (``pstats`` format),
for `samband bench --profile`: where the router's time goes at a given fan-out.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import signal
import sys
import time
from pathlib import Path

import msgspec

from samband.broker_config import Deployment
from samband.observability import configure_logging, configure_tracing, settle_heap

from ._env import NullExporter, rss_kib

__all__ = ["UnauditedAppender", "load_policy", "main"]


class UnauditedAppender:
    """Bench only: builds every batch as the writer does (encoding, leaf hashes, tree, signed
    checkpoint: its CPU is kept) but appends nothing.

    Handed to the router through its public seam (`Platform.start_router(appender=...)`); the
    router itself has no switch to deliver without an audit record.
    """

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from samband.observability.audit import CompactRange, LogKey

        self.key = LogKey(Ed25519PrivateKey.generate())
        self.tree = CompactRange()

    async def start(self) -> None:
        return None

    async def append(self, drafts) -> int:
        from samband.observability.audit import build_batch

        built = build_batch(
            [d.record for d in drafts], size=self.tree.size, frontier=self.tree, after=0, term=0, ingest_high=0,
            key=self.key,
        )  # fmt: skip
        self.tree = built.frontier
        return 0  # stored none

    async def close(self) -> None:
        return None


def load_policy(name: str):
    """``skeleton`` (fan-out 1) or ``bacchus`` (the demo's Operation Bacchus, when the policy files exist)."""
    from samband._platform import shipped_policy_dir
    from samband.router import Policy
    from samband.testing import skeleton_policy

    if name == "skeleton":
        return skeleton_policy()
    if name == "bacchus":
        return Policy.load(shipped_policy_dir())
    return Policy.load(Path(name))


async def _run(state_dir: Path, policy_name: str, audit: bool = True, bundle: bool = False) -> dict:
    from samband._platform import Platform

    dep = Deployment.load(state_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    platform = Platform(dep, load_policy(policy_name), state_dir / "received")
    router = await platform.start_router(appender=None if audit else UnauditedAppender())
    if bundle:  # before any record: the bench publishes only once this process says ready
        from ._bundles import BundlingDeliverer

        router.deliverer = BundlingDeliverer.like(router.deliverer)
    settle_heap()  # as `samband up` and `samband router run` do once the router routes
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
    ap = argparse.ArgumentParser(prog="python -m samband.bench._router")
    ap.add_argument("state_dir", type=Path)
    ap.add_argument("--policy", default="skeleton")
    ap.add_argument("--sample", type=float, default=1.0, help="parent-based ratio sampler for root spans")
    ap.add_argument("--no-audit", action="store_true", help="bench only: seal but do not append audit records")
    ap.add_argument("--bundle", action="store_true", help="bench only: one inbox message per recipient and batch")
    ap.add_argument("--profile", type=Path, help="run under cProfile, its stats written to this file")
    args = ap.parse_args(argv)
    configure_logging(level="error")
    exporter = NullExporter()
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = configure_tracing(
        "samband-router",
        sample_ratio=args.sample,
        processors=[BatchSpanProcessor(exporter, max_queue_size=65_536, max_export_batch_size=4096)],
    )
    # CPU time, not wall time: on a shared machine other processes' load would count otherwise
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    if profiler is not None:
        profiler.enable()
    stats = asyncio.run(_run(args.state_dir, args.policy, audit=not args.no_audit, bundle=args.bundle))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    provider.force_flush()
    stats["peak_rss_kib"] = rss_kib(field="VmHWM")
    stats["spans"] = exporter.exported
    sys.stdout.write(msgspec.json.encode(stats).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
