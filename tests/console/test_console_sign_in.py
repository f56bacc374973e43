"""The console with auth on, in a real headless Chromium: it asks for a sign-in, shows only the
signed-in client's tenants, and signs out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.secured import client_spec, secured_propolis_dev

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
LIVE_TIMEOUT_MS = 10_000
CLIENTS = {"team-a": client_spec(["team-a"]), "team-b": client_spec(["team-b"])}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./run test installs it as root)")


@pytest.fixture
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


def test_the_console_asks_for_a_sign_in_and_shows_only_the_clients_tenants(tmp_path: Path, page) -> None:
    with secured_propolis_dev(tmp_path, CLIENTS) as dev:
        with dev.client("team-a") as a, dev.client("team-b") as b:
            a.deploy(FIXTURES / "waiting_task.bpmn", tenant_id="team-a")
            b.deploy(FIXTURES / "message_wait.bpmn", tenant_id="team-b")
        page.goto(f"{dev.server.console_url}/#/")
        page.locator("form#login").wait_for(timeout=LIVE_TIMEOUT_MS)
        page.fill('input[name="clientId"]', "team-a")
        page.fill('input[name="clientSecret"]', "wrong")
        page.click('form#login button[type="submit"]')
        page.locator("#login-error").filter(has_text="wrong secret").wait_for(timeout=LIVE_TIMEOUT_MS)

        page.fill('input[name="clientSecret"]', CLIENTS["team-a"]["secret"])
        page.click('form#login button[type="submit"]')
        page.locator('#processes tr[data-process="waiting-task"]').wait_for(timeout=LIVE_TIMEOUT_MS)
        assert page.locator('#processes tr[data-process="wait-for-payment"]').count() == 0
        assert "team-a" in page.locator("#user").inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "sign-in-team-a.png"), full_page=True)

        page.click("#logout")
        page.locator("form#login").wait_for(timeout=LIVE_TIMEOUT_MS)
        assert page.locator('#processes tr[data-process="waiting-task"]').count() == 0
