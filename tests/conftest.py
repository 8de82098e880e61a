"""Fixtures every test package shares."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


# Per module, not per session: Playwright's sync API keeps its event loop marked as running for as long as it is
# open, and the router's async tests that come after a browser test then cannot start their own loop.
@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright (Playwright cannot download its own browser here)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing; .ci/run installs it")
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()
