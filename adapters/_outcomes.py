"""The outcomes report: what the cooperation achieved, from the outcome records an identity received.

The recipient side lives here, beside the inbox consumer: a Ruc or the national follow-up
reads its own INBOX (``in.outcome``) with its own credentials, so the broker decides what it can
count; nothing reads another party's data. `aggregate` is pure (envelopes in, a report out);
`outcomes_report` reads and aggregates, and is what a console calls. Money stays integer öre;
`format_kronor` writes it as Swedish reports do (``20 500 000,00``), `sek` as machines read it
(``20500000.00``).

An outcome counts in the period its ``period_to`` falls in (a result counts when it is
achieved, and never in two years). Decided and requested amounts (a recovery claim asked for,
not yet decided) are kept apart; the total is of decided ones. An outcome whose ``agency`` is
not its envelope's origin is never counted (the router refuses those; a reader does not trust
that alone).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import io
from collections.abc import Iterable

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.schemas import ENVELOPE_READER, OUTCOME_CATEGORIES, DecodeError, Envelope, Outcome, category_name

from ._errors import ReportError

__all__ = [
    "MAX_REPORT_RECORDS",
    "OutcomeLine",
    "OutcomeReport",
    "Subtotal",
    "aggregate",
    "outcomes_report",
    "read_received_outcomes",
    "report_csv",
    "report_json",
    "sek",
]

MAX_REPORT_RECORDS = 1_000_000  # a year of a region's outcomes is thousands; more is a flood, refused


class OutcomeLine(msgspec.Struct, frozen=True, kw_only=True):
    """One category and agency: how many outcome records, how many decisions they sum, the amount."""

    category: str
    category_name: str
    agency: str
    status: str
    records: int
    cases: int
    amount_ore: int
    amount_sek: str


class Subtotal(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    amount_ore: int
    amount_sek: str


class OutcomeReport(msgspec.Struct, frozen=True, kw_only=True):
    """The report for one identity's received outcomes; ``lines`` decided, ``requested`` apart."""

    identity: str
    region: str | None
    operation: str | None
    agency: str | None
    period_from: _dt.date | None
    period_to: _dt.date | None
    lines: tuple[OutcomeLine, ...]
    by_category: tuple[Subtotal, ...]
    by_agency: tuple[Subtotal, ...]
    total_ore: int
    total_sek: str
    requested: tuple[OutcomeLine, ...]
    requested_ore: int
    requested_sek: str
    received: int  # outcome records in the identity's inbox
    counted: int  # those the filters kept (decided and requested)
    not_own: int  # outcome records whose agency is not their origin: never counted


def sek(ore: int) -> str:
    """Öre as a machine-readable SEK amount with two decimals: ``2050000000`` -> ``20500000.00``."""
    sign, ore = ("-", -ore) if ore < 0 else ("", ore)
    return f"{sign}{ore // 100}.{ore % 100:02d}"


_ORDER = {cid: i for i, cid in enumerate(OUTCOME_CATEGORIES)}


def _category_key(category: str) -> tuple[int, str]:
    return (_ORDER.get(category, len(_ORDER)), category)


def aggregate(
    envelopes: Iterable[Envelope],
    identity: str,
    *,
    region: str | None = None,
    start: _dt.date | None = None,
    end: _dt.date | None = None,
    operation: str | None = None,
    agency: str | None = None,
) -> OutcomeReport:
    """Add up the outcome records in ``envelopes`` that match (region, ``period_to`` in [start, end],
    operation, agency), per category and agency, decided and requested apart. Pure."""
    sums: dict[tuple[str, str, str], list[int]] = {}  # (status, category, agency) -> [records, cases, öre]
    seen: set[str] = set()
    received = counted = not_own = 0
    for env in envelopes:
        rec = env.record
        if not isinstance(rec, Outcome) or env.id in seen:
            continue
        seen.add(env.id)
        received += 1
        if rec.agency != env.origin:
            not_own += 1
            continue
        if region is not None and rec.region != region:
            continue
        if (start is not None and rec.period_to < start) or (end is not None and rec.period_to > end):
            continue
        if operation is not None and (rec.operation or env.operation) != operation:
            continue
        if agency is not None and rec.agency != agency:
            continue
        counted += 1
        s = sums.setdefault((rec.status, rec.category, rec.agency), [0, 0, 0])
        s[0] += 1
        s[1] += rec.cases if rec.cases is not None else 1
        s[2] += rec.amount_ore

    def lines(status: str) -> tuple[OutcomeLine, ...]:
        picked = [(k, v) for k, v in sums.items() if k[0] == status]
        picked.sort(key=lambda kv: (_category_key(kv[0][1]), -kv[1][2], kv[0][2]))
        return tuple(
            OutcomeLine(
                category=c,
                category_name=category_name(c),
                agency=a,
                status=st,
                records=n,
                cases=cases,
                amount_ore=ore,
                amount_sek=sek(ore),
            )
            for (st, c, a), (n, cases, ore) in picked
        )

    decided, requested = lines("decided"), lines("requested")
    by_category: dict[str, int] = {}
    by_agency: dict[str, int] = {}
    for line in decided:
        by_category[line.category] = by_category.get(line.category, 0) + line.amount_ore
        by_agency[line.agency] = by_agency.get(line.agency, 0) + line.amount_ore
    total = sum(by_category.values())
    requested_ore = sum(line.amount_ore for line in requested)
    return OutcomeReport(
        identity=identity,
        region=region,
        operation=operation,
        agency=agency,
        period_from=start,
        period_to=end,
        lines=decided,
        by_category=tuple(
            Subtotal(key=c, name=category_name(c), amount_ore=v, amount_sek=sek(v)) for c, v in by_category.items()
        ),
        by_agency=tuple(
            Subtotal(key=a, name=a, amount_ore=v, amount_sek=sek(v))
            for a, v in sorted(by_agency.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        total_ore=total,
        total_sek=sek(total),
        requested=requested,
        requested_ore=requested_ore,
        requested_sek=sek(requested_ore),
        received=received,
        counted=counted,
        not_own=not_own,
    )


async def read_received_outcomes(
    nc: nats.NATS, *, limit: int = MAX_REPORT_RECORDS, timeout: float = 10.0
) -> list[Envelope]:
    """Every outcome record in the connected identity's INBOX (``in.outcome``), oldest first.

    Read with a short-lived consumer of its own (no acks), so the identity's sink consumer and
    what it has acknowledged are untouched. A delivery that does not decode is skipped.
    """
    js = nc.jetstream()
    try:
        psub = await js.pull_subscribe(
            "in.outcome",
            stream="INBOX",
            config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=60.0),
        )
    except NotFoundError as exc:
        raise ReportError("Expected the identity's INBOX stream, got none: provision the deployment first") from exc
    except (JsError, NatsError, TimeoutError) as exc:
        raise ReportError(f"Expected the outcome records of the INBOX stream, got {exc!r}") from exc
    out: list[Envelope] = []
    name: str | None = None
    try:
        info = await psub.consumer_info()
        name, pending = info.name, info.num_pending or 0
        if pending > limit:
            raise ReportError(f"Expected at most {limit} outcome records in the inbox, got {pending}")
        while len(out) < pending:
            try:
                msgs = await psub.fetch(min(1024, pending - len(out)), timeout=timeout)
            except (TimeoutError, NatsTimeout) as exc:
                raise ReportError(
                    f"Expected {pending} outcome records from the inbox, got {len(out)} in {timeout:.0f}s"
                ) from exc
            for msg in msgs:
                try:
                    out.append(ENVELOPE_READER.decode(msg.data))
                except DecodeError:
                    pending -= 1  # not an outcome we can read; the recipient's sink logs it
    except (JsError, NatsError) as exc:
        raise ReportError(f"Expected the outcome records of the INBOX stream, got {exc!r}") from exc
    finally:
        try:
            await asyncio.wait_for(psub.unsubscribe(), timeout)
            if name is not None:
                await js.delete_consumer("INBOX", name)
        except (JsError, NatsError, TimeoutError):  # it goes by itself after inactive_threshold anyway
            pass
    return out


async def outcomes_report(
    nc: nats.NATS,
    identity: str,
    *,
    region: str | None = None,
    start: _dt.date | None = None,
    end: _dt.date | None = None,
    operation: str | None = None,
    agency: str | None = None,
    scope: Iterable[str] | None = None,
) -> OutcomeReport:
    """The report for ``identity`` (``nc`` connected with its credentials) from what it received.

    ``scope``: the regions the identity works in (its agency file's ``regions``); a region
    outside it is refused (`ReportError` with ``usage``). An inbox without a single outcome
    record is refused too: the identity is not one the follow-up delivers to, or nothing came yet.
    """
    scope = tuple(scope) if scope is not None else None
    if region is not None and scope is not None and region not in scope:
        raise ReportError(
            f"Expected a region {identity} receives outcomes of ({', '.join(scope)}), got `{region}`", usage=True
        )
    envelopes = await read_received_outcomes(nc)
    if not envelopes:
        raise ReportError(
            f"Expected outcome records in {identity}'s inbox, got none: outcomes go to the region's Ruc "
            "and to the national follow-up (uppfoljning), and only once agencies have sent them"
        )
    return aggregate(envelopes, identity, region=region, start=start, end=end, operation=operation, agency=agency)


def report_json(report: OutcomeReport) -> bytes:
    return msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n"


def report_csv(report: OutcomeReport) -> str:
    """One row per category, agency and status; amounts in öre and as SEK with two decimals."""
    import csv

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["category", "category_name", "agency", "status", "records", "cases", "amount_ore", "amount_sek"])
    for line in (*report.lines, *report.requested):
        w.writerow(
            [
                line.category,
                line.category_name,
                line.agency,
                line.status,
                line.records,
                line.cases,
                line.amount_ore,
                line.amount_sek,
            ]
        )
    return out.getvalue()
