"""Fixtures of the browser tests: a whole Tidings site in real processes, and Chromium.

Without Chromium (or Playwright) these tests are skipped with a message naming the package to
install, except in CI (CI=true), where that fails the run, as for PostgreSQL and Redis.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.support.browser import ARTIFACTS, CHROMIUM_ARGS, Site, SiteStack, chromium_executable
from tests.support.servers import ServerUnavailable


@pytest.fixture(scope="session")
def chromium_path() -> str:
    try:
        return chromium_executable()
    except ServerUnavailable as error:
        if IN_CI:
            pytest.fail(f"CI requires the browser: {error}", pytrace=False)
        pytest.skip(f"missing browser: {error}")


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator:
    """Closed when the browser tests are done: Playwright's sync API runs an event loop in this
    thread while it is open, under which Django refuses database calls (other tests')."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def site(chromium_path, postgres_server, redis_server, tmp_path_factory) -> Iterator[Site]:
    """Started once for the browser tests, stopped after them (after Chromium was found: no
    browser, no site)."""
    stack = SiteStack(postgres_server, redis_server, tmp_path_factory.mktemp("browser-site"))
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A clean folder of screenshots for this test, under the git-ignored var/."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `-m "not browser"` leaves them out of a quick run.
    browser_items = [item for item in items if "tests/browser/" in str(item.path)]
    for item in browser_items:
        item.add_marker(pytest.mark.browser)
