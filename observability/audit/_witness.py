"""A witness: an agency's process that checks the log only ever grows, and cosigns what it checked.

Each look (every ``interval`` seconds) it takes the log's newest checkpoint, opens it with the
log's pinned key, reads the leaf hashes appended since the last checkpoint it cosigned, and
checks, with nothing but its own small state (that checkpoint's size, root and frontier):

* the new leaves extend its frontier to exactly the new signed root;
* an RFC 9162 consistency proof from its old tree to the new one, made from the frontier and
  the new leaves, verifies against both roots;

and only then cosigns it (C2SP tlog-cosignature) on its own subject ``audit.cosignature.<agency>``
(stored beside the checkpoints, in AUDIT_WITNESS) and remembers it (``<state>/witness/<agency>.state``,
0600). A checkpoint for a smaller tree, another root for the same size, leaves that do not meet
the signed root, or a checkpoint the log's key did not sign raise `WitnessAlarm`: nothing is
cosigned past it. Between two looks the log may grow by many checkpoints: the witness cosigns
the newest, consistent with the last it cosigned (a cosignature speaks for the largest tree seen).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import os
from pathlib import Path

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError

from samband.schemas.layout import (
    AUDIT_CHECKPOINT_SUBJECT,
    AUDIT_STREAM,
    AUDIT_TREE_SUBJECT,
    audit_consumer_names,
    cosignature_subject,
    witness_identity,
)

from .._logging import get_logger
from ..bus import ReadError, direct_get, read_range
from ._bundle import decode_tree
from ._checkpoint import Checkpoint, open_checkpoint
from ._cosign import WitnessKey
from ._errors import AuditError, AuditUnavailable, BundleError, NoteError
from ._note import Verifier
from ._proof import consistency_proof, verify_consistency
from ._tree import CompactRange, root_of

__all__ = ["Witness", "WitnessAlarm", "WitnessState"]

log = get_logger("samband.audit.witness")


class WitnessAlarm(AuditError):
    """The log showed this witness something inconsistent with what it cosigned before: it cosigns no more."""


class WitnessState(msgspec.Struct, frozen=True, kw_only=True):
    """The last checkpoint this witness cosigned: all it needs to check the next one."""

    size: int = 0
    root: str = base64.b64encode(root_of([])).decode()
    frontier: list[str] = []
    stream_seq: int = 0  # where that checkpoint is in the stream: the next leaves come after it
    cosigned_at: _dt.datetime | None = None


_STATE = msgspec.json.Decoder(WitnessState)


class Witness:
    def __init__(self, nc: nats.NATS, key: WitnessKey, log_verifier: Verifier, state_path: Path) -> None:
        self.nc = nc
        self.key = key
        self.log_verifier = log_verifier
        self.state_path = Path(state_path)
        self.identity = witness_identity(key.agency)
        self.cosigned = 0
        self.state = self._load()

    def _load(self) -> WitnessState:
        try:
            return _STATE.decode(self.state_path.read_bytes())
        except FileNotFoundError:
            return WitnessState()
        except msgspec.DecodeError as exc:
            raise WitnessAlarm(f"Expected the witness's state in {self.state_path}, could not read it: {exc}") from exc

    def _save(self, state: WitnessState) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(msgspec.json.encode(state))
        tmp.replace(self.state_path)
        self.state = state

    async def step(self) -> Checkpoint | None:
        """One look: the checkpoint cosigned, or None when there is nothing new."""
        try:
            newest = await direct_get(self.nc, AUDIT_STREAM, last_by_subj=AUDIT_CHECKPOINT_SUBJECT)
        except ReadError as exc:
            raise AuditUnavailable(str(exc)) from exc
        if newest is None:
            return None
        try:
            cp, body = open_checkpoint(newest.data, self.log_verifier)
        except NoteError as exc:
            raise WitnessAlarm(f"the newest checkpoint (stream seq {newest.seq}) is not the log's: {exc}") from exc
        st = self.state
        old_root = base64.b64decode(st.root)
        if cp.size < st.size:
            raise WitnessAlarm(
                f"the log's newest checkpoint is for {cp.size} entries; this witness cosigned {st.size} before"
            )
        if cp.size == st.size:
            if cp.root != old_root:
                raise WitnessAlarm(f"two roots signed for size {cp.size}: the log forked")
            return None
        leaves = await self._leaves(st, newest.seq)
        if len(leaves) != cp.size - st.size:
            raise WitnessAlarm(
                f"the checkpoint vouches for {cp.size} entries; {st.size + len(leaves)} leaf hashes were published"
            )
        old = CompactRange(st.size, [base64.b64decode(h) for h in st.frontier])
        new = old.copy()
        new.extend(leaves)
        if new.root() != cp.root:
            raise WitnessAlarm(
                f"the leaf hashes after entry {st.size} do not lead from the tree it cosigned to the root signed "
                f"for size {cp.size}"
            )
        proof = consistency_proof(st.size, cp.size, _subtrees(old, leaves))
        if not verify_consistency(st.size, cp.size, old_root, cp.root, proof):
            raise WitnessAlarm(f"no consistency proof from size {st.size} to size {cp.size}")
        await self._publish(body, cp.size)
        self._save(
            WitnessState(
                size=cp.size,
                root=cp.root_b64(),
                frontier=[base64.b64encode(h).decode() for h in new.hashes],
                stream_seq=newest.seq,
                cosigned_at=_dt.datetime.now(_dt.UTC),
            )
        )
        self.cosigned += 1
        log.info("checkpoint cosigned", witness=self.key.agency, size=cp.size)
        return cp

    async def _leaves(self, st: WitnessState, last: int) -> list[bytes]:
        try:
            tiles = await read_range(
                self.nc,
                AUDIT_STREAM,
                st.stream_seq + 1,
                last,
                subjects=[AUDIT_TREE_SUBJECT],
                names=audit_consumer_names(self.identity),
            )
        except ReadError as exc:
            raise AuditUnavailable(str(exc)) from exc
        leaves: list[bytes] = []
        for data in tiles:
            try:
                tile = decode_tree(data)
            except BundleError:
                continue  # not leaf hashes: foreign, and the count below says whether any are missing
            if tile.first == st.size + len(leaves):
                leaves.extend(tile.leaves)
        return leaves

    async def _publish(self, body: str, size: int) -> None:
        data = self.key.cosign(body)
        headers = {"Nats-Msg-Id": f"{self.key.agency}:{size}"}
        try:
            await self.nc.jetstream().publish(cosignature_subject(self.key.agency), data, headers=headers, timeout=5)
        except (TimeoutError, JsError, NatsError) as exc:
            raise AuditUnavailable(f"Expected the cosignature to be stored, got {exc!r}") from exc

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Look every ``interval`` seconds until ``stop``; an alarm ends it (raised)."""
        while not stop.is_set():
            try:
                await self.step()
            except AuditUnavailable as exc:
                log.warning("witness cannot read the log; will look again", witness=self.key.agency, error=str(exc))
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass


def _subtrees(old: CompactRange, leaves: list[bytes]):
    """Subtree roots for a consistency proof from ``old`` to ``old`` + ``leaves``: the old ones are nodes
    of its frontier, the others are made from the new leaves."""
    nodes: dict[tuple[int, int], bytes] = {}
    lo = 0
    for bit, h in zip((b for b in reversed(range(old.size.bit_length())) if old.size >> b & 1), old.hashes):
        nodes[(lo, lo + (1 << bit))] = h
        lo += 1 << bit
    m = old.size

    def subtree(lo: int, hi: int) -> bytes:
        if hi <= m:
            if (lo, hi) not in nodes:
                raise WitnessAlarm(f"no node for leaves {lo}..{hi - 1} in the frontier it kept")
            return nodes[(lo, hi)]
        if lo < m:
            raise WitnessAlarm(f"a proof node across the old tree's edge ({lo}..{hi - 1})")
        return root_of(leaves[lo - m : hi - m])

    return subtree
