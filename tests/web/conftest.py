"""A real browser for the page tests: Debian's Chromium driven by Playwright (its own browser
download cannot work here). Without Chromium the tests skip, unless ``CI`` is set: then they fail.

``page`` is a fresh page at 1280x800; ``shoot(page, name)`` saves a screenshot under
``var/screenshots/`` (look at them: a page that passes its assertions can still look wrong)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
#: Without these, Chromium's connections are refused by this closed network, many at a time.
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _require_browser() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI is set but Debian's chromium is missing: 'make test' installs it when run as root")
        pytest.skip("no chromium here: install Debian's chromium (make test does it when run as root)")


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    _require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(browser: object) -> AsyncIterator[object]:
    context = await browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 800}, ignore_https_errors=False
    )
    pg = await context.new_page()
    try:
        yield pg
    finally:
        await context.close()


Shoot = Callable[[object, str], Awaitable[Path]]


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Shoot:
    async def save(pg: object, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{request.node.name}-{name}.png".replace("/", "_")
        await pg.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path

    return save
