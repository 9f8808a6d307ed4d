"""Screenshots for the README (`make screenshot`): the printed report's first page (printed
to PDF by Chromium, page 1 rasterized by PDFium) and, with a running service, the board's
page at 1920x1080. Uses Debian's chromium and chromedriver; nothing is downloaded."""

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


def printed_first_page(report: Path, out: Path, dpi: int = 150) -> None:
    """The report's real first printed page: Chromium prints ``report`` to PDF (as the
    browser's Print does, without header or footer), PDFium (pypdfium2) rasterizes page 1
    at ``dpi`` and Pillow writes it to ``out`` as PNG."""
    import subprocess

    import pypdfium2 as pdfium

    with tempfile.TemporaryDirectory() as profile:
        pdf = Path(profile) / "report.pdf"
        subprocess.run(
            [
                "/usr/bin/chromium",
                *FLAGS,
                f"--user-data-dir={profile}/chromium",
                f"--print-to-pdf={pdf}",
                "--no-pdf-header-footer",
                report.resolve().as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
        document = pdfium.PdfDocument(str(pdf))
        try:
            document[0].render(scale=dpi / 72).to_pil().save(out)
        finally:
            document.close()


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
