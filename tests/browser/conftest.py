"""Browser tests: the workshop's pages (JupyterLab, the local MWAA's Airflow UI) in a real Chromium via Playwright.

Playwright drives the system's Chromium (Debian's `chromium` package), not a browser it downloads. Without one,
these tests are skipped with how to get it. Screenshots go to build/screenshots/; a failing test also leaves
`<test>-failure.png` and `<test>-failure.console.txt` (the page's console log) there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers.paths import BUILD_DIR

SCREENSHOTS = BUILD_DIR / "screenshots"
GET_CHROMIUM = "apt-get install chromium (Debian/Ubuntu, as root), or set WORKBOOK_CHROMIUM to a Chromium/Chrome binary"


def chromium_path() -> str | None:
    configured = os.environ.get("WORKBOOK_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    return next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)


def pytest_collection_modifyitems(config, items):
    if chromium_path():
        return
    skip = pytest.mark.skip(reason=f"no Chromium for the browser tests: {GET_CHROMIUM}")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_call_failed = report.failed
    return report


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox refuses to run as root, which CI containers usually are.
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    """A fresh page (its own cookies), its console log kept; on failure a screenshot and that log are saved."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    yield page
    if getattr(request.node, "browser_call_failed", False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=SCREENSHOTS / f"{request.node.name}-failure.png", full_page=True)
        finally:
            (SCREENSHOTS / f"{request.node.name}-failure.console.txt").write_text("\n".join(console) + "\n")
    context.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=path)
    return path
