"""A security chief's console in a real headless Chromium: sign in, look, search, open a story, verify, export.

Each page's screenshot in docs/console/ is made here, by the test that looks at it (`make screenshots`).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from nats.js.client import JetStreamContext
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from samband.broker_config import AUDIT_ADMIN, Deployment
from samband.schemas.layout import AUDIT_LOG_SUBJECT, AUDIT_LOOKUPS_STREAM, AUDIT_STREAM

from .._support import wait_until
from .conftest import SCREENSHOTS

PNG_LIMIT = 1 << 20
T = TypeVar("T")


def shot(driver, name: str) -> None:
    """The page as the browser shows it (1280 x 900), into SCREENSHOTS/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size < PNG_LIMIT, f"{path} is {path.stat().st_size} bytes"


def text(driver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def click_and_wait(driver, element_id: str) -> None:
    """Click, and wait until the page it was on is gone (the next one loaded)."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "main")
    driver.find_element(By.ID, element_id).click()

    def gone(_driver) -> bool:
        try:
            return expected_conditions.staleness_of(old)(_driver)
        except WebDriverException as exc:  # chromedriver's other way of saying the node left the page
            if "does not belong to the document" in str(exc):
                return True
            raise

    WebDriverWait(driver, 30).until(gone)


def reload_until(driver, url: str, predicate, what: str, timeout: float = 30.0) -> None:
    def ok() -> bool:
        driver.get(url)
        return bool(predicate())

    wait_until(ok, timeout=timeout, interval=0.5, what=what)


def test_an_agency_chief_sees_only_its_agencys_entries_and_the_broker_refuses_it_the_others(
    trail, start_console, browser
):
    oversight = start_console(trail, "auditor")
    browser.get(oversight.url)
    reload_until(browser, oversight.base + "/disclosures", lambda: "0 " not in text(browser, "#count")[:2], "entries")
    everything = int(text(browser, "#count").split()[0])

    chief = start_console(trail, "auditor-tullverket", "--lang", "en")
    browser.delete_all_cookies()
    browser.get(chief.url)
    reload_until(browser, chief.base + "/disclosures", lambda: text(browser, "#count")[:1] != "0", "tullverket's")
    mine = int(text(browser, "#count").split()[0])
    assert 0 < mine < everything
    rows = browser.find_elements(By.CSS_SELECTOR, "#entries tbody tr")
    assert rows and all("Swedish Customs" in r.find_elements(By.TAG_NAME, "td")[2].text for r in rows)
    assert text(browser, "#identity") == "auditor-tullverket"

    browser.get(chief.base + "/disclosures?view=skatteverket")
    assert browser.find_element(By.ID, "error").get_attribute("data-kind") == "refused"
    assert "The broker refused `auditor-tullverket` the entries of skatteverket" in text(browser, "#error")

    polisen = start_console(trail, "auditor-polisen")
    browser.delete_all_cookies()
    browser.get(polisen.url)
    reload_until(browser, polisen.base + "/disclosures", lambda: text(browser, "#count")[:1] != "0", "polisen's")
    shot(browser, "disclosures")
    browser.get(polisen.base + "/disclosures?view=skatteverket")
    shot(browser, "refused")


def test_a_person_search_shows_the_persons_decisions_never_the_personnummer_and_is_audited(
    trail, start_console, browser
):
    console = start_console(trail, "auditor-polisen")
    browser.get(console.url)
    reload_until(browser, console.base + "/disclosures", lambda: text(browser, "#count")[:1] != "0", "entries")
    field = browser.find_element(By.ID, "person")
    field.send_keys(trail.personnummer)
    field.send_keys(Keys.ENTER)  # the keyboard alone does it
    wait_until(lambda: "subject=p%3A" in browser.current_url, what="the search's page")
    digits = trail.personnummer.replace("-", "")
    assert digits[-4:] not in browser.current_url and trail.personnummer not in browser.current_url
    page = browser.page_source
    assert trail.personnummer not in page and digits not in page and digits[2:] not in page
    assert "**-****" in text(browser, "#person-shown")
    found = int(text(browser, "#count").split()[0])
    assert found > 0
    rows = browser.find_elements(By.CSS_SELECTOR, "#entries tbody tr")
    assert len(rows) == min(found, 50)
    shot(browser, "person-search")

    reload_until(
        browser,
        console.base + "/lookups",
        lambda: browser.find_elements(By.CSS_SELECTOR, "#lookups tbody tr"),
        "the search in the log",
    )
    row = browser.find_element(By.CSS_SELECTOR, "#lookups tbody tr").text
    assert "auditor-polisen" in row and "person-search" in row and "person=p:" in row and str(found) in row
    assert digits not in browser.page_source
    shot(browser, "lookups")
    assert not any(digits in line or trail.personnummer in line for line in console.lines)


def test_a_records_story_shows_each_decision_its_receipt_its_trace_and_an_inclusion_proof(
    trail, start_console, browser
):
    console = start_console(trail, "auditor", "--lang", "en")
    browser.get(console.url)
    reload_until(
        browser,
        console.base + "/disclosures?recipient=tullverket&decision=allow&record_type=police.vehicle_control",
        lambda: text(browser, "#count")[0] != "0",
        "x",
    )
    browser.find_element(By.CSS_SELECTOR, "#entries tbody tr td a").click()
    decisions = browser.find_elements(By.CSS_SELECTOR, "#decisions tbody tr")
    assert len(decisions) >= 2  # one record, several recipients
    by_recipient = {r.find_elements(By.TAG_NAME, "td")[1].text: r.text for r in decisions}
    customs = by_recipient["Swedish Customs"]
    assert "disclosed" in customs and "LUS 2016:774" in customs and "vehicle-control.customs" in customs
    assert "no receipt" not in customs  # Tullverket's adapter wrote it and said so
    trace = text(browser, "#trace")
    assert trace.startswith("trace ") and "decide tullverket" in trace
    browser.find_element(By.ID, "show-proof").click()
    assert "the inclusion proof meets the signed root" in text(browser, "#proof")
    shot(browser, "record")


def test_the_integrity_page_turns_red_when_the_log_is_tampered_with(own_trail, start_console, browser):
    console = start_console(own_trail, "auditor", "--lang", "en")
    browser.get(console.url)
    browser.get(console.base + "/integrity")
    state = browser.find_element(By.ID, "integrity-state")
    assert state.get_attribute("data-state") == "green", state.text
    assert "tullverket" in text(browser, "#witnesses").lower() or "Customs" in text(browser, "#witnesses")
    shot(browser, "integrity")

    _tamper(own_trail.state)
    # the writer's next append (this search, recorded in the log) goes past the forged message
    searched = ""
    for _ in range(3):  # a search the console could not record shows nothing: the chief searches again
        browser.get(console.base + "/disclosures")
        browser.find_element(By.ID, "person").send_keys(own_trail.personnummer + Keys.ENTER)
        wait_until(lambda: "subject=p%3A" in browser.current_url, what="the search's page")
        searched += text(browser, "main")[:600] + "\n"
        if _lookups_recorded(own_trail.state):
            break
        # fail closed: an answer is never shown before its lookup is recorded (seen once in CI, cause unknown)
        assert browser.find_elements(By.ID, "error") and not browser.find_elements(By.CSS_SELECTOR, "#entries td"), (
            searched
        )

    seen: list[str] = []

    def red() -> bool:
        browser.get(console.base + "/integrity")
        click_and_wait(browser, "verify-now")
        seen.append(text(browser, "main"))
        return browser.find_element(By.ID, "integrity-state").get_attribute("data-state") == "red"

    wait_until(
        red,
        timeout=30,
        interval=0.5,
        what=lambda: (
            f"the integrity state turning red; the page said {seen[-1:]}; `samband up` said:\n{own_trail.tail()}\n"
            f"the lookups: {_lookups_state(own_trail.state)}\nthe search's page said: {searched}\n"
            f"the console said: {''.join(console.lines[-20:])}"
        ),
    )
    assert "FAILED" in text(browser, "#verdict") and "foreign" in text(browser, "#verdict")
    shot(browser, "integrity-red")


def test_the_integrity_page_turns_red_when_the_newest_checkpoint_is_older_than_allowed(trail, start_console, browser):
    console = start_console(trail, "auditor-polisen", "--lang", "en", "--checkpoint-max-age", "1")
    browser.get(console.url)
    time.sleep(1.1)  # not a timing assertion: the checkpoint must be older than the 1 s allowed
    browser.get(console.base + "/integrity")
    state = browser.find_element(By.ID, "integrity-state")
    assert state.get_attribute("data-state") == "red"
    assert "The checkpoint is too old" in state.text


def _as_audit_admin(state: Path, act: Callable[[JetStreamContext], Awaitable[T]]) -> T:
    """What ``act`` returns, run with the audit admin's rights on the deployment at ``state``."""

    async def main() -> T:
        nc = await Deployment.load(state).connect(AUDIT_ADMIN)
        try:
            return await act(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(main())


def _tamper(state: Path) -> None:
    """Someone with the audit admin's rights slips a message into the log's stream."""
    _as_audit_admin(state, lambda js: js.publish(AUDIT_LOG_SUBJECT, b'{"first":0,"count":1}\nforged'))


def _lookups_recorded(state: Path) -> int:
    """How many lookups consoles have recorded in the deployment's lookups stream so far."""

    async def last(js: JetStreamContext) -> int:
        return (await js.stream_info(AUDIT_LOOKUPS_STREAM)).state.last_seq

    return _as_audit_admin(state, last)


def _lookups_state(state: Path) -> str:
    """The lookups stream, the writer's consumer on it and the log's stream as the broker sees them,
    for a failure message."""

    async def said(js: JetStreamContext) -> str:
        return "\n".join(
            str(x)
            for x in (
                (await js.stream_info(AUDIT_LOOKUPS_STREAM)).state,
                await js.consumer_info(AUDIT_LOOKUPS_STREAM, "audit-writer"),  # the writer's durable
                (await js.stream_info(AUDIT_STREAM)).state,
            )
        )

    try:
        return _as_audit_admin(state, said)
    except Exception as exc:  # a failure message must not hide the failure it explains
        return f"(not read: {exc!r})"


def test_exports_of_the_current_filter_download_verify_offline_and_are_audited(trail, start_console, browser, tmp_path):
    console = start_console(trail, "auditor-polisen", "--lang", "en")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    browser.get(console.url)
    reload_until(
        browser, console.base + "/exports?recipient=tullverket", lambda: browser.find_elements(By.ID, "export-csv"), "x"
    )
    shot(browser, "exports")
    browser.find_element(By.ID, "export-csv").click()
    wait_until(lambda: list(downloads.glob("*.csv")), timeout=30, what="the CSV download")
    browser.get(console.base + "/exports?recipient=tullverket")
    browser.find_element(By.ID, "export-signed").click()
    wait_until(lambda: list(downloads.glob("*.jsonl")), timeout=30, what="the signed export download")
    csv_text = next(downloads.glob("*.csv")).read_text()
    lines = csv_text.splitlines()
    assert lines[0].startswith("index,at,envelope_id") and len(lines) > 1
    assert all(",polisen,tullverket," in line for line in lines[1:])
    signed = next(downloads.glob("*.jsonl"))
    out = subprocess.run(
        [sys.executable, "-m", "samband", "--state-dir", str(trail.state), "audit", "verify", "--file", str(signed)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.startswith("OK: ") and f"{len(lines) - 1} entries" in out.stdout, out
    reload_until(
        browser,
        console.base + "/lookups",
        lambda: (
            {"export-csv", "export-signed"}
            <= {r.text.split()[4] for r in browser.find_elements(By.CSS_SELECTOR, "#lookups tbody tr")}
        ),
        "both exports in the log",
    )


def test_the_other_pages_show_what_the_identity_may_read(trail, start_console, browser):
    polisen = start_console(trail, "auditor-polisen", "--lang", "en")
    browser.get(polisen.url)
    browser.get(polisen.base + "/deadletters")
    assert "1 rejected records" in text(browser, "#total")
    assert "malformed JSON" in browser.page_source and "PM-broken" not in browser.page_source
    shot(browser, "deadletters")
    browser.get(polisen.base + "/reconcile")
    assert "gaps" in text(browser, "#summary")
    shot(browser, "reconcile")
    browser.get(polisen.base + "/policy")
    assert text(browser, "#version") and "bacchus-2017" in text(browser, "#in-force")
    shot(browser, "policy")

    ruc = start_console(trail, "auditor-ruc_syd", "--lang", "en")
    browser.delete_all_cookies()
    browser.get(ruc.url)
    browser.get(ruc.base + "/outcomes")
    assert browser.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    assert text(browser, "#total")
    shot(browser, "outcomes")
