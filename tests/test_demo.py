"""`samband demo` runs Operation Bacchus end to end and ends with the centres' pictures and Bacchus's
outcomes; every decision is audited and three agencies' witnesses cosign the audit log, which verifies
with their cosignatures required."""

from __future__ import annotations

from samband._demo import WITNESSES, run_demo


async def test_the_demo_ends_with_both_situation_pictures_and_bacchuss_outcome_table():
    r = await run_demo(20)
    assert r.published == 20 and sum(r.delivered.values()) == r.allowed
    assert all(r.received.get(a, 0) == d for a, d in r.delivered.items())  # every delivery written by its sink
    assert r.audit_records == r.decisions > 0
    rv = r.review  # Polisen's officer released every held overload report to two recipients, no others
    assert rv is not None and rv.errors == [] and rv.records == r.overload_reports > 0
    assert rv.released == {"skatteverket": rv.records, "transportstyrelsen": rv.records}
    assert rv.waiting == rv.held - 2 * rv.records > 0
    assert r.rules[("deny", "hold.review")] == rv.held and r.rules[("allow", "review.released")] == 2 * rv.records
    assert r.witnessed == sorted(WITNESSES)
    assert r.verified.startswith(f"OK: {r.audit_records} entries, tree size {r.audit_records}")
    f = r.follow_up
    assert f is not None and [(p.centre, p.operation) for p in f.pictures] == [
        ("nuc", "samverkan-nationell"),
        ("ruc_syd", "samverkan-syd"),
    ]
    for p in f.pictures:
        assert p.with_persons == [
            "ekobrottsmyndigheten",
            "kriminalvarden",
            "kustbevakningen",
            "polisen",
            "sakerhetspolisen",
            "tullverket",
        ]
        assert len(p.without) == 6 and "skatteverket" in p.without
    report = f.report
    assert report is not None and report.identity == "ruc_syd"
    assert {(ln.category, ln.agency): ln.amount_ore for ln in report.lines} == {
        ("tax_reassessment", "skatteverket"): 6_000_000_00,
        ("recovery_claim", "forsakringskassan"): 1_500_000_00,
        ("recovery_claim", "arbetsformedlingen"): 81_000_00,
        ("payment_security", "kronofogden"): 35_000_00,
        ("collection", "kronofogden"): 100_000_00,
        ("transport_surcharge", "tullverket"): 675_000_00,
        ("fine", "polisen"): 3_200_000_00,
    }
    assert (report.total_ore, report.requested_ore) == (11_591_000_00, 500_000_00)
