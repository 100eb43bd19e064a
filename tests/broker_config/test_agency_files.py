"""Agency files: all 21 agencies and the 9 centres described, every bad value named with its file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samband.adapters import CORE_AGENCIES
from samband.broker_config import (
    SENDABLE_RECORD_TYPES,
    AgencyFileError,
    Credentials,
    builtin_agencies,
    check_config,
    load_agency_dir,
    load_agency_file,
    render_server_config,
)
from samband.schemas import REGIONS
from samband.testing import NETWORK_AGENCIES

ONBOARDING = Path(__file__).resolve().parents[2] / "examples" / "onboarding"
CORE = set(CORE_AGENCIES)
CENTRES = {"nuc", "uppfoljning"} | {
    f"ruc_{r}" for r in ("nord", "mitt", "bergslagen", "stockholm", "ost", "vast", "syd")
}
NETWORK = set(NETWORK_AGENCIES)


def test_the_twelve_core_agencies_ship_complete_and_the_nine_network_agencies_ship_as_onboarding_files():
    assert (len(CORE), len(NETWORK)) == (12, 9)
    shipped = builtin_agencies()
    assert set(shipped) == CORE | CENTRES
    core = {slug: a for slug, a in shipped.items() if slug in CORE}
    network = {a.slug: a for a in map(load_agency_file, sorted(ONBOARDING.glob("*.toml")))}
    assert set(network) == NETWORK
    for agency in [*core.values(), *network.values()]:
        assert agency.name and agency.regions and agency.sends and agency.purposes and agency.contact
        assert set(agency.sends) <= set(SENDABLE_RECORD_TYPES)
    assert {a.tier for a in core.values()} == {"core"} and {a.tier for a in network.values()} == {"network"}
    assert all(a.mapping is None for a in shipped.values())
    assert all((ONBOARDING / a.mapping).is_file() for a in network.values())


def test_nuc_the_seven_ruc_and_the_national_follow_up_ship_as_centres_each_ruc_in_its_own_region():
    centres = {slug: a for slug, a in builtin_agencies().items() if slug in CENTRES}
    assert {a.tier for a in centres.values()} == {"centre"}
    for slug, centre in centres.items():
        if slug.startswith("ruc_"):
            assert (centre.regions, centre.sends) == ((slug.removeprefix("ruc_"),), ("intel.situation_report",))
    assert centres["nuc"].regions == ("national",) and centres["uppfoljning"].sends == ()


def _write(tmp_path: Path, text: str, name: str = "nyvarket.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    (tmp_path / "mappings").mkdir(exist_ok=True)
    (tmp_path / "mappings" / "nyverket.toml").write_text('agency = "nyverket"\n')
    return path


GOOD = """slug = "nyverket"
name = "Nyverket"
tier = "network"
regions = ["syd"]
sends = ["outcome"]
purposes = ["supervision"]
contact = "nyverket@example"
mapping = "mappings/nyverket.toml"
"""


_NO_REVIEW = 'mapping = "mappings/nyverket.toml"\n'


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('regions = ["syd"]', 'regions = ["syd", "gotland"]'),
            "key `regions[1]`: Expected a region (nord, mitt, bergslagen, stockholm, ost, vast, syd, national), got 'gotland'",
        ),
        (
            ('sends = ["outcome"]', 'sends = ["police.vehicel_control"]'),
            f"key `sends[0]`: Expected a record type ({', '.join(SENDABLE_RECORD_TYPES)}), got 'police.vehicel_control'",
        ),
        (
            ('sends = ["outcome"]', 'sends = ["council.operation_decision"]'),
            f"key `sends[0]`: Expected a record type ({', '.join(SENDABLE_RECORD_TYPES)}), got 'council.operation_decision'",
        ),
        (
            ('mapping = "mappings/nyverket.toml"', 'mapping = "mappings/saknas.toml"'),
            "key `mapping`: Expected an existing mapping file (looked for {dir}/mappings/saknas.toml), got 'mappings/saknas.toml'",
        ),
        (
            ('mapping = "mappings/nyverket.toml"\n', ""),
            "key `mapping`: Expected the path of the agency's adapter mapping file (a network agency joins by configuration only), "
            "got nothing (the key is missing)",
        ),
        (
            ('slug = "nyverket"', 'slug = "Ny Verket"'),
            "key `slug`: Expected lower-case letters, digits or `_`, 2-32 long, starting with a letter, got 'Ny Verket'",
        ),
        (
            ('slug = "nyverket"', 'slug = "router"'),
            "key `slug`: Expected a name other than the platform's own (admin, auditor, global, router, sso, steward, sys), got 'router'",
        ),
        (('name = "Nyverket"\n', ""), "key `name`: Expected a value, got nothing (the key is missing)"),
        (
            ("contact = ", "kontakt = "),
            "key `kontakt`: Expected one of the keys contact, limits, mapping, name, purposes, regions, review, sends, slug, "
            "tier, got 'kontakt'",
        ),
        (('tier = "network"', 'tier = "partner"'), "Invalid enum value 'partner' - at `$.tier`"),
        (
            (_NO_REVIEW, _NO_REVIEW + '[review]\nrecord_types = ["police.overload_reprot"]\n'),
            f"key `review.record_types[0]`: Expected a record type ({', '.join(SENDABLE_RECORD_TYPES)}), "
            "got 'police.overload_reprot'",
        ),
        (
            (_NO_REVIEW, _NO_REVIEW + '[review]\noperations = ["Bacchus 2017"]\n'),
            "key `review.operations[0]`: Expected an operation id (like bacchus-2017), got 'Bacchus 2017'",
        ),
        (
            (_NO_REVIEW, _NO_REVIEW + '[review]\noperations = "bacchus-2017"\n'),
            "key `review.operations`: Expected a list of operation ids, got 'bacchus-2017'",
        ),
        (
            (_NO_REVIEW, _NO_REVIEW + "[review]\nlapse_hours = 0\n"),
            "key `review.lapse_hours`: Expected an integer from 1 to 720 (hours), got 0",
        ),
        (
            (_NO_REVIEW, _NO_REVIEW + '[review]\nlapse_hours = "72h"\n'),
            "key `review.lapse_hours`: Expected an integer from 1 to 720 (hours), got '72h'",
        ),
        (
            (_NO_REVIEW, _NO_REVIEW + "[review]\nlapse_days = 3\n"),
            "key `review.lapse_days`: Expected one of the keys record_types, operations, lapse_hours, got 'lapse_days'",
        ),
        (
            (_NO_REVIEW, _NO_REVIEW + 'review = "yes"\n'),
            "key `review`: Expected a table (record_types, operations, lapse_hours), got 'yes'",
        ),
    ],
)
def test_a_broken_agency_file_is_refused_naming_the_file_the_key_and_the_bad_value(tmp_path, change, message):
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(AgencyFileError) as err:
        load_agency_file(path)
    assert str(err.value) == f"{path}: " + message.format(dir=tmp_path)


def test_an_originator_marks_record_types_and_operations_for_review_in_its_agency_file(tmp_path):
    from samband.router import DEFAULT_LAPSE, review_rules

    marks = '[review]\nrecord_types = ["outcome"]\noperations = ["bacchus-2017"]\nlapse_hours = 24\n'
    agency = load_agency_file(_write(tmp_path, GOOD + marks))
    assert (agency.review.record_types, agency.review.operations, agency.review.lapse_hours) == (
        ("outcome",),
        ("bacchus-2017",),
        24,
    )
    (rule,) = review_rules({"nyverket": agency}).values()
    assert rule.record_types == {"outcome"} and rule.operations == {"bacchus-2017"} and rule.lapse.days == 1
    plain = load_agency_file(_write(tmp_path, GOOD, "plain.toml"))
    assert plain.review.lapse_hours * 3600 == DEFAULT_LAPSE.total_seconds()  # the documented default, 72 hours
    assert review_rules({"nyverket": plain}) == {}  # nothing marked: nothing held


def test_a_file_that_is_not_toml_is_refused_naming_the_file(tmp_path):
    path = _write(tmp_path, 'slug = "nyverket\n')
    with pytest.raises(AgencyFileError) as err:
        load_agency_file(path)
    assert str(err.value).startswith(f"{path}: Expected an agency file (UTF-8 TOML), got ")


def test_the_rendered_configuration_passes_nats_server_t_with_all_21_agencies(tmp_path):
    agencies = [*builtin_agencies().values(), *map(load_agency_file, sorted(ONBOARDING.glob("*.toml")))]
    creds = Credentials(tmp_path / "state")
    text = render_server_config(agencies=agencies, creds=creds, store_dir=tmp_path / "js", port=4222, http_port=8222)
    conf = tmp_path / "nats-server.conf"
    conf.write_text(text)
    check_config(conf)  # raises with the server's words if it refuses
    accounts = json.loads(text)["accounts"]
    assert set(accounts) == {a.slug for a in agencies} | {"ROUTER", "SSO", "SYS"}
    for a in agencies:
        account = accounts[a.slug]
        assert account["jetstream"]["max_file"] > 0  # every agency has JetStream limits of its own
        assert [i["service"]["subject"] for i in account["imports"]] == [f"ingest.{a.slug}.>", f"receipt.{a.slug}.>"]
        assert account["exports"][:2] == [
            {"service": "in.>", "accounts": ["ROUTER"]},
            {"service": "dlq.router.>", "accounts": ["ROUTER"]},
        ]
        # the rest: read-only JetStream APIs of its own streams, for its own auditor (docs/console.md)
        reads = {e["service"].rsplit(".", 1)[0] for e in account["exports"][2:]}
        assert reads == {"$JS.API.STREAM.INFO", "$JS.API.STREAM.MSG.GET"}
        assert all(e["accounts"] == ["ROUTER"] for e in account["exports"][2:])
    router_users = accounts["ROUTER"]["users"]
    assert "$JS.API.STREAM.DELETE.>" in router_users[0]["permissions"]["publish"]["deny"]
    auditor = router_users[1]["permissions"]["publish"]["allow"]
    assert not any("DELETE.AUDIT" in s and "CONSUMER" not in s for s in auditor)
    assert not any("PURGE" in s for s in auditor)


def test_two_agency_files_with_one_slug_are_refused_naming_both(tmp_path):
    first = _write(tmp_path, GOOD, "a-nyverket.toml")
    second = _write(tmp_path, GOOD.replace('name = "Nyverket"', 'name = "Nyverket igen"'), "b-nyverket.toml")
    with pytest.raises(AgencyFileError) as err:
        load_agency_dir(tmp_path)
    assert str(err.value) == (
        f"{second}: key `slug`: Expected a slug no other agency file uses, got 'nyverket' (also in {first})"
    )
    assert set(load_agency_dir(ONBOARDING)) == NETWORK


def test_an_agency_file_without_regions_or_sends_is_read_with_the_defaults(tmp_path):
    (tmp_path / "m.toml").write_text("")
    path = tmp_path / "nyverket.toml"
    path.write_text('slug = "nyverket"\nname = "Nya verket"\ntier = "network"\nmapping = "m.toml"\n')
    agency = load_agency_file(path)
    assert agency.regions == REGIONS and agency.sends == ()
