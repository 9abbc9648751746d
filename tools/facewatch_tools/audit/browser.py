"""Headless Chromium for the audit report: print to PDF, and screenshots for its tests."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

# The flags a closed network needs: without them Chromium keeps trying Google's hosts.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


class BrowserMissingError(RuntimeError):
    """No Chromium on this machine."""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise BrowserMissingError(
            "chromium is not installed: install it (Debian: apt-get install chromium) for --pdf"
        )
    return found


def _run(page: Path, *flags: str, timeout: float = 120.0) -> None:
    with tempfile.TemporaryDirectory(prefix="facewatch-chromium-") as profile:
        subprocess.run(  # noqa: S603 - the machine's own browser on our own file
            [chromium(), *_FLAGS, f"--user-data-dir={profile}", *flags, page.resolve().as_uri()],
            capture_output=True,
            check=True,
            timeout=timeout,
        )


def print_pdf(page: Path, pdf: Path) -> None:
    _run(page, f"--print-to-pdf={pdf.resolve()}", "--no-pdf-header-footer")


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 1600) -> None:
    _run(page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}")
