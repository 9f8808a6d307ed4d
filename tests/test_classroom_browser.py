"""The classroom in a real browser: Debian's Chromium, driven by Selenium, runs one
exercise end to end as a student (keyboard only) and reads the class view as a teacher,
against the real server on 127.0.0.1; no request leaves 127.0.0.1. CI installs chromium
and chromium-driver and fails without them; elsewhere the test is skipped."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import CHROMEDRIVER, CHROMIUM, selenium_chromium
from served import HOST, running_server

from sequencer.explain.casebook import gather
from sequencer.explain.teach import Answer, Exercise, exercise, mark

CASE = "patient-4"

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    if os.environ.get("CI"):
        pytest.fail(
            "CI needs Debian's chromium and chromium-driver (/usr/bin/chromium, "
            "/usr/bin/chromedriver)",
            pytrace=False,
        )
    pytest.skip("needs Debian's chromium and chromedriver", allow_module_level=True)
if not os.environ.get("CI"):
    pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with selenium_chromium("--window-size=1280,2000") as driver:
        driver.set_page_load_timeout(60)
        yield driver


def loaded_from(driver: WebDriver) -> set[str]:
    """The hosts of the page and of everything it loaded (the Resource Timing entries)."""
    urls = driver.execute_script(
        "return [location.href].concat("
        "performance.getEntries().map(e => e.name).filter(n => n.includes('://')))"
    )
    return {str(urllib.parse.urlsplit(u).hostname) for u in urls}


def arrived(driver: WebDriver, url: str) -> None:
    """Wait (at most 30 s) until the browser has loaded ``url``."""
    WebDriverWait(driver, 30).until(expected_conditions.url_to_be(url))
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def tab_to(driver: WebDriver, element_id: str, limit: int = 200) -> None:
    """Press Tab until the element with ``element_id`` has the focus (at most ``limit``)."""
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    for _ in range(limit):
        if driver.switch_to.active_element.get_attribute("id") == element_id:
            return
        driver.switch_to.active_element.send_keys(Keys.TAB)
    raise AssertionError(f"{element_id} cannot be reached with the keyboard")


def test_a_student_answers_by_keyboard_and_the_teacher_reads_the_class(
    browser: WebDriver, tmp_path: Path
) -> None:
    [case] = [c for c in gather() if c.key == CASE]
    ex: Exercise = exercise(case)
    deciding = ex.deciding[0].key
    name = "<i>Ann</i> =1+1"
    with running_server("--audit", f"sqlite:///{tmp_path / 'audit.sqlite3'}") as base:
        browser.get(f"{base}/teach")
        browser.find_element(By.CSS_SELECTOR, f'a[href="/teach/{CASE}"]').click()
        arrived(browser, f"{base}/teach/{CASE}")
        assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Exercise 4 of")
        # keyboard only: Tab to each control, Space to tick, type into the text fields
        tab_to(browser, f"choice-{ex.rulebook.option_ids[0]}")  # a radio group: one Tab stop
        for _ in range(10):  # then the arrow keys move (and choose) within the group
            if browser.switch_to.active_element.get_attribute("id") == f"choice-{ex.answer}":
                break
            browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
        browser.switch_to.active_element.send_keys(Keys.SPACE)
        assert browser.find_element(By.ID, f"choice-{ex.answer}").is_selected()
        tab_to(browser, f"deciding-{deciding}")
        browser.switch_to.active_element.send_keys(Keys.SPACE)
        assert browser.find_element(By.ID, f"deciding-{deciding}").is_selected()
        tab_to(browser, "student")
        browser.switch_to.active_element.send_keys(name)
        tab_to(browser, "group")
        browser.switch_to.active_element.send_keys("Bio-3")
        browser.switch_to.active_element.send_keys(Keys.ENTER)
        expected = mark(ex, Answer(choice=ex.answer, factors=(deciding,)))
        arrived(browser, f"{base}/teach/{CASE}/answers")
        feedback = browser.find_element(By.TAG_NAME, "body").text
        assert f"{expected.points} of {expected.max_points} points" in feedback
        assert f"Stored for class bio-3 as {name}." in feedback  # shown as text, not markup
        assert not browser.find_elements(By.CSS_SELECTOR, "#stored i")
        assert loaded_from(browser) == {HOST}

        browser.get(f"{base}/teach")
        browser.find_element(By.ID, "class-group").send_keys("BIO-3", Keys.ENTER)
        arrived(browser, f"{base}/teach/class/bio-3")
        section = browser.find_element(By.ID, f"tally-{CASE}")
        rows = section.find_elements(By.CSS_SELECTOR, "table.choices tr")
        counts = {r.text.rsplit(" ", 1)[0]: r.text.rsplit(" ", 1)[1] for r in rows[1:]}
        assert [v for k, v in counts.items() if "(the answer)" in k] == ["1"]
        assert f"Mean score {expected.points:.1f} of {ex.max_points} points" in section.text
        statements = section.find_elements(By.CSS_SELECTOR, "table.statements tr")
        ticked = [r.text for r in statements[1:] if r.text.startswith(f"{deciding}.")]
        assert ticked and ticked[0].endswith("decided it 1 0")
        assert loaded_from(browser) == {HOST}
        browser.save_screenshot(str(tmp_path / "class.png"))
        assert (tmp_path / "class.png").stat().st_size > 20_000
