"""The sub-benchmarks: `bench schemas`, `bench policy`, `bench adapters` (`bench audit`: _audit.py).

Each measures one part against its own baseline in the same process, best of a few rounds
(the machine is shared; the best round is the least disturbed one).
"""

from __future__ import annotations

import datetime as _dt
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from samband.adapters.agencies import polisen
from samband.schemas import ENVELOPE, encode

from ._env import Figure, native_records

__all__ = ["adapters_bench", "policy_bench", "schemas_bench"]


def _best(fn: Callable[[], int], rounds: int = 3) -> tuple[float, int]:
    """(seconds of the fastest round, items it did)."""
    best, items = float("inf"), 0
    for _ in range(rounds):
        t = time.perf_counter()
        items = fn()
        best = min(best, time.perf_counter() - t)
    return best, items


# ---- schemas -------------------------------------------------------------------------------
def schemas_bench(n: int = 20_000) -> dict:
    """Envelope decode + validation against a plain untyped msgspec decode of the same bytes."""
    payloads = [encode(polisen.to_envelope(r.value)) for r in native_records(min(n, 2000), run="schemas")]
    payloads = (payloads * (n // len(payloads) + 1))[:n]
    plain = msgspec.json.decode

    def typed() -> int:
        for p in payloads:
            ENVELOPE.decode(p)
        return len(payloads)

    def untyped() -> int:
        for p in payloads:
            plain(p)
        return len(payloads)

    t_typed, _ = _best(typed)
    t_plain, _ = _best(untyped)
    return {
        "records": n,
        "payload_bytes": sum(map(len, payloads)) // n,
        "envelope_decode_validate_us": t_typed / n * 1e6,
        "plain_msgspec_decode_us": t_plain / n * 1e6,
        "ratio": t_typed / t_plain,
        "target": "<= 3",
        "met": t_typed / t_plain <= 3.0,
    }


# ---- policy --------------------------------------------------------------------------------
def _decider(policy) -> Callable:
    """One call that decides every candidate of an envelope."""
    return lambda env, at: len(policy.route(env, at))

    def decide_all(env, at):
        cands = policy.candidates(env)
        for r in cands:
            policy.decide(env, r, at)
        return len(cands)

    return decide_all


def _policy_envelopes(n: int, operations: list[str] | None) -> list:
    rng = random.Random(7)
    out = []
    for _i, r in enumerate(native_records(n, run="policy")):
        native = r.value
        if operations:
            native["insats"] = rng.choice(operations)
        else:
            native["insats"], native["region"] = "bacchus-2017", "syd"
        out.append(msgspec.structs.replace(polisen.to_envelope(native), origin="polisen"))
    return out


def _time_policy(policy, envs: list, label: str, at: _dt.datetime | None = None) -> dict:
    decide_all = _decider(policy)
    at = at or _dt.datetime.now(_dt.UTC)

    def run() -> int:
        return sum(decide_all(env, at) for env in envs)

    seconds, decisions = _best(run)
    return {
        "policy": label,
        "envelopes": len(envs),
        "decisions": decisions,
        "us_per_decision": seconds / max(decisions, 1) * 1e6,
        "us_per_record": seconds / len(envs) * 1e6,
    }


def policy_bench(n: int = 5_000) -> dict:
    """µs per decision on the shipped policy, and on synthetic policies of growing size when the router has them."""
    from samband.testing import SYNTHETIC_AT, synthetic_envelopes, synthetic_policy

    from ._router import load_policy

    rows: list[dict] = []
    notes: list[str] = []
    rows.append(_time_policy(load_policy("bacchus"), _policy_envelopes(n, None), "shipped (Operation Bacchus)"))
    for ops, grants in ((10, 5), (100, 50), (1000, 500)):
        policy = synthetic_policy(operations=ops, grants=grants)
        rows.append(
            _time_policy(
                policy,
                synthetic_envelopes(policy, n),
                f"synthetic: 21 agencies, 8 scopes, {ops} operations, {grants} grants",
                at=SYNTHETIC_AT,
            )
        )
    from ._impact import replay_bench

    shipped = load_policy("bacchus")
    replayed = replay_bench(shipped, _policy_envelopes(n, None))
    return {"rows": rows, "notes": notes, "replay": replayed}


# ---- adapters ------------------------------------------------------------------------------
def _export(path: Path, n: int, run: str) -> list[dict]:
    """A Polisen JSON-lines export of ``n`` records (unique control ids per run); the native records."""
    natives = [r.value for r in native_records(n, run=run)]
    with open(path, "wb") as f:
        for native in natives:
            f.write(msgspec.json.encode(native) + b"\n")
    return natives


def _as_published(natives: list[dict]) -> tuple[list[bytes], list[dict[str, str]]]:
    """What the adapter publishes for each record: its envelope with a ``traceparent`` and the same headers."""
    rng = random.Random(5)
    payloads, headers = [], []
    for native in natives:
        traceparent = f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-03"
        env = msgspec.structs.replace(polisen.to_envelope(native), traceparent=traceparent)
        payloads.append(encode(env))
        headers.append({"Nats-Msg-Id": f"polisen:{polisen.key(native)}", "traceparent": traceparent})
    return payloads, headers


async def adapters_bench(dep, n: int = 20_000, *, rounds: int = 3, exporter=None) -> dict:
    """Polisen's adapter publishing a JSON-lines file, tracing on, against raw windowed JetStream publish.

    Like with like: the baseline publishes the very messages the adapter publishes for the same
    records (same envelope bytes with a ``traceparent``, same headers: ``Nats-Msg-Id`` and
    ``traceparent``), encoded before its clock starts. Each round runs the baseline and then the
    adapter on one broker, ``rounds`` times; the round with the (lower) median ratio is the result.
    ``exporter`` (a `NullExporter`) counts the adapter's exported spans: one per record.
    """
    from samband.adapters import publish_records, read_jsonl

    from ._base import jetstream_pipeline, jetstream_windowed

    stamp = time.time_ns()
    adapter_rounds: list[Figure] = []
    raw_rounds: list[Figure] = []
    pipe_rounds: list[Figure] = []
    spans_before = exporter.exported if exporter is not None else 0
    with tempfile.TemporaryDirectory(prefix="samband-bench-adapters-") as tmp:
        exports, baseline = [], []
        for r in range(rounds):
            natives = _export(Path(tmp) / f"polisen-{r}.jsonl", n, f"adapters-{stamp}-{r}")
            exports.append(Path(tmp) / f"polisen-{r}.jsonl")
            baseline.append(_as_published(natives))  # its own stream: the same msg ids do not collide
        payload_bytes = sum(map(len, baseline[0][0])) // n
        for r in range(rounds):
            payloads, headers = baseline[r]
            raw_rounds.append(await jetstream_windowed(dep, payloads, headers=headers))
            nc = await dep.connect("polisen")
            t = time.perf_counter()
            summary = await publish_records(nc, polisen, read_jsonl(exports[r]))
            seconds = time.perf_counter() - t
            await nc.close()
            adapter_rounds.append(
                Figure(
                    name="adapter: read file, map, trace, publish",
                    records=summary.published,
                    seconds=seconds,
                    rate_in=summary.published / seconds,
                    rate_out=summary.published / seconds,
                    note="" if summary.published == n else f"{n - summary.published} not published",
                )
            )
            pipe_rounds.append(await jetstream_pipeline(dep, payloads, headers))
    spans = None
    if exporter is not None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        provider = trace.get_tracer_provider()
        if isinstance(provider, TracerProvider):
            provider.force_flush()
        spans = exporter.exported - spans_before
    # Each round is a pair measured back to back; the (lower) median pair is the result, which
    # cancels the load other processes put on a shared machine between rounds.
    pairs = sorted(zip(adapter_rounds, raw_rounds), key=lambda p: p[0].rate_in / p[1].rate_in)
    adapter, raw = pairs[(len(pairs) - 1) // 2]
    pipeline = pipe_rounds[adapter_rounds.index(adapter)]
    ratio = adapter.rate_in / raw.rate_in
    return {
        "adapter": adapter,
        "raw_jetstream": raw,
        "ratio": ratio,
        "target": ">= 0.5",
        "met": ratio >= 0.5,
        "pipeline": pipeline,
        "adapter_vs_pipeline": adapter.rate_in / pipeline.rate_in,
        "rounds": [
            {"adapter": a.rate_in, "raw_jetstream": b.rate_in, "ratio": a.rate_in / b.rate_in}
            for a, b in zip(adapter_rounds, raw_rounds)
        ],
        "payload_bytes": payload_bytes,
        "spans_exported": spans,
        "records": n,
    }
