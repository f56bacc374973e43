"""The gateway's `BrokerClient` over the network (broker/client.py has the contract).

It learns the cluster from its contact points: each broker's Topology names every member, so
one reachable broker is enough to find the others. The merged topology (refreshed every
`topology_refresh_interval_ms`) says which node leads each partition; a command goes there.

A command that finds no leader, or a node that answers UNAVAILABLE (it does not lead the
partition, or the partition does not take commands now: the command was not processed) is
sent again, after a fresh look at the topology, until `retry_window_ms` has passed; a leader
change is invisible to the caller within that window. A command whose connection breaks
while the broker may be processing it is not sent again (it could be processed twice): the
caller gets UNAVAILABLE, as with Zeebe. The same answer comes as soon as another broker leads
the partition while its old leader holds a command unanswered (a stopped process keeps its
connections open, so nothing else would end the wait before the client's deadline).

Job-availability news comes from each broker's JobsAvailable stream, reopened when it breaks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from propolis.broker.client import (
    BrokerOverloadedError,
    BrokerResponse,
    BrokerUnavailableError,
    JobAvailableListener,
)
from propolis.cluster import internal_api as api

from propolis.records import DEFAULT_TENANT, RejectionType, ValueType

# Where deployments are decided first (broker/processing/distribution.py).
DEPLOYMENT_PARTITION_ID = 1

log = logging.getLogger(__name__)


@dataclass
class RemoteClientConfig:
    # A command waits at most this long for its partition to have a reachable leader.
    retry_window_ms: int = 10_000
    retry_delay_ms: int = 100
    topology_refresh_interval_ms: int = 1_000
    topology_request_timeout_ms: int = 1_000
    # A broken job-news stream is reopened after this long.
    stream_retry_delay_ms: int = 500


class RemoteBrokerClient:
    def __init__(self, contact_points: list[str], config: RemoteClientConfig | None = None) -> None:
        self._contact_points = list(contact_points)
        self.config = config or RemoteClientConfig()
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._views: dict[str, dict[str, Any]] = {}  # address -> that broker's last topology
        self._leaders: dict[int, str] = {}
        self._partition_count = 1
        self._listeners: list[JobAvailableListener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._streams: dict[str, asyncio.Task[None]] = {}
        self._known = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, wait_s: float = 0.0) -> None:
        """Start learning the topology; wait up to `wait_s` for a first answer."""
        self._tasks.append(asyncio.create_task(self._refresh_forever()))
        if wait_s > 0:
            try:
                await asyncio.wait_for(self._known.wait(), wait_s)
            except TimeoutError:
                log.warning("no broker answered yet; the gateway keeps trying", extra={"contact_points": self._contact_points})

    async def close(self) -> None:
        for task in [*self._tasks, *self._streams.values()]:
            task.cancel()
        for task in [*self._tasks, *self._streams.values()]:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    # -- topology --------------------------------------------------------------------------
    @property
    def partition_count(self) -> int:
        return self._partition_count

    def topology(self) -> dict[str, Any]:
        brokers = {}
        cluster_size, replication_factor = 1, 1
        for view in self._views.values():
            cluster_size = max(cluster_size, view.get("clusterSize", 1))
            replication_factor = max(replication_factor, view.get("replicationFactor", 1))
            for broker in view["brokers"]:
                brokers[broker["nodeId"]] = broker
        return {
            "clusterSize": cluster_size,
            "partitionsCount": self._partition_count,
            "replicationFactor": replication_factor,
            "brokers": [brokers[node] for node in sorted(brokers)],
        }

    async def _refresh_forever(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.config.topology_refresh_interval_ms / 1000)

    async def refresh(self) -> None:
        """Ask every known broker for its view; forget views of brokers that do not answer."""
        addresses = set(self._contact_points)
        for view in self._views.values():
            addresses |= {f"{m['host']}:{m['port']}" for m in view.get("members", [])}
        results = await asyncio.gather(*(self._ask_topology(a) for a in sorted(addresses)))
        views = {address: view for address, view in zip(sorted(addresses), results, strict=True) if view is not None}
        self._views = views
        leaders: dict[int, str] = {}
        for address, view in views.items():
            self._partition_count = max(self._partition_count, view["partitionsCount"])
            for broker in view["brokers"]:
                for partition in broker["partitions"]:
                    if partition["role"] == "LEADER" and partition["health"] == "HEALTHY":
                        leaders[partition["partitionId"]] = address
        self._leaders = leaders
        for address in views:
            if address not in self._streams or self._streams[address].done():
                self._streams[address] = asyncio.create_task(self._job_news(address))
        if views:
            self._known.set()

    async def _ask_topology(self, address: str) -> dict[str, Any] | None:
        call = self._channel(address).unary_unary(api.path(api.TOPOLOGY))
        try:
            return api.decode(await call(api.encode({}), timeout=self.config.topology_request_timeout_ms / 1000))
        except grpc.aio.AioRpcError:
            return None

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=api.CHANNEL_OPTIONS)
            self._channels[address] = channel
        return channel

    def partition_health(self) -> dict[int, bool]:
        """Partition id -> whether this gateway knows a leader for it (any thread may ask)."""
        leaders = self._leaders
        return {p: p in leaders for p in range(1, self._partition_count + 1)} if self._known.is_set() else {}

    # -- commands --------------------------------------------------------------------------
    async def execute(
        self,
        partition_id: int,
        value_type: int,
        intent: int,
        value: dict[str, Any],
        key: int = -1,
        tenant_id: str = DEFAULT_TENANT,
    ) -> BrokerResponse:
        response = await self._execute(partition_id, value_type, intent, value, key, tenant_id)
        if (
            response.rejection_type == RejectionType.NOT_FOUND
            and value_type == ValueType.PROCESS_INSTANCE_CREATION
            and partition_id != DEPLOYMENT_PARTITION_ID
        ):
            # Partition 1 sends each deployment to the others after answering it; a creation
            # right after a deployment can overtake that on another broker. Partition 1 has
            # every deployment it acknowledged, so the instance is created there instead.
            return await self._execute(DEPLOYMENT_PARTITION_ID, value_type, intent, value, key, tenant_id)
        return response

    async def _execute(
        self, partition_id: int, value_type: int, intent: int, value: dict[str, Any], key: int, tenant_id: str,
    ) -> BrokerResponse:
        request = api.encode({
            "partitionId": partition_id, "valueType": value_type, "intent": intent,
            "key": key, "value": value, "tenantId": tenant_id,
        })
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.retry_window_ms / 1000
        while True:
            address = self._leaders.get(partition_id)
            reason = f"no broker leads partition {partition_id} now"
            if address is not None:
                call = self._channel(address).unary_unary(api.path(api.EXECUTE))
                try:
                    return BrokerResponse(**api.decode(await self._call_while_leading(call, request, partition_id, address)))
                except grpc.aio.AioRpcError as error:
                    if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        raise BrokerOverloadedError(error.details()) from None
                    if not _not_processed(error):
                        raise BrokerUnavailableError(
                            f"the broker at {address} went away while processing a command for "
                            f"partition {partition_id} ({error.code().name}: {error.details()})"
                        ) from None
                    reason = f"partition {partition_id} at {address}: {error.details()}"
            if loop.time() >= deadline:
                raise BrokerUnavailableError(f"Expected to find a leader for partition {partition_id}, but {reason}")
            await asyncio.sleep(self.config.retry_delay_ms / 1000)
            await self.refresh()

    async def _call_while_leading(self, call: Any, request: bytes, partition_id: int, address: str) -> bytes:
        """The broker's answer, or BrokerUnavailableError as soon as another broker leads the
        partition: a frozen leader (stopped, partitioned away) would otherwise hold the
        command until the client's deadline. The command is not sent again, since the old
        leader may have replicated it before it stopped answering."""
        pending = asyncio.ensure_future(call(request))
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=self.config.topology_refresh_interval_ms / 1000)
                if done:
                    return pending.result()
                leader = self._leaders.get(partition_id)
                if leader is not None and leader != address:
                    raise BrokerUnavailableError(
                        f"partition {partition_id} got a new leader ({leader}) while its old leader at {address} "
                        "held the command unanswered; it may or may not have been processed"
                    )
        finally:
            if not pending.done():
                pending.cancel()

    # -- job news --------------------------------------------------------------------------
    def add_job_available_listener(self, listener: JobAvailableListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    async def _job_news(self, address: str) -> None:
        while address in self._views:
            call = self._channel(address).unary_stream(api.path(api.JOBS_AVAILABLE))
            try:
                async for item in call(api.encode({})):
                    job_type = api.decode(item)
                    for listener in list(self._listeners):
                        try:
                            listener(job_type)
                        except Exception:
                            log.exception("job-available listener failed")
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(self.config.stream_retry_delay_ms / 1000)


def _not_processed(error: grpc.aio.AioRpcError) -> bool:
    """UNAVAILABLE from the broker itself, or no connection at all: nothing was processed."""
    if error.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    details = (error.details() or "").lower()
    # gRPC's own UNAVAILABLE for a call cut mid-way reads "socket closed"/"connection reset".
    return not ("socket closed" in details or "connection reset" in details or "stream removed" in details)
