"""An independent personnummer detector for scanning logs, process output and server logs in tests.

Independent of `samband.schemas` (whose pattern the log scrubber uses): it reads text as tokens,
not with that pattern, knows its own Luhn and its own calendar, and reads digits of any script
(a personnummer in Arabic-Indic or fullwidth digits is still a personnummer in clear text). A
candidate is a token of 10 or 12 digits, or 6 or 8 digits, ``-`` or ``+`` and 4 digits; it is a
personnummer when its date is a real date (a samordningsnummer: the day plus 60) and its check
digit is right. Digits inside a longer token with letters (hex ids, base62 inbox names, trace ids)
are not read: a leaked identifier stands on its own between separators. What is found is
reported by birth year and month only, so a failing test does not print it either.
"""

from __future__ import annotations

import datetime as _dt
import unicodedata
from dataclasses import dataclass

__all__ = ["Found", "assert_no_personnummer", "find_personnummer"]


@dataclass(frozen=True)
class Found:
    """One personnummer in a text: where (1-based line), and its birth year and month only."""

    line: int
    born: str

    def __str__(self) -> str:
        return f"line {self.line}: born {self.born}"


def _digits(token: str) -> str | None:
    """``token`` as ASCII digits if it is all decimal digits (of any script), else None."""
    out = []
    for ch in token:
        d = unicodedata.decimal(ch, None)
        if d is None:
            return None
        out.append(str(d))
    return "".join(out)


def _luhn_ok(ten: str) -> bool:
    total = 0
    for i, ch in enumerate(ten):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _real_date(year: int, month: int, day: int) -> bool:
    for d in (day, day - 60):  # a samordningsnummer carries the day plus 60
        try:
            _dt.date(year, month, d)
            return True
        except ValueError:
            pass
    return False


def _is_personnummer(digits: str) -> bool:
    if len(digits) == 12:
        year = int(digits[:4])
        if not 1800 <= year <= _dt.date.today().year:
            return False
        ok = _real_date(year, int(digits[4:6]), int(digits[6:8]))
    else:  # 10 digits: the century is not written; any of the three will do
        yy, month, day = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
        ok = any(_real_date(century + yy, month, day) for century in (1800, 1900, 2000))
    return ok and _luhn_ok(digits[-10:])


def _tokens(line: str):
    """(start, end) of each maximal run of letters and digits in ``line``."""
    i, n = 0, len(line)
    while i < n:
        if line[i].isalnum():
            j = i
            while j < n and line[j].isalnum():
                j += 1
            yield i, j
            i = j
        else:
            i += 1


def find_personnummer(text: str) -> list[Found]:
    """Every personnummer or samordningsnummer written out in ``text``, in any of its written forms."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        spans = list(_tokens(line))
        for k, (start, end) in enumerate(spans):
            digits = _digits(line[start:end])
            if digits is None:
                continue
            candidate = None
            if len(digits) in (10, 12):
                candidate = digits
            elif len(digits) in (6, 8) and k + 1 < len(spans):
                nxt_start, nxt_end = spans[k + 1]
                tail = _digits(line[nxt_start:nxt_end])
                if nxt_start == end + 1 and line[end] in "-+" and tail is not None and len(tail) == 4:
                    candidate = digits + tail
            if candidate is not None and _is_personnummer(candidate):
                found.append(Found(number, f"{candidate[:-8]}-{candidate[-8:-6]}"))
    return found


def assert_no_personnummer(text: str, where: str) -> None:
    """Fail, saying where and on which lines (never the number itself), if ``text`` holds a personnummer."""
    found = find_personnummer(text)
    if found:
        shown = "; ".join(map(str, found[:10])) + (f"; and {len(found) - 10} more" if len(found) > 10 else "")
        raise AssertionError(f"{len(found)} personnummer in clear text in {where}: {shown}")
