"""A real headless Chromium for the map and board tests, with every network but loopback cut off.

Debian's ``chromium`` driven through its own ``chromium-driver`` (same version) by Selenium. The
network is off in two ways: every host name resolves to nothing but 127.0.0.1, and every request that
is not to loopback goes to a proxy on a closed port; so a page that still needs a CDN breaks here as
it would on a desk with no connection. Without Chromium (``apt-get install chromium chromium-driver``;
``.ci/run`` does it) the tests skip, saying so.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Where a test's screenshots go for review: ``$RISKENGINE_SCREENSHOTS``, else a directory in /tmp
#: (the README's pictures in docs/ are taken with ``RISKENGINE_SCREENSHOTS=docs/screenshots``).
SCREENSHOTS = Path(os.environ.get("RISKENGINE_SCREENSHOTS") or Path(tempfile.gettempdir()) / "riskengine-screenshots")


def _found(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name) or (name if Path(name).is_file() else None)
        if path:
            return path
    return None


def chromium_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver), or None when either is missing."""
    browser = _found("chromium", "chromium-browser", "/usr/bin/chromium")
    driver = _found("chromedriver", "/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """A Selenium WebDriver on headless Chromium, offline but for loopback, 1280x900."""
    paths = chromium_paths()
    if paths is None:
        pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver; .ci/run installs "
                    "them): the browser tests cannot run")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,900", "--proxy-server=http://127.0.0.1:9",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                 "--disable-background-networking", "--no-first-run", "--lang=en-GB"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = _started(webdriver, options, Service, paths[1])
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _started(webdriver, options, service_class, driver_path: str, attempts: int = 3):
    """A new browser session; on a loaded machine Chromium now and then dies before the driver
    reaches it ("chrome not reachable"), so a failed start is tried again, twice at most."""
    from selenium.common.exceptions import SessionNotCreatedException, WebDriverException  # noqa: PLC0415

    for attempt in range(attempts):
        try:
            return webdriver.Chrome(options=options, service=service_class(executable_path=driver_path))
        except (SessionNotCreatedException, WebDriverException):
            if attempt == attempts - 1:
                raise
            time.sleep(2)
    raise AssertionError("unreachable")


def console_errors(driver) -> list[str]:
    """The page's console errors since the last call (a missing script shows up here)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def remote_resources(driver) -> list[str]:
    """Every resource the page asked for that is neither on loopback nor inline."""
    urls = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    local = ("data:", "blob:", "file:", "http://127.0.0.1", "http://localhost", "about:")
    return [url for url in urls if not url.startswith(local)]


def screenshot(driver, name: str) -> Path:
    """Save what the browser shows as ``screenshots/<name>.png`` (for review) and return the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
