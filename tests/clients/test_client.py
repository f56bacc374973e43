"""The Python client and job worker (propolis.clients) against a real `propolis dev`."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from propolis.clients.client import Job, PropolisClient
from propolis.clients.errors import GatewayError
from propolis.clients.worker import JobFailure, JobWorker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli"


@pytest.fixture(scope="module")
def client(propolis_dev_module) -> PropolisClient:
    with PropolisClient(propolis_dev_module.address) as client:
        deployment = client.deploy(FIXTURES / "one_task.bpmn", str(FIXTURES / "waiting_task.bpmn"),
                                   ("flaky.bpmn", (FIXTURES / "flaky_task.bpmn").read_bytes()))
        assert sorted(p.process_id for p in deployment.processes) == [
            "flaky-task", "one-task", "waiting-task"
        ]
        assert not any(p.duplicate for p in deployment.processes)
        yield client


def test_topology(client: PropolisClient) -> None:
    topology = client.topology()
    assert topology.cluster_size == 1
    assert [(p.partition_id, p.role, p.health) for p in topology.brokers[0].partitions] == [
        (1, "LEADER", "HEALTHY")
    ]


def test_activate_complete_and_errors_by_key(client: PropolisClient) -> None:
    instance = client.create_instance("waiting-task", {"amount": 3})
    jobs = client.activate_jobs("waiting", worker="test", max_jobs=10, timeout_ms=60_000,
                                request_timeout_ms=5_000)
    [job] = [j for j in jobs if j.process_instance_key == instance.key]
    assert (job.type, job.element_id, job.process_id, job.retries) == (
        "waiting", "task", "waiting-task", 3
    )
    assert job.variables == {"amount": 3}
    client.complete_job(job.key, {"paid": True})
    with pytest.raises(GatewayError) as error:
        client.complete_job(job.key)
    assert error.value.status == "NOT_FOUND"
    assert str(job.key) in error.value.message


def test_a_failed_job_comes_back_with_fewer_retries(client: PropolisClient) -> None:
    instance = client.create_instance("waiting-task", {"n": 1})

    def ours() -> Job | None:
        jobs = client.activate_jobs("waiting", max_jobs=10, timeout_ms=60_000,
                                    request_timeout_ms=5_000)
        return next((j for j in jobs if j.process_instance_key == instance.key), None)

    job = ours()
    assert job is not None
    client.fail_job(job.key, retries=2, error_message="try again")
    again = ours()
    assert again is not None and again.key == job.key and again.retries == 2
    client.cancel_instance(instance.key)


def test_a_job_worker_with_a_python_handler(client: PropolisClient) -> None:
    def handle(job: Job) -> dict[str, int]:
        if job.variables["n"] < 0:
            raise JobFailure("negative", retries=0)
        return {"square": job.variables["n"] ** 2}

    worker = JobWorker(client, "work", handle, name="py", max_jobs=4, timeout_ms=30_000,
                       poll_request_timeout_ms=1_000)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        results = [client.create_instance_with_result("one-task", {"n": n},
                                                      request_timeout_ms=20_000)
                   for n in (2, 3)]
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert [r.variables for r in results] == [{"n": 2, "square": 4}, {"n": 3, "square": 9}]
    assert worker.completed == 2


def test_create_with_result_times_out_as_deadline_exceeded(client: PropolisClient) -> None:
    with pytest.raises(GatewayError) as error:
        client.create_instance_with_result("waiting-task", request_timeout_ms=500)
    assert error.value.status == "DEADLINE_EXCEEDED"


def test_publish_and_set_variables_return_keys(client: PropolisClient) -> None:
    assert client.publish_message("nobody-waits", "k", {"a": 1}, ttl_ms=1_000) > 0
    instance = client.create_instance("waiting-task")
    assert client.set_variables(instance.key, {"b": 2}) > 0
    client.cancel_instance(instance.key)
