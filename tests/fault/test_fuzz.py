"""10,000 fuzzed native records (a seeded generator): every one ends in the dead-letter stream with a
reason, nothing reaches the bus, and the adapter does not crash."""

from __future__ import annotations

import random
import subprocess

import msgspec
import pytest

from samband.adapters.agencies import polisen
from samband.broker_config import ROUTER
from samband.testing import assert_no_personnummer

from ._procs import env, samband_argv, stored

pytestmark = [pytest.mark.fault, pytest.mark.timeout(300)]

N = 10_000
REQUIRED = ("kontrollId", "tidpunkt", "plats", "regnr", "fordonstyp", "region", "insats")


def _bad_pnr(rng: random.Random, good: str) -> str:
    digits = good.replace("-", "")
    last = str((int(digits[-1]) + rng.randrange(1, 10)) % 10)  # any other check digit is wrong
    return f"{digits[:6]}-{digits[6:9]}{last}"


# Every way below is invalid; the last two are wrong types in places the mapping reads leniently
# (an optional nested object, a text field), tested apart so a gap there is named, not hidden.
STRUCTURAL = tuple(range(10))
LENIENT = (10, 11)


def fuzzed(rng: random.Random, n: int, kinds: tuple[int, ...] = STRUCTURAL) -> list[bytes]:
    """``n`` lines, each one invalid in one way an export can be: never two alike (ids are unique)."""
    natives = polisen.sample(rng, n, operation="bacchus-2017", region="syd")
    lines = []
    for i, rec in enumerate(natives):
        rec["kontrollId"] = f"PM-FUZZ-{i:05d}"
        kind = rng.choice(kinds)
        if kind == 0:
            del rec[rng.choice(REQUIRED)]
        elif kind == 1:
            rec["tidpunkt"] = rng.choice([12345, "not a date", "2017-13-45T99:00:00", None, []])
        elif kind == 2:
            rec["regnr"] = rng.choice(["", "!!!", "ABCDEFGHIJ", 123, None])
        elif kind == 3:
            rec["forare"] = {"personnummer": _bad_pnr(rng, rec["forare"]["personnummer"])}
        elif kind == 4:
            rec["region"] = rng.choice(["atlantis", "", "SYD-X", 7])
        elif kind == 5:
            rec["antalPassagerare"] = rng.choice(["many", [], {"n": 1}, 1.5])
        elif kind == 6:
            rec["kontrollId"] = rng.choice([None, {}, [], ""]) if rng.random() < 0.5 else rec.pop("kontrollId") and None
        elif kind == 7:
            line = msgspec.json.encode(rec)
            lines.append(line[: rng.randrange(1, len(line) - 1)])  # truncated mid-record
            continue
        elif kind == 8:
            lines.append(msgspec.json.encode(rng.choice([[1, 2, i], i, f"text {i}", None, True])))
            continue
        elif kind == 9:
            raw = (
                bytes(rng.randrange(256) for _ in range(rng.randrange(8, 200))).replace(b"\n", b"").replace(b"\r", b"")
            )
            lines.append(b"\xff" + str(i).encode() + raw)  # not UTF-8, not JSON
            continue
        elif kind == 10:
            rec["forare"] = rng.choice(["199001011234", 42, [rec["forare"]]])
        else:
            rec["fordonstyp"] = rng.choice([None, 3, ["buss"]])
        lines.append(msgspec.json.encode(rec))
    return lines


async def _run_fuzzed(dep, tmp_path, n: int, kinds: tuple[int, ...]) -> None:
    await dep.provision()
    export = tmp_path / "polisen.jsonl"
    lines = fuzzed(random.Random(20170303), n, kinds)
    export.write_bytes(b"\n".join(lines) + b"\n")

    argv = samband_argv(dep, "adapter", "run", "polisen", "--source", str(export), "--once")
    proc = subprocess.run(
        argv + ["--sink", str(tmp_path / "received")], capture_output=True, text=True, timeout=240, env=env()
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "Traceback" not in proc.stderr
    assert_no_personnummer(proc.stdout + proc.stderr, "the adapter's output")  # it names each rejected line

    letters = [msgspec.json.decode(data) for data in await stored(dep, "polisen", "DEADLETTER")]
    assert len(letters) == n
    assert all(isinstance(d.get("reason"), str) and d["reason"] for d in letters)
    assert len({d["position"] for d in letters}) == n, "each rejected line has a dead letter of its own"
    rc = await dep.connect(ROUTER)
    try:
        assert (await rc.jetstream().stream_info("INGEST_polisen")).state.messages == 0, (
            "a fuzzed record reached the bus"
        )
    finally:
        await rc.close()


async def test_ten_thousand_fuzzed_records_all_end_as_dead_letters_with_a_reason(fresh_deployment, tmp_path):
    await _run_fuzzed(fresh_deployment, tmp_path, N, STRUCTURAL)


async def test_wrongly_typed_driver_or_vehicle_kind_also_ends_as_a_dead_letter(fresh_deployment, tmp_path):
    await _run_fuzzed(fresh_deployment, tmp_path, 500, LENIENT)
