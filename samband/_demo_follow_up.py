"""The demo's second half: the centres' situation pictures, and Operation Bacchus's outcomes followed up.

Nuc publishes a national situation picture (lägesbild) to Operativa rådet's members and Ruc Syd a
regional one to RSR Syd's members, each naming a priority person that only the intelligence
functions receive. Then the agencies of Operation Bacchus send their results as the 2017 report
gives them (seed 000, section 6): their adapters derive outcomes from the records they send and
read their outcome exports. The router routes them to Ruc Syd and the national follow-up; Ruc Syd
makes its report from its own inbox with its own credentials.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from samband.adapters import (
    FIGURES,
    OutcomeExport,
    OutcomeReport,
    figure_events,
    mapping_for,
    native_format,
    outcomes_report,
    publish_records,
    read_source,
    write_export,
)
from samband.broker_config import Deployment
from samband.router import Router
from samband.schemas import ENVELOPE_READER, Envelope, PersonRef, SituationReport, encode, new_envelope_id

from ._platform import Platform

__all__ = ["PICTURES", "FollowUpResult", "run_follow_up"]

FIGURES_ID = "bacchus-2017"
# (centre, its name, region, the standing operation it publishes in)
PICTURES = (
    ("nuc", "Nuc", "national", "samverkan-nationell"),
    ("ruc_syd", "Ruc Syd", "syd", "samverkan-syd"),
)


@dataclass
class Picture:
    centre: str
    operation: str
    with_persons: list[str] = field(default_factory=list)
    without: list[str] = field(default_factory=list)


@dataclass
class FollowUpResult:
    pictures: list[Picture] = field(default_factory=list)
    outcomes_sent: int = 0
    report: OutcomeReport | None = None
    names: dict[str, str] = field(default_factory=dict)


def _picture(centre: str, name: str, region: str, operation: str, rng: random.Random) -> Envelope:
    from samband.schemas import synthetic_personnummer

    person = PersonRef(pnr=synthetic_personnummer(rng))
    today = _dt.date.today()
    month_ago = today - _dt.timedelta(days=30)
    report = SituationReport(
        report_id=f"{centre.upper()}-{today:%Y-%m}",
        centre=name,
        period_from=month_ago,
        period_to=today,
        summary="The liquor-bus traffic has stopped; some actors go on with vans and trailers (synthetic).",
        priority_persons=(person,),
    )
    return Envelope(
        id=new_envelope_id(),
        record=report,
        region=region,  # type: ignore[arg-type]
        operation=operation,
        produced_at=_dt.datetime.now(_dt.UTC),
        subjects=(person,),
        legal_basis="LUS 2016:774",
    )


async def _publish_as(dep: Deployment, agency: str, env: Envelope) -> None:
    nc = await dep.connect(agency)
    try:
        await nc.jetstream().publish(
            f"out.{env.record_type}", encode(env), headers={"Nats-Msg-Id": f"{agency}:{env.id}"}
        )
    finally:
        await nc.close()


async def _send_figures(dep: Deployment, root: Path) -> int:
    """Each Bacchus agency's results through its own adapter, with its own credentials."""
    rng = random.Random(2017)
    sent = 0
    for agency in sorted({line.agency for line in FIGURES[FIGURES_ID].lines}):
        mapping = mapping_for(agency)
        natives, rows = figure_events(mapping, FIGURES_ID, rng, 6)
        export = OutcomeExport(agency)
        nc = await dep.connect(agency)
        try:
            for m, records, name in ((mapping, natives, None), (export, rows, f"{agency}{export.suffix}")):
                if records:
                    path = write_export(m, records, root / "outcomes", name=name)
                    summary = await publish_records(nc, m, read_source(path, native_format(m)), derive_outcomes=True)
                    sent += summary.published + summary.outcomes
        finally:
            await nc.close()
    return sent


async def wait_until_delivered(platform: Platform, router: Router, records: int, deadline: float) -> None:
    """Until the router has taken ``records`` records in all and every delivery it allowed is in its
    recipient's sink, or the (monotonic) ``deadline`` passes: the demo then shows what arrived."""
    s = router.stats

    def settled() -> bool:
        return (
            s.records >= records
            and sum(s.delivered.values()) >= s.allowed
            and all(len(platform.sinks[a]) >= s.delivered.get(a, 0) for a in platform.sinks)
        )

    while not settled() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def run_follow_up(
    dep: Deployment, platform: Platform, router: Router, root: Path, *, deadline: float
) -> FollowUpResult:
    """Publish the two pictures and Bacchus's outcomes, wait until every sink has what was delivered,
    and make Ruc Syd's report. Every recipient needs its sink started before (the demo starts them all)."""
    result = FollowUpResult(names={slug: a.name for slug, a in dep.agencies.items()})
    s = router.stats
    before = s.records
    rng = random.Random(4711)
    pictures = [(_picture(c, name, region, op, rng), c, op) for c, name, region, op in PICTURES]
    for env, centre, _ in pictures:
        await _publish_as(dep, centre, env)
    result.outcomes_sent = await _send_figures(dep, root)
    expected = before + len(pictures) + result.outcomes_sent

    await wait_until_delivered(platform, router, expected, deadline)
    for env, centre, op in pictures:
        picture = Picture(centre, op)
        for agency, sink in sorted(platform.sinks.items()):
            if env.id in sink:
                got = _written(sink.path, env.id)
                (picture.with_persons if got.record.priority_persons else picture.without).append(agency)  # type: ignore[union-attr]
        result.pictures.append(picture)
    nc = await dep.connect("ruc_syd")
    try:
        result.report = await outcomes_report(nc, "ruc_syd", region="syd", operation=FIGURES_ID)
    finally:
        await nc.close()
    return result


def _written(path: Path, envelope_id: str) -> Envelope:
    """The envelope a sink wrote for ``envelope_id`` (what the recipient's system received)."""
    with open(path, "rb") as f:
        for line in f:
            if envelope_id.encode() in line:
                return ENVELOPE_READER.decode(line)
    raise LookupError(envelope_id)
