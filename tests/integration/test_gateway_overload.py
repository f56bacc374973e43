"""The gateway's overload rate on the cluster's shape (`propolis broker` + `propolis gateway`):
a client creating instances far faster than the broker can finish them is refused
RESOURCE_EXHAUSTED by the gateway, naming why, while every admitted instance finishes, job
completions are never refused, and a sequential client is not refused before or after. The
gateway is made strict (STRICT below) so that this holds on a machine of any speed; what the
defaults do under overload is measured in benchmarks/overload.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from propolis.gateway.protocol import METHODS, pb

from tests.support.cluster import Broker, Gateway, running

MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli" / "one_task.bpmn"
# Beyond what one partition finishes, and under what the gateway process can answer: far
# beyond that (~1,000 calls/s of a gateway on this machine), grpc's own backlog protection
# cancels calls before they reach the gateway (CANCELLED, see README "Backpressure").
FLOOD_PER_S = 600
# How much that is depends on the machine: a quick one creates 600 instances/s (the jobs pile
# up instead) with few commands in flight. So the gateway is made strict, to refuse on any
# machine: a 1 ms target with no baseline, limited from 2 commands in flight (a sequential
# client has one, and is still never refused).
STRICT = {
    "PROPOLIS_GATEWAY_OVERLOAD_LATENCY_TARGET_MS": "1",
    "PROPOLIS_GATEWAY_OVERLOAD_LATENCY_TARGET_MIN_MS": "0",
    "PROPOLIS_GATEWAY_OVERLOAD_BASELINE_PERCENT": "0",
    "PROPOLIS_GATEWAY_RATE_BASELINE_MULTIPLE": "0",
    "PROPOLIS_GATEWAY_OVERLOAD_IN_FLIGHT_MIN": "2",
}
FLOOD_S = 3.0
SEQUENTIAL = 20
FINISH_TIMEOUT_S = 120


def _call(channel: grpc.aio.Channel, name: str):
    method = METHODS[name]
    factory = channel.unary_stream if method.server_streaming else channel.unary_unary
    return factory(method.path, request_serializer=method.request.SerializeToString,
                   response_deserializer=method.response.FromString)


async def _drive(address: str) -> dict:
    channel = grpc.aio.insecure_channel(address)
    deploy, create = _call(channel, "DeployResource"), _call(channel, "CreateProcessInstance")
    activate, complete = _call(channel, "ActivateJobs"), _call(channel, "CompleteJob")
    await deploy(pb.DeployResourceRequest(resources=[pb.Resource(name=MODEL.name, content=MODEL.read_bytes())]), timeout=30)
    request = pb.CreateProcessInstanceRequest(bpmnProcessId="one-task", version=-1)
    seen: dict = {"created": 0, "refusals": [], "other_errors": [], "completed": 0, "completion_errors": [],
                  "activation_errors": []}
    done = asyncio.Event()

    async def worker() -> None:
        activation = pb.ActivateJobsRequest(type="work", worker="overload-test", timeout=60_000,
                                            maxJobsToActivate=100, requestTimeout=500)
        while not done.is_set():
            try:
                async for response in activate(activation, timeout=15):
                    for job in response.jobs:
                        try:
                            await complete(pb.CompleteJobRequest(jobKey=job.key), timeout=30)
                            seen["completed"] += 1
                        except grpc.aio.AioRpcError as error:
                            seen["completion_errors"].append((error.code(), error.details()))
            except grpc.aio.AioRpcError as error:
                seen["activation_errors"].append((error.code(), error.details()))

    async def one() -> bool:
        try:
            await create(request, timeout=60)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                seen["refusals"].append(error.details())
            else:
                seen["other_errors"].append((error.code(), error.details()))
            return False
        seen["created"] += 1
        return True

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    seen["quiet_before"] = [await one() for _ in range(SEQUENTIAL)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    flood = []
    for i in range(int(FLOOD_PER_S * FLOOD_S)):
        flood.append(asyncio.create_task(one()))
        await asyncio.sleep(max(0.0, started + (i + 1) / FLOOD_PER_S - loop.time()))
    await asyncio.gather(*flood)
    seen["flood_refused"] = sum(1 for task in flood if not task.result())
    await asyncio.sleep(2.0)  # quiet again: the limit's interval and the in-flight count recover
    seen["quiet_after"] = [await one() for _ in range(SEQUENTIAL)]
    deadline = loop.time() + FINISH_TIMEOUT_S
    while seen["completed"] < seen["created"] and loop.time() < deadline:
        await asyncio.sleep(0.2)
    done.set()
    await asyncio.wait(workers, timeout=20)
    for task in workers:
        task.cancel()
    await channel.close()
    return seen


def test_a_flood_of_creations_is_refused_by_the_gateway_while_admitted_work_finishes(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "b0", partitions=1)
    gateway = Gateway([broker.address], env=STRICT)
    with running(broker, gateway):
        seen = asyncio.run(_drive(gateway.address))
    assert all(seen["quiet_before"]), "a sequential client was refused before the flood"
    assert seen["flood_refused"] > 0, "nothing was refused in the flood"
    assert any("the gateway starts at most" in r and "new work requests/s while broker commands take over" in r
               for r in seen["refusals"]), seen["refusals"][:3]
    assert seen["other_errors"] == []
    assert seen["completion_errors"] == [] and seen["activation_errors"] == []
    assert seen["completed"] == seen["created"], "an admitted instance did not finish"
    assert all(seen["quiet_after"]), "a sequential client was refused after the flood"
