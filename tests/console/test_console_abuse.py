"""The console against careless and hostile use: a refused identity, a personnummer in a URL, absurd pages
and values, a broker that goes away, two consoles at once, requests without the sign-in."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.parse

import nkeys
import pytest

from samband.broker_config import Deployment

from .._support import wait_until


def request(console, path: str, *, method: str = "GET", body: str | None = None, host: str | None = None, cookie=True):
    """(status, headers, body text) of one request to a console, signed in with its cookie."""
    url = urllib.parse.urlsplit(console.base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    token = console.url.split("token=")[1]
    headers = {"Host": host or url.netloc}
    if cookie:
        headers["Cookie"] = f"samband_console={token}"
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    out = resp.status, dict(resp.getheaders()), resp.read().decode("utf-8", "replace")
    conn.close()
    return out


def samband(state, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "samband", "--state-dir", str(state), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"COLUMNS": "200"},
    )


def test_an_identity_the_broker_refuses_gets_one_line_and_no_console(trail):
    seed = Deployment.load(trail.state).creds.seed_path("auditor-kustbevakningen")
    seed.write_bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))  # credentials the server never saw
    out = samband(trail.state, "console", "--as", "auditor-kustbevakningen", "--port", "0")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("Error: Expected the nats-server at") and "authorization violation" in out.stderr
    assert "/login?token=" not in out.stdout

    out = samband(trail.state, "console", "--as", "router", "--port", "0")
    assert out.returncode == 2
    assert "Expected an audit identity (`auditor` or `auditor-AGENCY`), got `router`" in out.stderr
    out = samband(trail.state, "console", "--as", "auditor-nobody", "--port", "0")
    assert out.returncode == 1 and out.stderr.startswith("Error: Expected credentials for `auditor-nobody`")


def test_a_personnummer_in_a_url_is_never_echoed_back_or_logged(trail, start_console):
    console = start_console(trail, "auditor-polisen")
    pnr = trail.personnummer
    digits = pnr.replace("-", "")
    status, headers, _ = request(console, f"/disclosures?person={pnr}&region=syd")
    assert status == 303 and pnr not in headers["location"] and digits not in headers["location"]
    assert headers["location"].startswith("/disclosures?region=syd&subject=p%3A")
    status, _, page = request(console, headers["location"])
    assert status == 200 and pnr not in page and digits not in page and "**-****" in page

    wrong = pnr[:-1] + str((int(pnr[-1]) + 1) % 10)  # a bad check digit
    for path in (f"/disclosures?person={wrong}", f"/disclosures?origin={pnr}", f"/disclosures?rule={digits}"):
        status, _, page = request(console, path)
        assert status == 400 and "Traceback" not in page, path
        assert wrong not in page and pnr not in page and digits not in page, path
    status, _, page = request(console, "/disclosures/person", method="POST", body=f"person={wrong}")
    assert status == 400 and wrong not in page and "bad check digit" in page
    lines = "".join(console.lines)
    assert pnr not in lines and digits not in lines and wrong not in lines


def test_absurd_pages_and_values_get_a_clear_answer(trail, start_console):
    console = start_console(trail, "auditor-polisen", "--lang", "en")
    status, _, page = request(console, "/disclosures?before=9223372036854775807")
    assert status == 200 and 'id="count"' in page  # a cursor beyond any entry: the newest page
    for path, want in (
        ("/disclosures?before=99999999999999999999999", "Expected a page cursor (a number)"),
        ("/disclosures?after=-x", "Expected a page cursor (a number)"),
        ("/disclosures?operation=" + "x" * 100_000, "Expected at most 100 characters, got 100000 - at `operation`"),
        ("/disclosures?region=atlantis", "Expected one of nord, mitt"),
        ("/disclosures?since=yesterday", "Expected an ISO 8601 time"),
        ("/disclosures?since=2017-03-02&until=2017-03-01", "Expected `since` before `until`"),
    ):
        status, _, page = request(console, path)
        assert status == 400 and want in page and "Traceback" not in page, (path, page[-400:])
    for path in ("/record/99999999999999999999999999", "/record/-5", "/record/abc"):
        status, _, page = request(console, path)
        assert status == 404 and "No entry" in page
    status, _, page = request(console, "/lookups?before=" + "9" * 5000)
    assert status in (200, 400) and "Traceback" not in page


def test_a_request_without_the_sign_in_or_for_another_host_is_refused(trail, start_console):
    console = start_console(trail, "auditor-polisen")
    status, _, page = request(console, "/disclosures", cookie=False)
    assert status == 401 and "signs this browser in" in page
    status, _, _ = request(console, "/disclosures", host="evil.example:80")
    assert status == 400
    status, headers, _ = request(console, "/login?token=not-the-token", cookie=False)
    assert status == 401
    status, headers, _ = request(console, "/disclosures")
    assert "default-src 'none'" in headers["content-security-policy"] and headers["cache-control"] == "no-store"


def test_two_consoles_at_once_share_the_index_and_both_audit_their_searches(trail, start_console):
    first = start_console(trail, "auditor-polisen")
    second = start_console(trail, "auditor-polisen")
    counts = []
    for console in (first, second):
        status, headers, _ = request(console, f"/disclosures?person={trail.personnummer}")
        status, _, page = request(console, headers["location"])
        assert status == 200
        counts.append(page.split('id="count">')[1].split()[0])
    assert counts[0] == counts[1] != "0"

    def both_logged() -> bool:
        _, _, page = request(first, "/lookups")
        return page.count("<td>person-search</td>") >= 2

    wait_until(both_logged, timeout=30, interval=0.5, what="both searches in the log")
    out = samband(trail.state, "audit", "query", "--as", "auditor-polisen", "--json")
    assert out.returncode == 0, out.stderr


def test_requests_while_the_broker_is_gone_get_a_clear_page(own_trail, start_console):
    console = start_console(own_trail, "auditor-polisen", "--lang", "en")
    status, _, page = request(console, "/disclosures")
    assert status == 200
    own_trail.stop_platform()
    wait_until(lambda: 'id="broker-gone"' in request(console, "/disclosures")[2], timeout=30, what="the banner")
    status, _, page = request(console, "/disclosures")
    assert status == 200 and 'id="count"' in page  # what the index holds is still shown
    for path in ("/integrity", "/deadletters", "/policy", "/reconcile"):
        status, _, page = request(console, path)
        assert status == 503 and "The broker does not answer" in page and "Traceback" not in page, path
    status, headers, _ = request(console, f"/disclosures?person={own_trail.personnummer}")
    status, _, page = request(console, headers["location"])
    assert status == 503 and "could not be recorded: nothing is shown" in page, (
        status,
        page[page.find("<main") :][:1500],
    )
    assert 'id="entries"' not in page
    assert console.proc.poll() is None


def test_the_person_search_finds_what_audit_query_person_finds(trail, start_console):
    console = start_console(trail, "auditor-polisen")
    _, headers, _ = request(console, "/disclosures/person", method="POST", body=f"person={trail.personnummer}")
    status, _, page = request(console, headers["location"])
    shown = int(page.split('id="count">')[1].split()[0])
    out = samband(trail.state, "audit", "query", "--as", "auditor-polisen", "--person", trail.personnummer, "--json")
    assert out.returncode == 0, out.stderr
    assert status == 200 and shown == len(json.loads(out.stdout)) > 0


def test_a_pseudonym_whose_hex_holds_a_personnummer_shaped_run_is_searched_and_a_personnummer_in_a_filter_is_not():
    """A deployment's pseudonym key makes about one person in 25 a pseudonym with ten or twelve decimal
    digits in a row: that person is still searched for; a personnummer typed into a filter is not kept."""
    from samband.console._filters import FilterError, Filters

    subject = "p:8712261234" + "abcdef" * 3 + "abcd"
    assert Filters.parse({"subject": subject}, set()).values == {"subject": subject}
    for name, value in (("recipient", "8712261234"), ("subject", "871226-1234"), ("subject", "p:871226-1234")):
        with pytest.raises(FilterError) as refused:
            Filters.parse({name: value}, {"polisen"})
        assert str(refused.value).startswith("Expected a person in the person search only, got `"), name
        assert "1234" not in str(refused.value)  # never echoed
