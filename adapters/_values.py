"""Transforms of plain values: text, numbers (Swedish decimal comma), money in öre, yes/no, dates
and times (a time without offset is Swedish local time), coded choices."""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, overload
from zoneinfo import ZoneInfo

from ._fields import _MISSING, FieldError, _field, _lookup, _missing

__all__ = ["STOCKHOLM", "amount_ore", "boolean", "choice", "date", "datetime", "integer", "quantity", "text"]

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _text(value: Any, path: str) -> str:
    if type(value) is not str:  # a number or an object where the export promises text is malformed
        raise FieldError(f"Expected text, got `{type(value).__name__}`", field=path)
    return value.strip()


@overload
def text(native: Any, path: str, *, optional: Literal[False] = False) -> str: ...
@overload
def text(native: Any, path: str, *, optional: bool) -> str | None: ...
def text(native: Any, path: str, *, optional: bool = False) -> str | None:
    """Text, stripped. (The most used transform, so `_field`'s steps are written out here.)"""
    value = native.get(path, _MISSING) if type(native) is dict else _MISSING
    if value is _MISSING:
        value = _lookup(native, path)
    if type(value) is str:
        value = value.strip()
        if value:
            return value
    elif value is not None and value is not _MISSING:
        return _text(value, path)
    if optional:
        return None
    raise _missing(path)


text.convert = _text  # type: ignore[attr-defined]


@_field
def integer(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise FieldError("Expected an integer, got `bool`", field=path)
    if isinstance(value, int):
        return value
    s = str(value).strip().replace(" ", "").replace("\u00a0", "")
    if not re.fullmatch(r"[-+]?\d+", s):
        raise FieldError(f"Expected an integer, got {str(value)[:40]!r}", field=path)
    return int(s)


def _decimal(value: Any, path: str) -> Decimal:
    """Swedish amounts: ``1 234,50`` or ``1234,5`` (decimal comma), also ``1234.50``."""
    if isinstance(value, bool):
        raise FieldError("Expected a number, got `bool`", field=path)
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    s = str(value).strip().replace(" ", "").replace("\u00a0", "")
    if "," in s:
        s = s.replace(".", "").replace(",", ".")
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise FieldError(f"Expected a number like 1 234,50, got {str(value)[:40]!r}", field=path) from None
    if not d.is_finite():
        raise FieldError(f"Expected a finite number, got {str(value)[:40]!r}", field=path)
    return d


@_field
def quantity(value: Any, path: str) -> float:
    """A measured quantity (litres, kilograms) with a decimal comma or point."""
    return float(_decimal(value, path))


@_field
def amount_ore(value: Any, path: str, *, unit: str = "kr") -> int:
    """Money as integer öre; the native amount is in kronor (``unit="kr"``) or already in öre (``"ore"``)."""
    d = _decimal(value, path)
    if unit == "ore":
        if d != d.to_integral_value():
            raise FieldError(f"Expected a whole number of öre, got {d}", field=path)
        return int(d)
    if d.as_tuple().exponent < -2:  # type: ignore[operator]
        raise FieldError(f"Expected an amount in kronor with at most 2 decimals, got {d}", field=path)
    return int(d * 100)


_BOOL = {
    "j": True,
    "ja": True,
    "y": True,
    "yes": True,
    "true": True,
    "1": True,
    "n": False,
    "nej": False,
    "no": False,
    "false": False,
    "0": False,
}


@_field
def boolean(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    b = _BOOL.get(str(value).strip().lower())
    if b is None:
        raise FieldError(f"Expected J/N, ja/nej or true/false, got {str(value)[:20]!r}", field=path)
    return b


_ISO_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def _shaped_like(value: str, fmt: str) -> bool:
    """Digits where the format has digits: then a failure means an impossible date (2017-02-30, month 13),
    not a typo."""
    example = _dt.datetime(2017, 1, 1, 0, 0, 0).strftime(fmt)
    return re.sub(r"\d", "9", value) == re.sub(r"\d", "9", example)


@_field
def date(value: Any, path: str, fmt: str = "%Y-%m-%d") -> _dt.date:
    """A calendar date in ``fmt``; 2017-02-30 is an impossible date (kind ``date``)."""
    s = str(value).strip()
    try:
        if fmt == "%Y-%m-%d" and len(s) == 10:
            return _dt.date.fromisoformat(s)
        return _dt.datetime.strptime(s, fmt).date()
    except ValueError:
        problem = "no such date" if _shaped_like(s, fmt) else f"not in the form {fmt}"
        raise FieldError(f"Expected a date ({fmt}), got {s[:40]!r}: {problem}", field=path, kind="date") from None


@_field
def datetime(value: Any, path: str, fmt: str | None = None, *, tz: _dt.tzinfo = STOCKHOLM) -> _dt.datetime:
    """A point in time: ISO 8601 by default, or ``fmt``; a time without offset is Swedish local time."""
    s = str(value).strip()
    try:
        parsed = _dt.datetime.fromisoformat(s) if fmt is None else _dt.datetime.strptime(s, fmt)
    except ValueError:
        shaped = _shaped_like(s, fmt) if fmt else bool(_ISO_SHAPE.match(s))
        problem = "no such date or time" if shaped else f"not in the form {fmt or 'ISO 8601'}"
        raise FieldError(
            f"Expected a date and time ({fmt or 'ISO 8601'}), got {s[:40]!r}: {problem}", field=path, kind="date"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


@_field
def choice(value: Any, path: str, options: dict[str, Any]) -> Any:
    """A coded value translated through ``options`` (native code -> shared value)."""
    code = str(value).strip()
    if code not in options:
        raise FieldError(f"Expected one of {tuple(options)}, got {code[:40]!r}", field=path)
    return options[code]
