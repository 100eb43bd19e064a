"""Helpers the agencies' sample generators share: keys, Bacchus-era dates, native identifier forms."""

from __future__ import annotations

import datetime as _dt
import random

from samband.schemas import synthetic_orgnr, synthetic_personnummer, synthetic_plate

__all__ = ["BACCHUS_START", "day", "kronor", "moment", "native_key", "orgnr", "plate", "pnr_dashed", "pnr_plain"]

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
