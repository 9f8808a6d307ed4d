"""The tumor board's case page, served for real on 127.0.0.1 and driven in Debian's
headless Chromium through Selenium (chromedriver from Debian; nothing downloaded):
loading a published patient, applying a what-if change, an invalid field's error beside
the field, recording a decision and finding it in the list and on the report, and no
request leaving 127.0.0.1. Without chromium the browser tests are skipped here and fail
in CI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import outside_requests, selenium_chromium
from conftest import PATIENTS_DIR
from served import HOST, call, running_server
from test_printed_report import raw_paths, visible_text

from sequencer import default_rulebook, recommend
from sequencer.model.fields import FIELDS
from sequencer.present.phrases import summary_words
from sequencer.service.audit import BOARD_SERVICE, AuditLog
from sequencer.service.decisions import FREE_TEXT_LIMITS
from sequencer.service.page import form_sections

WAIT = 30  # seconds: the longest any page change may take


def profile_of(number: int) -> dict[str, Any]:
    return dict(json.loads((PATIENTS_DIR / f"patient-{number}.json").read_text()))


@pytest.fixture(scope="module")
def audit_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('page') / 'audit.sqlite3'}"


@pytest.fixture(scope="module")
def server(audit_url: str) -> Iterator[str]:
    with running_server("--audit", audit_url) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium at projector size (1920x1080), its network log kept."""
    with selenium_chromium("--window-size=1920,1080", performance_log=True) as driver:
        driver.set_page_load_timeout(WAIT)
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False},
        )
        yield driver


def _wait(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(condition)


def _load(driver: Any, base: str, key: str) -> str:
    """Open the page, load a packaged case and return the summary shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(f"{base}/")
    Select(driver.find_element(By.ID, "case-select")).select_by_value(key)
    driver.find_element(By.ID, "load-case").click()
    summary = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#result .summary"))
    return str(summary[0].text)


def _requests(driver: Any) -> list[str]:
    """Every URL the browser asked for since the last call (its network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message.get("method") == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def test_the_form_has_a_control_for_every_field_with_unknown_as_a_choice() -> None:
    book = default_rulebook()
    fields = [f for s in form_sections(book) for f in s.fields]
    assert sorted(f.key.replace("/", ".") for f in fields) == sorted(FIELDS)
    for f in fields:
        assert f.label == book.vocabulary.label(f.key.replace("/", "."))
        if f.kind in ("enum", "boolean"):
            assert f.choices[0] == (f.unknown, "not known")


def test_the_page_and_a_case_show_no_dotted_field_path(server: str) -> None:
    status, _, page = call(f"{server}/")
    assert status == 200
    assert raw_paths(visible_text(page.decode())) == []
    for number in range(1, 6):
        body = json.dumps(profile_of(number)).encode()
        status, _, fragment = call(f"{server}/page/evaluate?context=us-2020", body, "POST")
        assert status == 200
        assert raw_paths(visible_text(fragment.decode())) == []


def test_an_invalid_profile_is_a_422_naming_each_field(server: str) -> None:
    bad = profile_of(1) | {"age": 7}
    status, _, raw = call(f"{server}/page/evaluate", json.dumps(bad).encode(), "POST")
    assert status == 422
    problems = json.loads(raw)["problems"]
    assert [p["field"] for p in problems] == ["age"] and problems[0]["code"]


def test_a_decision_needs_a_reason_to_override_and_escapes_nothing_into_storage(
    server: str, audit_url: str
) -> None:
    base = {
        "profile": profile_of(4),
        "context": "us-2020",
        "chosen": "blinatumomab",
        "meeting_date": "2026-11-27",
        "signed_by": "Dr Chair",
    }
    status, _, raw = call(f"{server}/decisions", json.dumps(base).encode(), "POST")
    assert status == 422
    assert [p["field"] for p in json.loads(raw)["problems"]] == ["reason"]
    missing = {"profile": profile_of(4), "context": "us-2020", "chosen": "nothing"}
    status, _, raw = call(f"{server}/decisions", json.dumps(missing).encode(), "POST")
    fields = {p["field"] for p in json.loads(raw)["problems"]}
    assert status == 422 and fields == {"chosen", "meeting_date", "signed_by"}
    ok = base | {"reason": "patient-preference", "comment": "<b>wait</b>"}
    status, _, raw = call(f"{server}/decisions", json.dumps(ok).encode(), "POST")
    assert status == 200
    stored = json.loads(raw)
    assert stored["outcome"] == "overridden"
    log = AuditLog(audit_url)
    try:
        row = log.decisions(stored["id"])[0]
        feedback = [f for f in log.feedback() if f.service == BOARD_SERVICE]
    finally:
        log.close()
    assert row.comment == "<b>wait</b>" and row.reason_code == "patient-preference"
    assert row.advice == "car_t" and row.chosen == "blinatumomab"
    assert row.rulebook_version == default_rulebook().version
    assert feedback and feedback[-1].outcome == "overridden"
    assert feedback[-1].reason_code == "patient-preference"


def test_free_text_longer_than_the_report_can_print_is_refused_on_its_field_not_cut(
    server: str, audit_url: str
) -> None:
    base = {
        "profile": profile_of(4),
        "context": "us-2020",
        "chosen": "other",
        "reason": "patient-preference",
        "meeting_date": "2026-11-27",
    }
    longest = {key: "x" * limit for key, limit in FREE_TEXT_LIMITS.items()}
    for key, limit in FREE_TEXT_LIMITS.items():
        over = base | longest | {key: "y" * (limit + 1)}
        status, _, raw = call(f"{server}/decisions", json.dumps(over).encode(), "POST")
        assert status == 422
        problems = json.loads(raw)["problems"]
        assert [(p["field"], p["code"]) for p in problems] == [(key, "out_of_range")]
        assert f"at most {limit:,} characters" in problems[0]["message"]
    status, _, raw = call(f"{server}/decisions", json.dumps(base | longest).encode(), "POST")
    assert status == 200
    log = AuditLog(audit_url)
    try:
        row = log.decisions(json.loads(raw)["id"])[0]
    finally:
        log.close()
    assert row.comment == longest["comment"] and row.signed_by == longest["signed_by"]
    assert row.chosen_name == longest["other_therapy"]


def test_the_decision_form_accepts_no_more_than_the_service_does(server: str) -> None:
    body = json.dumps(profile_of(4)).encode()
    status, _, raw = call(f"{server}/page/evaluate?context=us-2020", body, "POST")
    assert status == 200
    page = raw.decode()
    for key, element in (
        ("other_therapy", "d-other"),
        ("signed_by", "d-signed"),
        ("comment", "d-comment"),
    ):
        assert re.search(rf'id="{element}"[^>]* maxlength="{FREE_TEXT_LIMITS[key]}"', page), key


def test_a_published_patient_shows_its_choice_and_reasons_above_the_fold(
    server: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    rec = recommend(profile_of(1), context="us-2020")
    shown = _load(browser, server, "published:1")
    assert shown == summary_words(rec.summary) and "weight of arguments" in shown
    first = browser.find_element(By.CSS_SELECTOR, "#result .option")
    preferred = next(o for o in rec.options if o.status == "preferred")
    assert f"{preferred.name}: preferred" in first.find_element(By.TAG_NAME, "h3").text
    top = next(a for a in rec.arguments if a.id == preferred.arguments_for[0])
    reason = first.find_element(By.CSS_SELECTOR, ".args li")
    assert top.title in reason.text
    height = browser.execute_script("return window.innerHeight")
    for element in (browser.find_element(By.CSS_SELECTOR, "#result .decision"), reason):
        assert element.rect["y"] + element.rect["height"] <= height, element.text[:80]


def test_the_printable_report_opens_from_the_page_without_the_id_when_hidden(
    server: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    _load(browser, server, "published:3")
    browser.find_element(By.ID, "f-hide-id").click()
    page = browser.current_window_handle
    browser.find_element(By.ID, "print-report").click()
    _wait(browser, lambda d: len(d.window_handles) == 2)
    browser.switch_to.window(next(h for h in browser.window_handles if h != page))
    try:
        _wait(browser, lambda d: d.find_elements(By.TAG_NAME, "h1"))
        assert browser.find_element(By.TAG_NAME, "h1").text == "Tumor board case report"
        text = browser.find_element(By.TAG_NAME, "body").text
        assert "Patient id hidden" in text and "aldoss2020-patient-3" not in text
        assert "References" in text
    finally:
        browser.close()
        browser.switch_to.window(page)
        browser.find_element(By.ID, "f-hide-id").click()


def test_applying_a_what_if_change_changes_the_choice(server: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    before = _load(browser, server, "published:4")
    assert before == summary_words(recommend(profile_of(4), context="us-2020").summary)
    button = browser.find_element(
        By.CSS_SELECTOR, 'button.apply[data-key="disease/rapidly_progressing"]'
    )
    changed = profile_of(4)
    changed["disease"]["rapidly_progressing"] = json.loads(button.get_attribute("data-value"))
    expected = recommend(changed, context="us-2020")
    assert expected.preferred == "blinatumomab"  # the choice flips where it should
    button.click()
    _wait(
        browser,
        lambda d: (
            d.find_element(By.CSS_SELECTOR, "#result .summary").text
            == summary_words(expected.summary)
        ),
    )
    assert browser.find_element(By.ID, "f-disease-rapidly_progressing").get_attribute("value") == (
        "true"
    )


def test_an_invalid_field_shows_its_error_beside_it(server: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    _load(browser, server, "published:1")
    age = browser.find_element(By.ID, "f-age")
    age.clear()
    age.send_keys("7")
    browser.find_element(By.ID, "evaluate").click()
    error = _wait(browser, lambda d: d.find_element(By.ID, "e-age").is_displayed() and d)
    message = error.find_element(By.ID, "e-age").text
    assert "18" in message and "(" in message
    assert age.get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.ID, "form-errors").text == ""


def test_a_recorded_decision_is_in_the_list_and_on_the_report(server: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _load(browser, server, "published:4")
    browser.find_element(By.CSS_SELECTOR, 'input[name="chosen"][value="blinatumomab"]').click()
    Select(browser.find_element(By.ID, "d-reason")).select_by_value("patient-preference")
    browser.find_element(By.ID, "d-comment").send_keys("<script>alert(1)</script> wants home care")
    date = browser.find_element(By.ID, "d-date")
    browser.execute_script("arguments[0].value = '2026-11-27'", date)
    browser.find_element(By.ID, "d-signed").send_keys("Dr A. Chair & <i>Dr B</i>")
    browser.find_element(By.ID, "record-decision").click()
    link = _wait(browser, lambda d: d.find_elements(By.ID, "decision-report"))[0]
    report_url = link.get_attribute("href")
    assert "overrides the advice" in browser.find_element(By.ID, "d-status").text

    browser.get(f"{server}/decisions")
    row = browser.find_element(By.CSS_SELECTOR, "table.decisions tbody tr")
    text = row.text
    assert "2026-11-27" in text and "Blinatumomab" in text and "CD19 CAR T cells" in text
    assert "overrides the advice" in text and "The patient prefers the other option" in text
    assert "<script>alert(1)</script> wants home care" in text
    assert default_rulebook().version in text
    assert browser.find_elements(By.CSS_SELECTOR, "table.decisions script") == []

    browser.get(report_url)
    recorded = browser.find_element(By.CSS_SELECTOR, ".recorded").text
    assert "Blinatumomab" in recorded and "overrides the advice" in recorded
    assert "Dr A. Chair & <i>Dr B</i>" in recorded and "2026-11-27" in recorded
    assert browser.find_elements(By.CSS_SELECTOR, ".recorded i, script") == []


def test_the_page_asks_nothing_of_any_other_host(server: str, browser: Any) -> None:
    """Every request of the module's whole browser session so far (load, what-if,
    invalid field, record, list, report) and of the about page went to the service on
    127.0.0.1: no http, https or ws request to any other host. The browser's own
    internal pages (``chrome:``, ``chrome-untrusted:``, ``data:`` ...) reach no host and
    are not counted, whatever a Chromium release adds to them."""
    _load(browser, server, "published:2")
    browser.get(f"{server}/decisions")
    browser.get(f"{server}/about")
    seen = _requests(browser)  # the log since the browser started (this module)
    assert len(seen) > 10 and f"{server}/decisions" in seen
    assert outside_requests(seen, HOST) == []
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(str(u).startswith(f"http://{HOST}:") for u in resources)


def test_every_page_is_keyboard_reachable(server: str, browser: Any) -> None:
    """Tabbing from the top reaches the case list, the form and the evaluate button."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{server}/")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    reached = set()
    for _ in range(120):  # bounded
        active = browser.switch_to.active_element
        reached.add(active.get_attribute("id") or active.tag_name)
        if "evaluate" in reached:
            break
        active.send_keys(Keys.TAB)
    assert {"case-select", "load-case", "f-age", "evaluate"} <= reached


def test_the_docs_screenshot_of_the_page_is_in_the_repository() -> None:
    shot = Path(__file__).resolve().parents[1] / "docs" / "page-patient-4.png"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 1920
    assert int.from_bytes(data[20:24], "big") == 1080


def test_the_case_list_names_literature_cases_in_words_not_by_key(server: str) -> None:
    """The page's case list shows each literature case by its summary's words and its
    source, never by its file key (``elchaer2019-ph-positive-after-car-t``)."""
    from sequencer.explain.impact import read_literature_cases

    status, _, page = call(f"{server}/")
    assert status == 200
    options = re.findall(r'<option value="literature:([^"]+)"[^>]*>([^<]*)</option>', page.decode())
    keys = {str(c["id"]) for c in read_literature_cases()}
    assert {key for key, _ in options} == keys
    for key, words in options:
        assert key not in words and len(words.split()) >= 4, (key, words)
    elchaer = dict(options)["elchaer2019-ph-positive-after-car-t"]
    assert elchaer.startswith("An adult with Ph-positive B-ALL") and "El Chaer" in elchaer
