"""Screenshots for the README (`make screenshot`): the printed report's first page, the
report at a projector-friendly width and, with a running service, the board's page at
1920x1080. Uses Debian's chromium and chromedriver; nothing is downloaded."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def driver(width: int, height: int, profile: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def printed_first_page(report: Path, out: Path) -> None:
    """The report as printed on A4 (print styles, 794 px = 210 mm at 96 dpi), page 1."""
    with tempfile.TemporaryDirectory() as profile:
        browser = driver(794, 1123, profile)
        try:
            browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
            browser.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": 794, "height": 1123, "deviceScaleFactor": 1.5, "mobile": False},
            )
            browser.get(report.resolve().as_uri())
            browser.save_screenshot(str(out))
        finally:
            browser.quit()


def page(url: str, out: Path) -> None:
    """The board's page at 1920x1080 with patient 4 loaded."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    with tempfile.TemporaryDirectory() as profile:
        browser = driver(1920, 1080, profile)
        try:
            browser.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False},
            )
            browser.get(url)
            Select(browser.find_element(By.ID, "case-select")).select_by_value("published:4")
            browser.find_element(By.ID, "load-case").click()
            WebDriverWait(browser, 30).until(
                ec.presence_of_element_located((By.CSS_SELECTOR, "#result .summary"))
            )
            browser.save_screenshot(str(out))
        finally:
            browser.quit()


if __name__ == "__main__":
    what, source, target = sys.argv[1:4]
    if what == "printed":
        printed_first_page(Path(source), Path(target))
    else:
        page(source, Path(target))
