"""The web page in Debian's headless Chromium, driven by selenium through Debian's chromedriver.

Nothing is downloaded: the browser and driver are the system packages (scripts/test installs
``chromium`` and ``chromium-driver``), and Selenium Manager is told to stay offline. The page is
loaded from the daemon on its simulated pack; a screenshot is kept in ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.adapters.http.conftest import PIN, start_web

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("BMS_TEST_ARTIFACTS", ROOT / "test-artifacts"))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "chromium and chromium-driver are not installed (scripts/test installs them)"
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch a browser or driver
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1200,1900"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


async def wait_until(what: str, check: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    """Poll ``check`` (a blocking webdriver call, run off the loop) until it returns something true."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if loop.time() > end:
            raise AssertionError(f"page did not show {what} within {timeout_s} s")
        await asyncio.sleep(0.2)


async def off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """Every webdriver call blocks on HTTP to chromedriver: never on the daemon's event loop."""
    return await asyncio.to_thread(fn, *args)


def _unlock(driver: webdriver.Chrome, pin: str) -> None:
    driver.find_element(By.ID, "pin").send_keys(pin)
    driver.find_element(By.ID, "unlock").click()


def _save_setting(driver: webdriver.Chrome, section: str, key: str, value: str) -> None:
    for summary in driver.find_elements(By.CSS_SELECTOR, "#settings details summary"):
        if summary.text == section and driver.execute_script("return !arguments[0].parentNode.open", summary):
            summary.click()
    field = driver.find_element(By.CSS_SELECTOR, f'[data-key="{key}"]')
    field.clear()
    field.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, f'[data-save="{key}"]').click()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _event_seqs(driver: webdriver.Chrome) -> list[int]:
    return [int(str(e.get_attribute("data-seq"))) for e in driver.find_elements(By.CSS_SELECTOR, "#events li")]


def _row_text(driver: webdriver.Chrome, key: str) -> str:
    field = driver.find_element(By.CSS_SELECTOR, f'[data-key="{key}"]')
    return str(field.find_element(By.XPATH, "..").text)


def _text(driver: webdriver.Chrome, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def _cells(driver: webdriver.Chrome) -> list[str]:
    return [str(e.get_attribute("textContent")) for e in driver.find_elements(By.CSS_SELECTOR, "#cells .cell .v")]


async def test_page_shows_the_live_pack_events_and_changes_a_setting(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    # A small pack discharged hard so that the SOC moves visibly within seconds.
    pack = {
        "pack": {"capacity_ah": 5.0},
        "simulator": {"scenario": "constant", "constant_current_a": -25.0, "initial_soc_pct": 80.0},
        "hardware": {"inputs": [{"line": 12, "function": "generic", "debounce_s": 0.0}], "gpio": {"alarm": 13}},
    }
    port = free_port()  # fixed, so that the restarted gateway below comes back at the same address
    web = await start_web(tmp_path, extra=pack, port=port)
    try:
        await off_loop(browser.get, web.url("/"))
        soc0 = await wait_until("a SOC", lambda: re.fullmatch(r"\d+\.\d", _text(browser, "#soc")) and
                                _text(browser, "#soc"))
        cells0 = await wait_until("16 cell values", lambda: len(_cells(browser)) == 16 and _cells(browser))
        assert all(re.fullmatch(r"3\.\d{3}", v) for v in cells0), cells0
        await wait_until("the SOC changing", lambda: _text(browser, "#soc") != soc0)
        await wait_until("cell values changing", lambda: _cells(browser) != cells0)
        assert "live" in await off_loop(_text, browser, "#conn")

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await off_loop(browser.save_screenshot, str(ARTIFACTS / "web-page-live.png"))

        web.inject("cell_ov:4")
        await wait_until("the injected fault in the events",
                         lambda: "cell_over_voltage" in _text(browser, "#events"))
        await wait_until("the active fault at the top", lambda: "fault: cell_over_voltage" in _text(browser, "#active"))
        # the alarm output follows the fault; a discrete input pressed shows as on
        await wait_until("the alarm output", lambda: re.search(r"alarm output\s*(sounding|active)",
                                                                   _text(browser, "#contactors")))
        assert re.search(r"input 1\s*off", await off_loop(_text, browser, "#contactors"))
        web.inject("input:1")
        await wait_until("input 1 on", lambda: re.search(r"input 1\s*on", _text(browser, "#contactors")))

        # Locked until the PIN: setting inputs are disabled; a wrong PIN is refused.
        await off_loop(_unlock, browser, "9999")
        await wait_until("a wrong PIN refused", lambda: "wrong PIN" in _text(browser, "#unlock-msg"))
        tmax_key = "protection.relays.tmax_c"
        tmax = await off_loop(browser.find_element, By.CSS_SELECTOR, f'[data-key="{tmax_key}"]')
        assert not await off_loop(tmax.is_enabled)
        await off_loop(_unlock, browser, str(PIN))
        await wait_until("unlocked", lambda: "unlocked" in _text(browser, "#lock-state"))
        await off_loop(_save_setting, browser, "protection.relays", "protection.relays.tmax_c", "47.5")
        await wait_until("the setting saved", lambda: "saved" in _row_text(browser, "protection.relays.tmax_c"))
        assert web.daemon.settings.config.protection.relays.tmax_c == 47.5
        # A value out of range is refused with its range, and changes nothing.
        await off_loop(_save_setting, browser, "protection.relays", "protection.relays.tmax_c", "500")
        await wait_until("the range", lambda: "less than or equal to 100" in (row := _row_text(browser, tmax_key))
                         and "allowed: >= -40, <= 100" in row)
        assert web.daemon.settings.config.protection.relays.tmax_c == 47.5

        await off_loop(browser.execute_script, "window.scrollTo(0, 0)")
        await off_loop(browser.save_screenshot, str(ARTIFACTS / "web-page.png"))

        # The pack cycle stops: the page greys out and says since when.
        web.daemon.request_stop()
        await web.daemon.wait()
        await wait_until("the stale banner", lambda: "No live data since" in _text(browser, "#stale-banner"))
        assert "stale" in str(await off_loop(browser.find_element(By.TAG_NAME, "body").get_attribute, "class"))
        shown = await off_loop(_event_seqs, browser)

        # The gateway restarts: the page reconnects by itself, live again, and its event log has
        # every event once, in order, across the restart (the stream resumes by sequence number).
        await web.session.close()
        await web.daemon.stop()
        await wait_until("the lost connection", lambda: "reconnecting" in _text(browser, "#conn"))
        web = await start_web(tmp_path, extra=pack, port=port)
        await wait_until("live again", lambda: "live" in _text(browser, "#conn") and "stale" not in str(
            browser.find_element(By.TAG_NAME, "body").get_attribute("class")))
        total = web.daemon.protection.event_log.total
        await wait_until("the events of the restarted gateway", lambda: max(_event_seqs(browser)) >= total - 1)
        seqs = await off_loop(_event_seqs, browser)
        assert seqs == list(range(seqs[0], seqs[0] - len(seqs), -1)), seqs  # newest first, none missing or twice
        assert set(shown) <= set(seqs)
    finally:
        await web.session.close()
        await web.daemon.stop()
