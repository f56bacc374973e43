"""ActivateJobs (long polling) and StreamActivatedJobs (push) against the fake broker, over a
real gRPC channel: when answers come, what is sent to which partition, and that jobs the
client never got are given back."""

from __future__ import annotations

import json
import threading
import time

import grpc
import pytest
from propolis.broker.client import BrokerOverloadedError, BrokerUnavailableError
from propolis.gateway.config import GatewayConfig
from propolis.gateway.protocol import GatewayStub, pb

from propolis.records import DEFAULT_TENANT, JobBatchIntent, JobIntent, ValueType
from tests.gateway.fake_broker import FakeBroker

TIMEOUT_S = 10


def activation_request(request_timeout_ms: int, max_jobs: int = 10, job_type: str = "charge", **fields) -> object:
    return pb.ActivateJobsRequest(
        type=job_type, worker="w-1", timeout=60_000, maxJobsToActivate=max_jobs, requestTimeout=request_timeout_ms, **fields
    )


def activate(stub, request, timeout_s: float = TIMEOUT_S) -> tuple[list, list]:
    """(responses, jobs) of one ActivateJobs call."""
    responses = list(stub.ActivateJobs(request, timeout=timeout_s))
    return responses, [job for response in responses for job in response.jobs]


def activations(fake_broker: FakeBroker) -> list:
    return fake_broker.commands(ValueType.JOB_BATCH, JobBatchIntent.ACTIVATE)


def wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# -- ActivateJobs ----------------------------------------------------------------------------


def test_activate_jobs_answers_at_once_with_one_response_holding_the_jobs(fake_broker, gateway_stub):
    keys = [fake_broker.add_job("charge", variables={"n": n}, custom_headers={"h": "v"}) for n in range(3)]
    started = time.monotonic()
    responses, jobs = activate(gateway_stub, activation_request(10_000, fetchVariable=["n"]))
    assert time.monotonic() - started < 2
    assert len(responses) == 1
    assert [job.key for job in jobs] == keys
    job = jobs[0]
    assert (job.type, job.worker, job.retries, job.bpmnProcessId, job.elementId, job.processDefinitionVersion) == ("charge", "w-1", 3, "order", "charge", 3)
    assert json.loads(job.variables) == {"n": 0} and json.loads(job.customHeaders) == {"h": "v"}
    assert job.tenantId == DEFAULT_TENANT
    [sent] = activations(fake_broker)
    assert sent.value == {
        "type": "charge", "worker": "w-1", "timeout": 60_000, "maxJobsToActivate": 10,
        "fetchVariables": ["n"], "tenantIds": [DEFAULT_TENANT],
    }


def test_a_long_poll_is_answered_as_soon_as_a_job_appears(fake_broker, gateway_stub):
    fake_broker.add_job_later(0.3, "charge")
    started = time.monotonic()
    responses, jobs = activate(gateway_stub, activation_request(10_000))
    elapsed = time.monotonic() - started
    assert len(jobs) == 1 and len(responses) == 1
    assert 0.25 <= elapsed < 2, elapsed


def test_a_long_poll_without_jobs_answers_empty_at_its_request_timeout(fake_broker, gateway_stub):
    started = time.monotonic()
    responses, jobs = activate(gateway_stub, activation_request(700))
    elapsed = time.monotonic() - started
    assert jobs == [] and len(responses) == 1
    assert 0.65 <= elapsed < 3, elapsed


@pytest.mark.parametrize("gateway_config", [GatewayConfig(host="127.0.0.1", port=0, long_poll_timeout_ms_default=400)], indirect=True)
def test_a_request_timeout_of_zero_long_polls_for_the_configured_default(fake_broker, gateway_stub):
    started = time.monotonic()
    _, jobs = activate(gateway_stub, activation_request(0))
    assert jobs == []
    assert 0.35 <= time.monotonic() - started < 3


def test_the_default_long_poll_is_ten_seconds():
    assert GatewayConfig().long_poll_timeout_ms_default == 10_000


def test_a_negative_request_timeout_answers_at_once_without_long_polling(fake_broker, gateway_stub):
    started = time.monotonic()
    responses, jobs = activate(gateway_stub, activation_request(-1))
    assert jobs == [] and len(responses) == 1
    assert time.monotonic() - started < 1
    assert len(activations(fake_broker)) == 1


@pytest.mark.parametrize("fake_broker", [FakeBroker(partition_count=3)])
def test_activation_fans_out_over_the_partitions_until_max_jobs_is_reached(fake_broker, gateway_stub):
    on_two = [fake_broker.add_job("charge", partition_id=2) for _ in range(2)]
    on_three = [fake_broker.add_job("charge", partition_id=3) for _ in range(2)]
    _, jobs = activate(gateway_stub, activation_request(-1, max_jobs=3))
    assert len(jobs) == 3
    assert {job.key for job in jobs} <= set(on_two + on_three)
    sent = activations(fake_broker)
    assert sorted(s.partition_id for s in sent) == sorted({s.partition_id for s in sent})  # each partition at most once
    asked = [s.value["maxJobsToActivate"] for s in sent]
    assert asked[0] == 3 and all(later <= earlier for earlier, later in zip(asked, asked[1:], strict=False))
    # the next call takes the job that is left, wherever it is
    _, rest = activate(gateway_stub, activation_request(-1, max_jobs=3))
    assert {job.key for job in jobs + rest} == set(on_two + on_three)


@pytest.mark.parametrize("fake_broker", [FakeBroker(partition_count=3)])
def test_a_long_poll_is_woken_by_a_job_on_any_partition(fake_broker, gateway_stub):
    fake_broker.add_job_later(0.3, "charge", partition_id=3)
    started = time.monotonic()
    _, jobs = activate(gateway_stub, activation_request(10_000))
    assert len(jobs) == 1 and time.monotonic() - started < 2


@pytest.mark.parametrize("gateway_config", [GatewayConfig(host="127.0.0.1", port=0, max_jobs_to_activate_max=2)], indirect=True)
def test_max_jobs_to_activate_is_capped_by_the_configured_maximum(fake_broker, gateway_stub):
    for _ in range(5):
        fake_broker.add_job("charge")
    _, jobs = activate(gateway_stub, activation_request(-1, max_jobs=100))
    assert len(jobs) == 2
    assert activations(fake_broker)[0].value["maxJobsToActivate"] == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": ""}, "Expected to activate job batch with type to be present, but it was blank"),
        ({"maxJobsToActivate": 0}, "Expected to activate job batch with max jobs to activate to be greater than zero, but it was '0'"),
        ({"timeout": 0}, "Expected to activate job batch with timeout to be greater than zero, but it was '0'"),
        ({"tenantIds": ["acme"]}, "Expected to handle gRPC request ActivateJobs with tenant identifier 'acme', but multi-tenancy is disabled"),
    ],
)
def test_invalid_activation_requests_are_invalid_argument_with_zeebe_messages(fake_broker, gateway_stub, fields, message):
    request = pb.ActivateJobsRequest(**{"type": "charge", "worker": "w", "timeout": 1_000, "maxJobsToActivate": 1, **fields})
    with pytest.raises(grpc.RpcError) as caught:
        activate(gateway_stub, request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == message
    assert fake_broker.sent == []


def test_activation_on_an_overloaded_broker_is_resource_exhausted_naming_the_job_type(fake_broker, gateway_stub):
    fake_broker.failure = BrokerOverloadedError("partition 1 has 9 commands waiting (limit 8); retry later")
    with pytest.raises(grpc.RpcError) as caught:
        activate(gateway_stub, activation_request(5_000))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "'charge'" in caught.value.details() and "RESOURCE_EXHAUSTED" in caught.value.details()


def test_a_long_poll_waits_out_a_failover_of_every_partition_and_gets_the_jobs(fake_broker, gateway_stub):
    fake_broker.failure = BrokerUnavailableError("no broker leads partition 1 now")
    key = fake_broker.add_job("charge", announce=False)
    threading.Timer(0.5, lambda: setattr(fake_broker, "failure", None)).start()
    _, jobs = activate(gateway_stub, activation_request(5_000))
    assert [job.key for job in jobs] == [key]


def test_a_long_poll_whose_partitions_stay_unavailable_answers_unavailable_at_its_end(fake_broker, gateway_stub):
    fake_broker.failure = BrokerUnavailableError("no broker leads partition 1 now")
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        activate(gateway_stub, activation_request(1_000))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "no broker leads partition 1 now" in caught.value.details()
    assert time.monotonic() - started >= 0.9


def test_one_job_wakes_one_of_many_parked_long_polls_not_all(fake_broker, gateway_stub):
    results: list[list] = []
    pollers = [
        threading.Thread(target=lambda: results.append(activate(gateway_stub, activation_request(1_500))[1]))
        for _ in range(5)
    ]
    for poller in pollers:
        poller.start()
    wait_until(lambda: len(activations(fake_broker)) == 5)
    time.sleep(0.1)
    fake_broker.add_job("charge")
    wait_until(lambda: any(results))
    assert len(activations(fake_broker)) <= 7  # 5 first attempts, one woken (plus at most one pass-on)
    for poller in pollers:
        poller.join(timeout=TIMEOUT_S)
    assert sorted(len(jobs) for jobs in results) == [0, 0, 0, 0, 1]


def test_news_of_a_full_batch_is_passed_on_to_the_next_parked_long_poll(fake_broker, gateway_stub):
    results: list[list] = []
    pollers = [
        threading.Thread(target=lambda: results.append(activate(gateway_stub, activation_request(5_000, max_jobs=2))[1]))
        for _ in range(3)
    ]
    for poller in pollers:
        poller.start()
    wait_until(lambda: len(activations(fake_broker)) == 3)
    time.sleep(0.1)
    for _ in range(5):
        fake_broker.add_job("charge", announce=False)
    started = time.monotonic()
    fake_broker.announce("charge")  # one announcement for five jobs
    for poller in pollers:
        poller.join(timeout=TIMEOUT_S)
    assert time.monotonic() - started < 2
    assert sorted(len(jobs) for jobs in results) == [1, 2, 2]


def test_a_long_poll_whose_client_went_away_gives_its_jobs_back(fake_broker, gateway_stub):
    errors: list[grpc.RpcError] = []

    def poll() -> None:
        try:
            activate(gateway_stub, activation_request(10_000), timeout_s=0.6)
        except grpc.RpcError as error:
            errors.append(error)

    poller = threading.Thread(target=poll)
    poller.start()
    wait_until(lambda: len(activations(fake_broker)) == 1)  # parked
    fake_broker.activation_delay_s = 1.0  # the broker activates at once, answers late
    key = fake_broker.add_job("charge")
    poller.join(timeout=TIMEOUT_S)
    assert [error.code() for error in errors] == [grpc.StatusCode.DEADLINE_EXCEEDED]
    wait_until(lambda: fake_broker.yielded == [key])
    fake_broker.activation_delay_s = 0
    _, jobs = activate(gateway_stub, activation_request(-1))
    assert [job.key for job in jobs] == [key]


# -- StreamActivatedJobs ---------------------------------------------------------------------


def stream_request(job_type: str = "charge") -> object:
    return pb.StreamActivatedJobsRequest(type=job_type, worker="s-1", timeout=60_000, fetchVariable=[])


def test_a_stream_pushes_each_job_as_soon_as_it_becomes_activatable(fake_broker, gateway_stub):
    stream = gateway_stub.StreamActivatedJobs(stream_request(), timeout=TIMEOUT_S)
    try:
        first = fake_broker.add_job("charge", variables={"n": 1})
        job = next(stream)
        assert job.key == first and json.loads(job.variables) == {"n": 1} and job.worker == "s-1"
        fake_broker.add_job_later(0.2, "charge")
        started = time.monotonic()
        second = next(stream)
        assert second.key != first and time.monotonic() - started < 2
    finally:
        stream.cancel()


def test_a_stream_takes_jobs_that_were_waiting_when_it_opened(fake_broker, gateway_stub):
    keys = [fake_broker.add_job("charge") for _ in range(3)]
    stream = gateway_stub.StreamActivatedJobs(stream_request(), timeout=TIMEOUT_S)
    try:
        assert [next(stream).key for _ in range(3)] == keys
    finally:
        stream.cancel()
    [sent, *_] = activations(fake_broker)
    assert sent.value["maxJobsToActivate"] == GatewayConfig().stream_batch_jobs_max


def test_a_stream_request_is_validated_like_an_activation(fake_broker, gateway_stub):
    stream = gateway_stub.StreamActivatedJobs(pb.StreamActivatedJobsRequest(type="charge", worker="s", timeout=0), timeout=TIMEOUT_S)
    with pytest.raises(grpc.RpcError) as caught:
        next(stream)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "timeout" in caught.value.details()


def test_a_stream_cancelled_while_its_activation_is_in_flight_gives_the_jobs_back(fake_broker, gateway):
    channel = grpc.insecure_channel(gateway.address)
    stream = GatewayStub(channel).StreamActivatedJobs(stream_request(), timeout=TIMEOUT_S)
    wait_until(lambda: len(activations(fake_broker)) >= 1)
    fake_broker.activation_delay_s = 0.5
    keys = [fake_broker.add_job("charge", announce=False) for _ in range(2)]
    fake_broker.announce("charge")
    wait_until(lambda: len(fake_broker.activated) == 2)
    stream.cancel()
    channel.close()
    wait_until(lambda: sorted(fake_broker.yielded) == sorted(keys))
    assert fake_broker.activated == {}
    [yield_command, _] = fake_broker.commands(ValueType.JOB, JobIntent.YIELD)
    assert yield_command.value == {} and yield_command.tenant_id == DEFAULT_TENANT


def test_jobs_given_back_by_a_closed_stream_go_to_the_next_worker(fake_broker, gateway_stub, gateway):
    channel = grpc.insecure_channel(gateway.address)
    stream = GatewayStub(channel).StreamActivatedJobs(stream_request(), timeout=TIMEOUT_S)
    wait_until(lambda: len(activations(fake_broker)) >= 1)
    fake_broker.activation_delay_s = 0.5
    key = fake_broker.add_job("charge")
    wait_until(lambda: key in fake_broker.activated)
    stream.cancel()
    channel.close()
    fake_broker.activation_delay_s = 0
    _, jobs = activate(gateway_stub, activation_request(5_000))
    assert [job.key for job in jobs] == [key]


def test_a_stream_outlives_an_overloaded_broker_and_pushes_jobs_once_it_recovers(fake_broker, gateway_stub):
    fake_broker.failure = BrokerOverloadedError("partition 1 has 9 commands waiting (limit 8); retry later")
    stream = gateway_stub.StreamActivatedJobs(stream_request(), timeout=TIMEOUT_S)
    try:
        wait_until(lambda: len(activations(fake_broker)) >= 2)  # tried, waited, tried again
        fake_broker.failure = None
        key = fake_broker.add_job("charge")
        assert next(stream).key == key
    finally:
        stream.cancel()
