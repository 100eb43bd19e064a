"""The query index reads a bundle of decisions column by column, and gets the rows the entry-by-entry
loop gets; a bundle with anything else in it takes that loop."""

from __future__ import annotations

from samband.observability.audit._rows import RowBuilder
from samband.testing import synthetic_log

LOG = synthetic_log(1200, batch=400, seed=4)


def builders():
    combos: dict[tuple[str, ...], int] = {}

    def code(key):
        combos[key] = len(combos) + 1
        return combos[key]

    return RowBuilder(combos, code, 0.0), combos


def bundles():
    return [(seq, body) for seq, subject, body in LOG.messages if subject == "audit.log"]


def test_a_bundle_of_decisions_gives_the_rows_postings_and_counts_the_one_by_one_loop_gives():
    fast, fast_combos = builders()
    slow, slow_combos = builders()
    off = 0
    for seq, body in bundles():
        start = body.index(b"\n") + 1
        fast.add(seq, body, start, off)
        slow._one_by_one(seq, body, start, off)
        off += len(body) - start + 1
    assert len(fast.rows) == 1200
    assert fast.rows == slow.rows
    assert fast.posting == slow.posting and fast.per_combo == slow.per_combo and fast_combos == slow_combos
    assert (fast.ordered, fast.last_at) == (slow.ordered, slow.last_at) == (True, slow.rows[-1][1])


def test_an_entry_out_of_time_order_is_noticed_on_either_path():
    seq, body = bundles()[0]
    start = body.index(b"\n") + 1
    lines = body[start:].split(b"\n")
    lines[3], lines[4] = lines[4], lines[3]
    swapped = body[:start] + b"\n".join(lines)
    fast, _ = builders()
    fast.add(seq, swapped, start, 0)
    assert not fast.ordered


def test_a_bundle_with_a_lookup_in_it_takes_the_one_by_one_loop_and_indexes_it_as_a_lookup():
    seq, body = bundles()[0]
    start = body.index(b"\n") + 1
    lookup = b'{"kind":"lookup","index":9999,"at":"2017-03-01T08:00:00Z","identity":"auditor","action":"query"}'
    fast, combos = builders()
    fast.add(seq, body + b"\n" + lookup, start, 0)
    assert fast.rows[-1][0] == 9999
    assert ("auditor", "-", "-", "-", "lookup", "-", "query") in combos
    offsets = [r[4] for r in fast.rows]
    assert offsets[-1] == len(body) - start + 1  # where the lookup sits in the index's copy
