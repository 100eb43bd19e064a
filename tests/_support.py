"""Helpers the test modules share (the structlog `testing` habit): waiting for a condition with a
deadline, scratch streams, `samband` as its own process, envelopes for the policy tests, and an
agency export run through the adapter runtime. Fixtures stay in the conftest files; helpers live here."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import importlib.resources
import inspect
import os
import random
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from samband.adapters import Positions, list_dead_letters, mapping_for, native_format, publish_records, read_source
from samband.broker_config import Deployment
from samband.schemas import (
    Envelope,
    Handling,
    OrganisationRef,
    OverloadReport,
    Passenger,
    PersonRef,
    VehicleControl,
    VehicleRef,
    new_envelope_id,
    synthetic_orgnr,
    synthetic_personnummer,
    synthetic_plate,
)
from samband.testing import assert_no_personnummer

# The shipped policy (package data of samband.broker_config).
SHIPPED = Path(str(importlib.resources.files("samband.broker_config") / "policy"))


async def scratch_stream(bus: Deployment, name: str, root: str):
    """A memory stream ``name`` on ``<root>.>`` in the router's account, for one test module, and a
    connection to it (idempotent: the router may not delete streams, so tests use subjects of their own)."""
    from nats.js.api import StorageType, StreamConfig

    from samband.broker_config import ROUTER

    nc = await bus.connect(ROUTER)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{root}.>"], storage=StorageType.MEMORY))
    return nc, js


def fresh_subject(root: str) -> str:
    """A subject prefix under ``root`` no other test uses."""
    return f"{root}.{random.getrandbits(40):x}"


async def ingest_last_seq(bus: Deployment, agency: str) -> int:
    """The last sequence of ``agency``'s own INGEST stream (read as the router, which owns it)."""
    from samband.broker_config import ROUTER
    from samband.schemas.layout import ingest_stream

    nc = await bus.connect(ROUTER)
    try:
        return (await nc.jetstream().stream_info(ingest_stream(agency))).state.last_seq
    finally:
        await nc.close()


async def ingest_since(bus: Deployment, agency: str, after_seq: int, count: int) -> list:
    """``count`` messages of ``agency``'s INGEST stream after ``after_seq``, read by sequence (a work-queue
    stream allows no second consumer beside the router's), as stored: ``.subject``, ``.headers``, ``.data``."""
    from nats.js.errors import NotFoundError

    from samband.broker_config import ROUTER
    from samband.schemas.layout import ingest_stream

    nc = await bus.connect(ROUTER)
    js = nc.jetstream()
    stream = ingest_stream(agency)
    try:
        out: list = []
        seq = after_seq
        last = (await js.stream_info(stream)).state.last_seq
        while len(out) < count and seq < last:
            seq += 1
            try:
                out.append(await js.get_msg(stream, seq))
            except NotFoundError:  # routed (and so removed) already
                continue
        return out
    finally:
        await nc.close()


async def plain_text_answer(host: str, port: int) -> str:
    """What a server says to a client that speaks NATS without TLS (nats-py would upgrade by itself,
    so this speaks the protocol by hand): its first line after CONNECT, or ``(closed)`` if it hung up."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await asyncio.wait_for(reader.readline(), 5)  # INFO
        writer.write(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5)
        return line.decode().strip() if line else "(closed)"
    finally:
        writer.close()


async def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02, what: str | None = None) -> None:
    """Poll ``predicate`` (a function, or a coroutine function) until true; fail with a clear message
    after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        ok = predicate()
        if inspect.isawaitable(ok):
            ok = await ok
        if ok:
            return
        if loop.time() > deadline:
            raise AssertionError(
                f"condition not met within {timeout}s: {what or getattr(predicate, '__doc__', None) or predicate}"
            )
        await asyncio.sleep(interval)


async def retry_until_ready(make, timeout: float = 30.0):
    """Call ``make()`` until JetStream answers: a fresh cluster first elects its meta leader (and,
    after a node is killed, a new stream leader). Fails with the last error after ``timeout``."""
    import nats
    from nats.js.errors import Error as JsError

    from samband.broker_config import BrokerConfigError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return await make()
        except (TimeoutError, BrokerConfigError, JsError, nats.errors.Error):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


def read_until(proc, ready: str, timeout: float, what: str) -> list[str]:
    """Read ``proc``'s stdout until a line contains ``ready``; fail with everything it printed if it
    exits first or the deadline passes. The pipe is polled with the deadline, never read blindly,
    so a process that hangs silently cannot hang the test. Returns the lines read so far."""
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            text = data.decode(errors="replace")
            if ready in text:
                return text.splitlines(keepends=True)
            left = deadline - time.monotonic()
            chunk = os.read(fd, 65536) if left > 0 and sel.select(left) else None
            if not chunk:  # the deadline passed (None) or the process closed its output (b"")
                proc.kill()
                proc.wait(10)
                why = "exited" if chunk == b"" else f"stayed silent for {timeout:.0f} s"
                raise AssertionError(f"{what} {why} before printing {ready!r}:\n{text}")
            data += chunk


def samband_process(state_dir: Path, *args: str, ready: str, env: dict | None = None, timeout: float = 30.0):
    """Start ``samband --state-dir STATE ARGS...`` as its own process and read its output until a line
    contains ``ready`` (see `read_until`). Returns (process, lines so far); stop it with
    ``stop_samband_process``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "samband", "--state-dir", str(state_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {"COLUMNS": "200", "SAMBAND_LOG_LEVEL": "info"} | (env or {}),  # as a user runs it
    )
    return proc, read_until(proc, ready, timeout, f"`samband {' '.join(args)}`")


def keep_reading(proc, lines: list[str]):
    """Read the rest of a `samband_process`'s output into ``lines`` in a thread (so a busy process never
    blocks on a full pipe, and a test can wait for a line); returns the thread for `stop_read_process`."""
    import threading

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


def stop_read_process(proc, lines: list[str], reader) -> str:
    """SIGTERM a process whose output `keep_reading` reads; fails unless it exits 0. Returns all it printed."""
    import signal

    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    reader.join(timeout=10)
    assert proc.returncode == 0, "".join(lines)
    assert_no_personnummer("".join(lines), f"the output of `{' '.join(proc.args[2:])}`")
    return "".join(lines)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, what: str | Callable[[], str] = "") -> None:
    """`wait_for` for tests without an event loop: poll until true, fail clearly after ``timeout``
    (``what`` may be a callable, to say what was last seen)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"condition not met within {timeout}s: {said or predicate}")
        time.sleep(interval)


def stop_samband_process(proc, lines: list[str]) -> str:
    """SIGTERM, then all it printed; fails unless it exits 0."""
    import signal

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + out
    assert_no_personnummer("".join(lines) + out, f"the output of `{' '.join(proc.args[2:])}`")
    return "".join(lines) + out


# ---- envelopes for the policy tests (synthetic identifiers with valid checksums) ----
UTC = _dt.UTC
AT = _dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
IN_2017 = _dt.datetime(2017, 3, 3, 20, 0, tzinfo=UTC)


def vehicle_control(
    rng: random.Random | None = None,
    *,
    origin: str = "polisen",
    operation: str = "bacchus-2017",
    region: str = "syd",
    handling: Handling = Handling(),
    straw_buyers: int = 0,
) -> Envelope:
    """A Bacchus bus control; ``straw_buyers``: that many identified passengers named as buyers of the
    liquor, each with a samordningsnummer (travellers without a Swedish personnummer)."""
    rng = rng or random.Random(1)
    vehicle = VehicleRef(plate=synthetic_plate(rng))
    driver = PersonRef(pnr=synthetic_personnummer(rng))
    on_board = tuple(
        Passenger(person=PersonRef(pnr=synthetic_personnummer(rng, samordning=True)), role="straw_buyer")
        for _ in range(straw_buyers)
    )
    rec = VehicleControl(
        control_id=f"PM-{rng.getrandbits(32):08x}",
        controlled_at=IN_2017,
        location="Helsingborg, färjeläget",
        vehicle=vehicle,
        vehicle_kind="buss",
        driver=driver,
        passengers=41,
        remark="alkohol över införselkvot",
        identified_passengers=on_board,
    )
    return Envelope(
        id=new_envelope_id(),
        record=rec,
        origin=origin,
        region=region,
        operation=operation,
        produced_at=IN_2017,
        subjects=(vehicle, driver, *(p.person for p in on_board)),
        handling=handling,
    )


def overload_report(
    rng: random.Random | None = None, *, handling: Handling = Handling(), origin: str = "polisen"
) -> Envelope:
    rng = rng or random.Random(2)
    vehicle = VehicleRef(plate=synthetic_plate(rng))
    operator = OrganisationRef(orgnr=synthetic_orgnr(rng))
    rec = OverloadReport(
        report_id=f"PM-OL-{rng.getrandbits(32):08x}",
        weighed_at=IN_2017,
        location="Helsingborg",
        vehicle=vehicle,
        operator=operator,
        measured_kg=21_300,
        permitted_kg=18_000,
    )
    return Envelope(
        id=new_envelope_id(),
        record=rec,
        origin=origin,
        region="syd",
        operation="bacchus-2017",
        produced_at=IN_2017,
        subjects=(vehicle, operator),
        handling=handling,
    )


# ---- the adapter runtime over an export file ----
# Records these tests publish belong to no decided operation, so a router started by another
# test (one shared server) denies them instead of delivering them into someone's sink.
OPERATION = "adapter-tests"


def records_into(settled: list):
    """A `publish_records` progress callback keeping each record settled (published or dead-lettered),
    not the checkpoints that mark a file done."""
    from samband.adapters import Checkpoint

    return lambda item: None if isinstance(item, Checkpoint) else settled.append(item)


async def run_export(bus, agency: str, source: Path, *, positions: Positions | None = None, **kwargs):
    """Publish ``source`` with the agency's own credentials; the summary and the dead letters from this source."""
    mapping = mapping_for(agency)
    nc = await bus.connect(agency)
    try:
        summary = await publish_records(
            nc, mapping, read_source(source, native_format(mapping), positions=positions), positions=positions, **kwargs
        )
        key = str(Path(source).resolve())
        letters = [
            letter
            for _, letter in await list_dead_letters(nc)
            if letter.source == key or letter.source.startswith(key + "/")
        ]
    finally:
        await nc.close()
    return summary, letters


# ---- outcomes and the follow-up ----
async def publish_figures(bus, figures: str, out_dir: Path, *, n: int = 12, seed: int = 2020) -> int:
    """Each involved agency's events for a seed figure set (`samband adapter sample --figures`), written as
    its own export and its outcome export and published by its adapter with derived outcomes on, with its
    own credentials. Returns the messages published (records and outcomes)."""
    from samband.adapters import FIGURES, OutcomeExport, figure_events, write_export

    rng = random.Random(seed)
    sent = 0
    for agency in sorted({line.agency for line in FIGURES[figures].lines}):
        mapping = mapping_for(agency)
        natives, rows = figure_events(mapping, figures, rng, n)
        export = OutcomeExport(agency)
        nc = await bus.connect(agency)
        try:
            for m, records, name in ((mapping, natives, None), (export, rows, f"{agency}.utfall.csv")):
                if records:
                    path = write_export(m, records, out_dir, name=name)
                    items = read_source(path, native_format(m))
                    summary = await publish_records(nc, m, items, derive_outcomes=True)
                    assert not summary.rejected, [str(r) for r in summary.rejected]
                    sent += summary.published + summary.outcomes
        finally:
            await nc.close()
    return sent


async def audit_entries(bus: Deployment, envelope_id: str | None = None) -> list:
    """Every decision in the deployment's audit log (of one envelope, if given), decoded, in log order,
    read as the oversight reads it (up to the newest checkpoint). A refusal at the router's edge is
    audited under its INGEST message (``ingest:<origin>:<seq>``) and names the envelope in its reason."""
    from samband.observability.audit import ENTRY_DECODER, AuditRecord, read_log

    nc = await bus.connect("auditor")
    try:
        log = await read_log(nc, witnesses=False)
    finally:
        await nc.close()
    out = [r for r in map(ENTRY_DECODER.decode, log.entries) if isinstance(r, AuditRecord)]
    if envelope_id is None:
        return out
    return [r for r in out if r.envelope_id == envelope_id or f"(envelope `{envelope_id}`)" in (r.reason or "")]


async def audit_since(dep: Deployment, count: int) -> list:
    """The decisions of the audit log after its first ``count`` (`audit_last` says how many there are)."""
    return (await audit_entries(dep))[count:]


async def audit_last(dep: Deployment) -> int:
    """How many decisions the audit log holds now."""
    return len(await audit_entries(dep))


async def audit_entry_with_time(dep: Deployment, envelope_id: str, recipient: str):
    """The decision about (envelope, recipient) and the server time its bundle was stored at."""
    from samband.observability.audit import ENTRY_DECODER, decode_bundle
    from samband.observability.bus import direct_get, read_range
    from samband.schemas.layout import AUDIT_LOG_SUBJECT, AUDIT_STREAM

    nc = await dep.connect("auditor")
    try:
        last = (await nc.jetstream().stream_info(AUDIT_STREAM)).state.last_seq
        for seq, _, data in reversed(
            await read_range(nc, AUDIT_STREAM, 1, last, with_seqs=True, subjects=[AUDIT_LOG_SUBJECT])
        ):
            for line in decode_bundle(data)[1]:
                rec = ENTRY_DECODER.decode(line)
                if getattr(rec, "envelope_id", None) == envelope_id and rec.recipient == recipient:
                    return rec, (await direct_get(nc, AUDIT_STREAM, seq=seq)).time
    finally:
        await nc.close()
    raise AssertionError(f"no audit entry for {envelope_id} -> {recipient}")


async def audit_bundle_times(dep: Deployment) -> dict:
    """envelope id -> the server time the bundle holding its (last) decision was stored at."""
    from samband.observability.audit import ENTRY_DECODER, decode_bundle
    from samband.observability.bus import direct_get, read_range
    from samband.schemas.layout import AUDIT_LOG_SUBJECT, AUDIT_STREAM

    nc = await dep.connect("auditor")
    try:
        last = (await nc.jetstream().stream_info(AUDIT_STREAM)).state.last_seq
        out = {}
        for seq, _, data in await read_range(nc, AUDIT_STREAM, 1, last, with_seqs=True, subjects=[AUDIT_LOG_SUBJECT]):
            when = (await direct_get(nc, AUDIT_STREAM, seq=seq)).time
            for line in decode_bundle(data)[1]:
                out[getattr(ENTRY_DECODER.decode(line), "envelope_id", "")] = when
        return out
    finally:
        await nc.close()


async def inbox_envelopes(bus, agency: str, record_type: str) -> list[Envelope]:
    """What ``agency`` received of ``record_type``, read from its INBOX with its own credentials."""
    from samband.schemas import ENVELOPE_READER

    nc = await bus.connect(agency)
    try:
        js = nc.jetstream()
        info = await js.stream_info("INBOX")
        out: list[Envelope] = []
        if not info.state.messages:
            return out  # nothing delivered yet (first_seq 0 is no message)
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg("INBOX", seq)
            if msg.subject == f"in.{record_type}":
                out.append(ENVELOPE_READER.decode(msg.data))
        return out
    finally:
        await nc.close()


async def send_as(bus, agency: str, env: Envelope, *, msg_id: str | None = None) -> None:
    """Publish ``env`` to ``out.<type>`` with ``agency``'s credentials, as a hostile agency would: no adapter."""
    from samband.schemas import encode

    nc = await bus.connect(agency)
    try:
        await nc.jetstream().publish(
            f"out.{env.record_type}", encode(env), headers={"Nats-Msg-Id": msg_id or f"{agency}:{env.id}"}
        )
    finally:
        await nc.close()


async def audited(bus, envelope_id: str, count: int = 1, timeout: float = 20.0) -> list:
    """The audit records of one envelope, once at least ``count`` are in the trail (fails after ``timeout``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        entries = await audit_entries(bus, envelope_id)
        if len(entries) >= count:
            return entries
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"expected {count} audit records of {envelope_id} within {timeout}s, got {len(entries)}"
            )
        await asyncio.sleep(0.05)


async def report_as(bus, identity: str, **filters):
    """The outcomes report ``identity`` makes from its own inbox, with its own credentials."""
    from samband.adapters import outcomes_report

    nc = await bus.connect(identity)
    try:
        return await outcomes_report(nc, identity, **filters)
    finally:
        await nc.close()


class _ByThread:
    """A text stream that is the command runner's for the thread running the command and the
    process's own for every other thread."""

    def __init__(self, mine, others, owner: int) -> None:
        self._mine, self._others, self._owner = mine, others, owner

    def _stream(self):
        return self._mine if threading.get_ident() == self._owner else self._others

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def flush(self) -> None:
        self._stream().flush()

    def __getattr__(self, name: str):
        return getattr(self._stream(), name)


class CommandRunner(CliRunner):
    """click's `CliRunner`, except that what other threads print while the command runs is not
    taken as the command's: CliRunner swaps ``sys.stdout``/``sys.stderr`` for the whole process,
    so a line a router in this test process logs meanwhile (a warning under load) would land in the
    command's output, as it never does for a user whose router is another process."""

    @contextlib.contextmanager
    def isolation(self, *args, **kwargs):
        outer_out, outer_err = sys.stdout, sys.stderr
        with super().isolation(*args, **kwargs) as streams:
            me = threading.get_ident()
            sys.stdout = _ByThread(sys.stdout, outer_out, me)
            sys.stderr = _ByThread(sys.stderr, outer_err, me)
            yield streams  # CliRunner puts the process's own streams back on the way out


def samband_cli(dep, *args: str):
    """``samband --state-dir <dep> ARGS`` in this process; never a traceback. Only what the command's
    own thread prints is its output (see `CommandRunner`)."""
    from samband.cli import cli

    result = CommandRunner().invoke(cli, ["--state-dir", str(dep.state_dir), *args], env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output, result.output
    return result


def report_json(dep, *args: str) -> dict:
    """``samband outcomes report ARGS --json``, which must succeed."""
    import json

    result = samband_cli(dep, "outcomes", "report", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


async def verify_deployment_log(dep: Deployment):
    """The deployment's log verified as the oversight verifies it, against the deployment's key."""
    from samband.observability.audit import load_verifier, read_log, verify_log

    nc = await dep.connect("auditor")
    try:
        log = await read_log(nc)
    finally:
        await nc.close()
    return verify_log(log, load_verifier(dep.state_dir / "keys" / "audit-signing.vkey"))


async def live_router(dep: Deployment, tmp_path: Path, policy_dir: Path = SHIPPED):
    """``dep`` provisioned and a router started, and ready, on ``policy_dir`` that follows the councils'
    decisions (their keys made in the state dir): (the live policy, the platform, the router). Stop the
    platform."""
    from samband._platform import Platform
    from samband.router import LivePolicy, create_council_keys

    await dep.provision()
    live = LivePolicy(policy_dir, councils=create_council_keys(dep.state_dir))
    platform = Platform(dep, live, tmp_path / "received")
    router = await platform.start_router()
    try:
        await wait_for(router.ready.is_set)
    except BaseException:
        await platform.stop()
        raise
    return live, platform, router
