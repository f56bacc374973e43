"""The console in a real headless Chromium (Debian's, driven by Playwright) against a real
`propolis dev`: counts, the incident on the diagram, resolving it from the console, and the
instance completing, all seen live without reloading the page. Screenshots go to
test-artifacts/console/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from propolis.clients.client import PropolisClient

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "one_task.bpmn"

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
LIVE_TIMEOUT_MS = 10_000

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./run test installs it as root)")


@pytest.fixture
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_an_operator_sees_the_incident_resolves_it_and_watches_the_instance_complete(propolis_dev, page):
    client = PropolisClient(propolis_dev.address)
    # As Camunda Modeler writes it, diagram included (bpmn-js draws the diagram interchange).
    xml = FIXTURE.read_text().replace('id="one-task"', 'id="console-demo"').replace('type="work" retries="3"', 'type="console-work" retries="1"')
    client.deploy(("console-demo.bpmn", xml.encode()))
    instances = [client.create_instance("console-demo", {"order": n}).key for n in range(3)]

    page.goto(f"{propolis_dev.console_url}/#/")
    row = page.locator('#processes tr[data-process="console-demo"]')
    row.locator("td.active").filter(has_text="3").wait_for(timeout=LIVE_TIMEOUT_MS)
    shot(page, "1-processes")

    # A worker fails one job without retries: an incident, which the open page shows by itself.
    [job] = client.activate_jobs("console-work", max_jobs=1, request_timeout_ms=5_000)
    client.fail_job(job.key, retries=0, error_message="payment service down")
    row.locator("td.incident").filter(has_text="1").wait_for(timeout=LIVE_TIMEOUT_MS)
    assert row.locator("td.active").inner_text() == "2"

    row.locator("a").click()
    overlay = page.locator('.overlay[data-element="task"]')
    overlay.locator('[data-kind="incident"]').filter(has_text="1").wait_for(timeout=LIVE_TIMEOUT_MS)
    assert overlay.locator('[data-kind="active"]').inner_text() == "3"  # incidents count as active there
    assert page.locator('g.djs-element.incident-here[data-element-id="task"]').count() == 1
    shot(page, "2-process-diagram-with-incident")

    page.goto(f"{propolis_dev.console_url}/#/instance/{job.process_instance_key}")
    incident_row = page.locator("#incident-table tr[data-incident]")
    incident_row.wait_for(timeout=LIVE_TIMEOUT_MS)
    assert "payment service down" in incident_row.inner_text()
    shot(page, "3-instance-with-incident")
    incident_row.locator("input.retries").fill("2")
    incident_row.locator("button.resolve").click()
    page.locator("#incidents").filter(has_text="No open incidents").wait_for(timeout=LIVE_TIMEOUT_MS)

    # The job is back with its new retries; a worker completes it; the page follows.
    [again] = client.activate_jobs("console-work", max_jobs=1, request_timeout_ms=5_000)
    assert again.key == job.key and again.retries == 2
    client.complete_job(again.key, {"paid": True})
    page.locator("#instance-state .badge.COMPLETED").wait_for(timeout=LIVE_TIMEOUT_MS)
    page.locator('#variable-table tr[data-name="paid"]').wait_for(timeout=LIVE_TIMEOUT_MS)
    assert page.locator('g.djs-element.flow-taken[data-element-id="to-end"]').count() == 1
    shot(page, "4-instance-completed")

    # Replay walks the history on the diagram step by step.
    page.locator("#replay").click()
    page.locator("#replay-status").filter(has_text="step 1 of").wait_for(timeout=LIVE_TIMEOUT_MS)
    page.locator("#replay-next").click()
    assert "step 2 of" in page.locator("#replay-status").inner_text()

    # The instances view filters by state.
    page.goto(f"{propolis_dev.console_url}/#/instances?process=console-demo&state=COMPLETED")
    page.locator(f'#instances tr[data-key="{job.process_instance_key}"]').wait_for(timeout=LIVE_TIMEOUT_MS)
    assert page.locator("#instances tr[data-key]").count() == 1
    assert set(instances) >= {job.process_instance_key}
    shot(page, "5-instances-filtered")
    client.close()
