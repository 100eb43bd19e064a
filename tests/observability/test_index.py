"""Queries over the log's index give exactly what reading every entry would."""

from __future__ import annotations

import datetime as dt

import pytest

from samband.observability import Pseudonymiser
from samband.observability.audit import ENTRY_DECODER, AuditIndex
from samband.testing import SYNTHETIC_T0, synthetic_log

LOG = synthetic_log(3000, seed=11, n_people=40)
PEOPLE = LOG.people
INDEX = AuditIndex(LOG.entries)
ALL = [ENTRY_DECODER.decode(d) for d in LOG.entries]
P = Pseudonymiser(b"k" * 32)


def brute(*, subject=None, since=None, until=None, **eq):
    return [
        r.index
        for r in ALL
        if (subject is None or subject in r.subjects)
        and (since is None or r.at >= since)
        and (until is None or r.at <= until)
        and all(getattr(r, k) == v for k, v in eq.items())
    ]


@pytest.mark.parametrize(
    "filters",
    [
        {"subject": P(PEOPLE[0])},
        {"subject": P(PEOPLE[1]), "decision": "deny"},
        {"origin": "polisen", "recipient": "skatteverket"},
        {"region": "vast", "decision": "allow", "operation": "bacchus-2017"},
        {"since": SYNTHETIC_T0 + dt.timedelta(seconds=1000), "until": SYNTHETIC_T0 + dt.timedelta(seconds=1500)},
        {"subject": P(PEOPLE[2]), "origin": "tullverket", "since": SYNTHETIC_T0 + dt.timedelta(seconds=700)},
        {"subject": "p:nobody"},
        {"recipient": "nobody"},
        {},
    ],
    ids=[
        "person",
        "person-denials",
        "agency-pair",
        "region-decision-operation",
        "window",
        "person-origin-since",
        "unknown-person",
        "unknown-recipient",
        "everything",
    ],
)
def test_an_index_query_returns_exactly_the_records_a_full_read_would(filters):
    got = [r.index for r in INDEX.query(**filters)]
    assert got == brute(**filters)
    nobody = "p:nobody" in filters.values() or "nobody" in filters.values()
    assert bool(got) != nobody, "a known value matches something in a 3000-record trail, an unknown one nothing"
