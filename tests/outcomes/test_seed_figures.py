"""The follow-up's report reproduces the published figures, to the krona, from the outcomes it received.

The figures below are copied from the source documents (seed 004: region Mitt's 2020 results; seed
000 section 6: Operation Bacchus), not from samband's figure sets: the report must find them in
what the adapters sent through the router to the reporting identity's inbox.
"""

from __future__ import annotations

from .._support import report_json
from .._support import samband_cli as samband

MSEK = 100_000_000  # öre

# "Region Mitts resultat i siffror (2020)"
MITT_2020 = {
    ("tax_reassessment", "skatteverket"): 205 * MSEK // 10,  # 20,5 miljoner kronor i höjning av skatt
    ("recovery_claim", "forsakringskassan"): 204 * MSEK // 10,  # 20,4 miljoner kronor i återkrav (Försäkringskassan)
    ("stopped_payment", "forsakringskassan"): 93 * MSEK // 10,  # förhindrade felaktiga utbetalningar: 9,3 FK
    ("stopped_payment", "arbetsformedlingen"): 25 * MSEK // 10,  # ... samt 2,5 miljoner Arbetsförmedlingen
    ("seizure", "polisen"): 93 * MSEK // 10,  # 9,3 miljoner kronor har tagits i beslag
    ("distraint", "kronofogden"): 1 * MSEK,  # 1 miljon kronor i utmätta tillgångar
}
# "Exempel på åtgärder som hittills vidtagits av myndigheterna under insatsen" (seed 000, section 6)
BACCHUS = {
    ("fine", "polisen"): 32 * MSEK // 10,  # ordningsföreläggande ... 1 056 personer ... drygt 3,2 miljoner kr
    ("transport_surcharge", "tullverket"): 675_000_00,  # ca 675 000 kr i transporttillägg
    ("collection", "kronofogden"): 100_000_00,  # drivit in ca 100 000 kr
    ("payment_security", "kronofogden"): 35_000_00,  # betalningssäkring med 35 000 kr
    ("tax_reassessment", "skatteverket"): 6 * MSEK,  # ca 6 miljoner kr i höjningar avseende alkoholskatt
    ("recovery_claim", "forsakringskassan"): 15 * MSEK // 10,  # mot 5 ... återbetalningskrav om cirka 1,5 miljoner
    ("recovery_claim", "arbetsformedlingen"): 81_000_00,  # återkrav har beslutats på drygt 81 000 kr
}
BACCHUS_REQUESTED = {("recovery_claim", "arbetsformedlingen"): 500_000_00}  # en begäran om återkrav ... 500 000 kr


def amounts(lines: list[dict]) -> dict[tuple[str, str], int]:
    return {(line["category"], line["agency"]): line["amount_ore"] for line in lines}


def test_ruc_mitts_report_for_2020_is_region_mitts_published_63_msek_to_the_krona(follow_up):
    report = report_json(follow_up.dep, "--region", "mitt", "--year", "2020")
    assert report["identity"] == "ruc_mitt"
    assert amounts(report["lines"]) == MITT_2020
    assert [(s["name"], s["amount_sek"]) for s in report["by_category"]] == [
        ("höjning av skatt", "20500000.00"),
        ("återkrav", "20400000.00"),
        ("förhindrad felaktig utbetalning", "11800000.00"),  # 11,8 miljoner kronor ... varav 9,3 ... samt 2,5
        ("beslag", "9300000.00"),
        ("utmätning", "1000000.00"),
    ]
    assert (report["total_ore"], report["total_sek"], report["requested"]) == (63 * MSEK, "63000000.00", [])
    assert report["not_own"] == 0 and report["counted"] == report["received"]


def test_the_table_shows_kronor_per_category_and_agency_with_subtotals_and_the_total(follow_up):
    out = samband(follow_up.dep, "outcomes", "report", "--region", "mitt", "--year", "2020")
    assert out.exit_code == 0, out.output
    text = out.output
    assert "received by ruc_mitt" in text
    for row in (
        "│ höjning av skatt                │ Skatteverket          │",
        "│ förhindrad felaktig utbetalning │ Försäkringskassan     │",
        "│                                 │ Arbetsförmedlingen    │",
    ):
        assert row in text
    assert " 9 300 000,00 │" in text and " 2 500 000,00 │" in text
    assert "│                                 │ subtotal              │         │       │ 11 800 000,00 │" in text
    assert "│ total                           │                       │         │       │ 63 000 000,00 │" in text


def test_ruc_syds_report_on_operation_bacchus_gives_each_agencys_results_from_the_2017_report(follow_up):
    report = report_json(follow_up.dep, "--region", "syd", "--year", "2017", "--operation", "bacchus-2017")
    assert report["identity"] == "ruc_syd"
    assert amounts(report["lines"]) == BACCHUS
    assert amounts(report["requested"]) == BACCHUS_REQUESTED  # requested, kept out of the total
    cases = {(line["category"], line["agency"]): line["cases"] for line in report["lines"]}
    assert cases[("recovery_claim", "forsakringskassan")] == 5  # mot 5 har det påförts återbetalningskrav
    assert cases[("fine", "polisen")] == 1056
    assert cases[("payment_security", "kronofogden")] == 1  # ett bussläp
    assert report["total_ore"] == sum(BACCHUS.values()) == 11_591_000_00


def test_the_national_follow_up_receives_both_and_reports_per_region_and_agency(follow_up):
    everything = report_json(follow_up.dep, "--to", "2020-12-31")  # no region: uppfoljning, every region
    assert everything["identity"] == "uppfoljning"
    assert everything["total_ore"] == 63 * MSEK + 11_591_000_00
    assert amounts(report_json(follow_up.dep, "--as", "uppfoljning", "--region", "mitt")["lines"]) == MITT_2020
    fk = report_json(follow_up.dep, "--agency", "forsakringskassan", "--from", "2020-07-01", "--to", "2020-12-31")
    assert {line["category"] for line in fk["lines"]} <= {"recovery_claim", "stopped_payment"}
    assert 0 < fk["total_ore"] < (204 + 93) * MSEK // 10  # half a year of Försäkringskassan's 2020


def test_the_csv_has_one_row_per_category_agency_and_status_in_ore_and_sek(follow_up):
    out = samband(follow_up.dep, "outcomes", "report", "--region", "syd", "--operation", "bacchus-2017", "--csv")
    assert out.exit_code == 0, out.output
    rows = out.output.splitlines()
    assert rows[0] == "category,category_name,agency,status,records,cases,amount_ore,amount_sek"
    assert "tax_reassessment,höjning av skatt,skatteverket,decided,12,12,600000000,6000000.00" in rows
    assert rows[-1].startswith("recovery_claim,återkrav,arbetsformedlingen,requested,") and rows[-1].endswith(
        ",50000000,500000.00"
    )


def test_the_chart_is_a_bar_per_category_stacked_by_agency(follow_up, tmp_path):
    svg = tmp_path / "mitt-2020.svg"
    out = samband(follow_up.dep, "outcomes", "report", "--region", "mitt", "--year", "2020", "--chart", str(svg))
    assert out.exit_code == 0, out.output
    text = svg.read_text()
    assert text.startswith("<?xml") and "<svg" in text
    for words in ("höjning av skatt", "förhindrad felaktig utbetalning", "Försäkringskassan", "63 000 000,00 kr"):
        assert words in text
    png = tmp_path / "bacchus.png"
    assert samband(follow_up.dep, "outcomes", "report", "--region", "syd", "--chart", str(png)).exit_code == 0
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
