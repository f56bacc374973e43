"""Serves the internal API (internal_api.py) over the broker of this process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

import grpc
from propolis.broker.broker import Broker
from propolis.broker.client import (
    BrokerOverloadedError,
    BrokerUnavailableError,
    InProcessBrokerClient,
)
from propolis.cluster import internal_api as api

from propolis.records import Record

log = logging.getLogger(__name__)

# Job types announced to one gateway's stream but not yet sent; beyond this, news is dropped
# (a gateway's long polls probe on their own anyway).
JOB_NEWS_QUEUED_MAX = 10_000


class InternalApiServer:
    def __init__(self, broker: Broker, host: str, port: int) -> None:
        self.broker = broker
        self.host = host
        self.port = port
        self._client = InProcessBrokerClient(broker)
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        unary = grpc.unary_unary_rpc_method_handler
        table = {
            api.EXECUTE: unary(self.execute),
            api.TOPOLOGY: unary(self.topology),
            api.DELIVER: unary(self.deliver),
            api.JOBS_AVAILABLE: grpc.unary_stream_rpc_method_handler(self.jobs_available),
        }
        server = grpc.aio.server(options=api.SERVER_OPTIONS)
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(api.SERVICE_NAME, table)])
        address = f"{self.host}:{self.port}"
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as error:
            raise OSError(f"could not bind the broker's internal API to {address}: {error}") from error
        if port == 0:
            raise OSError(f"could not bind the broker's internal API to {address}")
        await server.start()
        self._server = server
        self.port = port
        return port

    async def stop(self, grace_s: float = 1.0) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace_s)

    async def execute(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        command = api.decode(request)
        partition_id = command["partitionId"]
        if not self.broker.leads(partition_id):
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"node {self.broker.config.node_id} does not lead partition {partition_id}",
            )
        try:
            response = await self._client.execute(
                partition_id, command["valueType"], command["intent"], command["value"],
                command["key"], command["tenantId"],
            )
        except BrokerOverloadedError as error:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
        except BrokerUnavailableError as error:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
        return api.encode(asdict(response))

    async def topology(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return api.encode(self.broker.topology())

    async def deliver(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        message = api.decode(request)
        if self.broker.leads(message["partitionId"]):
            self.broker.partition(message["partitionId"]).submit_from_partition(Record.decode(message["record"]))
        return api.encode({})

    async def jobs_available(self, request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        news: asyncio.Queue[str] = asyncio.Queue(JOB_NEWS_QUEUED_MAX)

        def on_jobs(job_type: str) -> None:  # a partition thread: hand over, nothing more
            loop.call_soon_threadsafe(_offer, news, job_type)

        remove = self.broker.add_job_available_listener(on_jobs)
        try:
            while True:
                yield api.encode(await news.get())
        finally:
            remove()


def _offer(news: asyncio.Queue[Any], job_type: str) -> None:
    if not news.full():
        news.put_nowait(job_type)
