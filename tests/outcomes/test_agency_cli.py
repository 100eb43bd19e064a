"""An agency's IT team sends its outcomes: a sample of the seeds' figures, its adapter deriving outcomes,
its outcome export; on a broker of its own (no router), so the figures go nowhere else."""

from __future__ import annotations

import asyncio
from pathlib import Path

from samband.schemas import ENVELOPE

from .._support import samband_cli as samband


async def ingested(dep) -> list:
    from samband.broker_config import ROUTER

    nc = await dep.connect(ROUTER)
    try:
        js = nc.jetstream()
        # Kronofogden's own ingest stream (its quota): no router here, so every record is still in it
        info = await js.stream_info("INGEST_kronofogden")
        first, last = info.state.first_seq, info.state.last_seq
        return [await js.get_msg("INGEST_kronofogden", seq) for seq in range(first, last + 1)]
    finally:
        await nc.close()


def test_kronofogden_samples_bacchus_and_its_adapter_sends_derived_and_exported_outcomes(fresh_deployment, tmp_path):
    dep = fresh_deployment
    asyncio.run(dep.provision())
    out = samband(dep, "adapter", "sample", "kronofogden", "4", str(tmp_path), "--figures", "bacchus-2017")
    assert out.exit_code == 0, out.output
    native, export = (Path(p) for p in out.output.split())
    assert (native.name, export.name) == ("kronofogden.txt", "kronofogden.utfall.csv")
    assert export.read_bytes().startswith(
        "\ufeffId;Myndighet;Region;Insats;Kategori;Belopp;Status;Antal;Från;Till".encode()
    )

    run = samband(dep, "adapter", "run", "kronofogden", "--source", str(native), "--outcomes", "--once", "--no-inbox")
    assert run.exit_code == 0, run.output
    assert "│    1 │         1 │                1 │          0 │             0 │" in run.output  # one payment security
    run = samband(
        dep, "adapter", "run", "kronofogden", "--outcome-export", "--source", str(export), "--once", "--no-inbox"
    )
    assert run.exit_code == 0, run.output
    assert "│    4 │         4 │          0 │             0 │" in run.output  # the collected 100 000 kr, in 4 rows

    msgs = asyncio.run(ingested(dep))
    assert [m.subject for m in msgs] == ["ingest.kronofogden.enforcement.payment_security"] + [
        "ingest.kronofogden.outcome"
    ] * 5
    outcomes = [ENVELOPE.decode(m.data).record for m in msgs[1:]]
    assert [(o.category, o.amount_ore) for o in outcomes[:1]] == [("payment_security", 35_000_00)]
    assert sum(o.amount_ore for o in outcomes[1:]) == 100_000_00
    assert {o.agency for o in outcomes} == {"kronofogden"}


def test_sampling_figures_for_an_agency_without_results_in_them_is_a_usage_error(fresh_deployment, tmp_path):
    out = samband(fresh_deployment, "adapter", "sample", "tullverket", "4", str(tmp_path), "--figures", "mitt-2020")
    assert out.exit_code == 2
    assert (
        "Expected an agency with results in mitt-2020 (arbetsformedlingen, forsakringskassan, kronofogden, "
        "polisen, skatteverket), got `tullverket`"
    ) in out.output
