"""Debian's Chromium for tests: printing a page to PDF, and a headless Selenium driver
(chromedriver from Debian too, so Selenium Manager downloads nothing). Without a
browser the test is skipped here, and fails in CI (CI=1), which installs both."""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
from pathlib import Path

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
)
"""Flags that keep the browser from calling home (no updates, sync or prefetching)."""


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
