"""Headless Debian Chromium driven by Selenium, shared by the browser tests (``test_serve_browser.py``,
``test_report_browser.py``). Without Chromium a test fails under CI (``CI`` set: ``.ci/run`` installs it) and is
skipped elsewhere, with the reason."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# No network here: everything that phones home must be off, or start-up hangs.
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1100,1300",
)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium Python package")
    return f"browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)" if missing else None


def chromium_driver(*, page_load_timeout: float, console_log: bool = False) -> Iterator:
    """A fixture body: yield a Selenium Chrome driver on a fresh profile, quit it and remove the profile after.

    ``console_log``: keep the page's console messages (CSP violations included) for ``driver.get_log("browser")``.
    """
    reason = browser_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to download anything
    profile = tempfile.mkdtemp(prefix="laanet-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={profile}")
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
