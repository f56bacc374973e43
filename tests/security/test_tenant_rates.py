"""A tenant's share of the rate of new work, on a real `propolis dev` with TLS and auth: while
two tenants are active, the one sending far more than its share is answered RESOURCE_EXHAUSTED
naming its tenant and share, the light one keeps getting in, the heavy one's job completions
are never refused, and alone again it is not limited at all.

The gateway is made strict so that the limit is reached quickly and without load: a latency
target of 0 ms with no baseline (every interval counts as slow, so the limit falls to its
floor) and a floor of 2 requests/s per tenant (gateway/tenant_rates.py)."""

from __future__ import annotations

import time
from pathlib import Path

from propolis.clients.errors import GatewayError

from tests.support.secured import client_spec, secured_propolis_dev

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli"
CLIENTS = {"heavy": client_spec(["heavy"]), "light": client_spec(["light"])}
STRICT = {
    "PROPOLIS_GATEWAY_TENANT_RATE_LATENCY_TARGET_MS": "0",
    "PROPOLIS_GATEWAY_TENANT_RATE_MIN_PER_S": "2",
    "PROPOLIS_GATEWAY_RATE_BASELINE_MULTIPLE": "0",  # else the target is 3x the quiet latency
    "PROPOLIS_GATEWAY_TENANT_RATE_BASELINE_PERCENT": "0",  # else 150 % of it, once seen
    "PROPOLIS_GATEWAY_TENANT_REQUESTS_IN_FLIGHT_MAX": "100000",  # only the rate share here
}
LIGHT_EVERY_S = 0.7  # the light tenant's pace: under its floor of 2/s, and active (within 1 s) throughout
ATTEMPTS_MAX = 5_000


def test_the_heavy_tenant_is_held_to_its_share_while_the_light_one_gets_in(tmp_path: Path) -> None:
    with secured_propolis_dev(tmp_path, CLIENTS, env=STRICT) as dev:
        heavy, light = dev.client("heavy"), dev.client("light")
        heavy.deploy(FIXTURES / "one_task.bpmn", tenant_id="heavy")
        light.deploy(FIXTURES / "one_task.bpmn", tenant_id="light")

        # Alone, a tenant is never limited by the rate share, whatever the latency target says.
        for _ in range(50):
            heavy.create_instance("one-task", tenant_id="heavy")

        light.create_instance("one-task", tenant_id="light")
        light_at = time.monotonic()
        light_created = 1
        refusal = None
        for _ in range(ATTEMPTS_MAX):
            if time.monotonic() - light_at >= LIGHT_EVERY_S:
                light.create_instance("one-task", tenant_id="light")  # never refused
                light_at = time.monotonic()
                light_created += 1
            try:
                heavy.create_instance("one-task", tenant_id="heavy")
            except GatewayError as error:
                refusal = error
                break
        assert refusal is not None, f"the heavy tenant was never refused in {ATTEMPTS_MAX} creations"
        assert refusal.status == "RESOURCE_EXHAUSTED"
        assert "tenant 'heavy' is over its share of" in refusal.message
        assert "requests/s while 2 tenants are busy; retry later" in refusal.message

        # Finishing work is never refused: the heavy tenant completes its jobs while held back.
        jobs = heavy.start_activate_jobs("work", "heavy-worker", 20, 60_000, 1_000, tenant_ids=["heavy"]).result()
        assert jobs
        for job in jobs:
            heavy.complete_job(job.key)
        light.create_instance("one-task", tenant_id="light")
        light_at = time.monotonic()
        light_created += 1
        assert light_created >= 2

        # Once the light tenant is quiet (over its one-second activity window), the heavy one
        # is alone again and not limited at all.
        time.sleep(max(0.0, light_at + 1.5 - time.monotonic()))
        for _ in range(50):
            heavy.create_instance("one-task", tenant_id="heavy")
