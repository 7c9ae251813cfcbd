"""Debian's chromium through Playwright: launch options, viewports, screenshots."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.support.paths import SHOTS

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = ViewportSize(width=1366, height=768)
PHONE = ViewportSize(width=390, height=844)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless chromium (the test is skipped, saying so, when it is not installed)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


def shoot(page: Page, name: str, *, phone: bool = True) -> None:
    """Save the page at laptop width (and at phone width) as ``<name>[-phone].png``."""
    page.screenshot(path=shot_path(name), full_page=True)
    if phone:
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(500)  # let the charts resize
        page.screenshot(path=shot_path(f"{name}-phone"), full_page=True)
        page.set_viewport_size(LAPTOP)


def shot_path(name: str) -> str:
    """Where the screenshot ``name`` goes (the folder is made on demand)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / f"{name}.png")
