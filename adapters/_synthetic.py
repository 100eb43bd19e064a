"""Helpers the agencies' sample generators share: keys, Bacchus-era dates, native identifier forms."""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Callable
from functools import partial
from typing import Any

from samband.schemas import format_kronor, synthetic_orgnr, synthetic_personnummer, synthetic_plate

__all__ = [
    "BACCHUS_START",
    "PaymentRows",
    "day",
    "kronor",
    "moment",
    "native_key",
    "orgnr",
    "plate",
    "pnr_dashed",
    "pnr_plain",
]

# Operation Bacchus: the liquor-bus controls at Helsingborg, spring 2017.
BACCHUS_START = _dt.datetime(2017, 3, 3, 20, 0)


def native_key(rng: random.Random, prefix: str) -> str:
    """A native record id; 40 random bits, so different seeds give different keys."""
    return f"{prefix}-{rng.getrandbits(40):010x}".upper()


_CET = _dt.timezone(_dt.timedelta(hours=1))


def moment(rng: random.Random, i: int, *, minutes: int = 7, aware: bool = False) -> _dt.datetime:
    """A local (Swedish) time during the operation, advancing with ``i``; ``aware`` adds the offset (+01:00, winter)."""
    at = BACCHUS_START + _dt.timedelta(minutes=minutes * i + rng.randrange(minutes))
    return at.replace(tzinfo=_CET) if aware else at


def day(rng: random.Random, i: int) -> _dt.date:
    return (BACCHUS_START + _dt.timedelta(days=i // 5 + rng.randrange(3))).date()


def pnr_dashed(rng: random.Random, *, samordning: bool = False) -> str:
    """``YYMMDD-NNNC``, as most registers print it."""
    p = synthetic_personnummer(rng, samordning=samordning)
    return f"{p[2:8]}-{p[8:]}"


def pnr_plain(rng: random.Random) -> str:
    """``YYYYMMDDNNNC``."""
    return synthetic_personnummer(rng)


def orgnr(rng: random.Random) -> str:
    return synthetic_orgnr(rng)


def plate(rng: random.Random) -> str:
    return synthetic_plate(rng)


def kronor(rng: random.Random, low: int, high: int) -> str:
    """An amount as Swedish exports write it: ``12 345,50``."""
    ore = rng.randrange(low * 100, high * 100)
    whole = f"{ore // 100:,}".replace(",", " ")
    return f"{whole},{ore % 100:02d}"


class PaymentRows:
    """Sample rows of a benefit register's export (Arbetsförmedlingen's and Försäkringskassan's share one
    shape): controls of a person's benefit and, on every row ``paid`` picks, a payment stopped or
    claimed back with its amount; an outcome event is such a payment row for a known amount and day.

    ``columns``: id, kind, day, personnummer, benefit, amount, note, region, operation. Values are
    drawn in column order, so a seed always gives the same rows.
    """

    def __init__(
        self,
        prefix: str,
        columns: tuple[str, ...],
        *,
        kinds: tuple[str, str],
        benefits: list[str],
        paid: Callable[[int], bool],
        kronor: tuple[int, int],
        note: Callable[[random.Random], str],
    ) -> None:
        self.prefix, self.columns, self.kinds, self.benefits = prefix, columns, kinds, benefits
        self.paid, self.kronor, self.note = paid, kronor, note

    def sample(
        self, rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd"
    ) -> list[dict[str, Any]]:
        return [
            self._row(rng, partial(day, rng, i), self.paid(i), partial(kronor, rng, *self.kronor), region, operation)
            for i in range(n)
        ]

    def outcome_event(
        self, rng: random.Random, category: str, amount_ore: int, on: _dt.date, *, region: str, operation: str
    ) -> dict[str, Any]:
        return self._row(rng, lambda: on, True, partial(format_kronor, amount_ore), region, operation)

    def _row(
        self,
        rng: random.Random,
        on: Callable[[], _dt.date],
        paid: bool,
        amount: Callable[[], str],
        region: str,
        operation: str,
    ) -> dict[str, Any]:
        values = (
            native_key(rng, self.prefix),
            self.kinds[paid],
            on().isoformat(),
            pnr_dashed(rng),
            rng.choice(self.benefits),
            amount() if paid else "",
            "" if paid else self.note(rng),
            region,
            operation,
        )
        return dict(zip(self.columns, values, strict=True))
