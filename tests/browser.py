"""Debian's Chromium for tests: printing a page to PDF, a headless Selenium driver
(chromedriver from Debian too, so Selenium Manager downloads nothing), and telling the
page's network requests from the browser's own internal ones. Without a browser the
test is skipped here, and fails in CI (CI=1), which installs both.

The tests run on whatever Chromium Debian ships that day: nothing here depends on one
version's internal pages (``chrome:``, ``chrome-untrusted:`` and the like), only on
which requests could reach a network (``http``, ``https``, ``ws``, ``wss``, ``ftp``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
NO_NETWORK = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
    "--no-pings",
)
"""Flags that keep the browser from calling home (no updates, sync, prefetching, default
apps or extensions, new-tab page or first-run extras)."""

NETWORK_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})
"""The URL schemes Chromium's network stack fetches; every other scheme (``data:``,
``blob:``, ``about:``, ``chrome:``, ``chrome-untrusted:``, ``devtools:`` ...) is served
by the browser itself and reaches no host."""


def outside_requests(urls: Iterable[str], host: str) -> list[str]:
    """The URLs among ``urls`` that would reach a host other than ``host`` over the
    network: a network scheme (:data:`NETWORK_SCHEMES`) with another host name. The
    browser's internal pages, whatever their scheme, are not network requests."""
    outside = []
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() in NETWORK_SCHEMES and parts.hostname != host:
            outside.append(url)
    return outside


@contextlib.contextmanager
def selenium_chromium(*extra: str, performance_log: bool = False) -> Iterator[Any]:
    """A headless Selenium driver on Debian's Chromium with :data:`NO_NETWORK` and a
    fresh profile directory (removed afterwards), plus the ``extra`` flags; with
    ``performance_log`` the DevTools network log is kept (``driver.get_log``). Yields
    the driver and quits it on the way out; skips (fails in CI) without the browser."""
    need(CHROMIUM, CHROMEDRIVER)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download
    profile = tempfile.mkdtemp(prefix="sequencer-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*NO_NETWORK, f"--user-data-dir={profile}", *extra):
        options.add_argument(flag)
    if performance_log:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def need(*paths: Path) -> None:
    """Skip the test when a browser binary is missing, or fail it in CI."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        message = f"needs Debian's chromium and chromium-driver ({', '.join(missing)} missing)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI installs them")
        pytest.skip(message)


def print_to_pdf(page: Path, pdf: Path) -> None:
    """Print the HTML file ``page`` to ``pdf`` with headless Chromium (no header or
    footer); raises ``AssertionError`` when no PDF comes out."""
    need(CHROMIUM)
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                str(CHROMIUM),
                *NO_NETWORK,
                f"--user-data-dir={profile}",
                f"--print-to-pdf={pdf}",
                "--no-pdf-header-footer",
                page.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert pdf.is_file() and pdf.stat().st_size > 1000, done.stderr[-2000:]


def screenshot(url: str, shot: Path, width: int, height: int) -> None:
    """Render ``url`` with headless Chromium, offline, to the PNG ``shot`` of
    ``width`` x ``height`` pixels (the caller checks what came out)."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                str(CHROMIUM),
                *NO_NETWORK,
                f"--user-data-dir={profile}",
                f"--screenshot={shot}",
                f"--window-size={width},{height}",
                url,
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )


def png_size(path: Path) -> tuple[int, int]:
    """The width and height of the PNG file ``path`` (asserting it is a PNG)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height
