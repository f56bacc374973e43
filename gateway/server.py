"""The gRPC server: Zeebe's `gateway_protocol.Gateway` service plus the standard health
service, on grpc.aio so that thousands of long polls and job streams cost no threads.

Every handler runs inside one guard: a `GatewayError` becomes its status and message, a
broker that sheds load becomes RESOURCE_EXHAUSTED, an unavailable one UNAVAILABLE, and any
other exception is logged and answered INTERNAL, never UNKNOWN.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from propolis.broker.client import BrokerClient, BrokerOverloadedError, BrokerUnavailableError
from propolis.gateway.config import GatewayConfig
from propolis.gateway.errors import GatewayError
from propolis.gateway.handlers import NOT_SUPPORTED, Handlers
from propolis.gateway.jobs import JobActivator
from propolis.gateway.protocol import METHODS, SERVICE_NAME, Method

log = logging.getLogger(__name__)


def _status_of(error: BaseException) -> tuple[grpc.StatusCode, str] | None:
    if isinstance(error, GatewayError):
        return error.code, error.message
    if isinstance(error, BrokerOverloadedError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, f"The broker is overloaded: {error}"
    if isinstance(error, BrokerUnavailableError):
        return grpc.StatusCode.UNAVAILABLE, f"The broker is not available: {error}"
    return None


def _answer_for(name: str, error: Exception) -> tuple[grpc.StatusCode, str]:
    status = _status_of(error)
    if status is None:
        log.exception("unexpected error in %s", name)
        status = (grpc.StatusCode.INTERNAL, f"Unexpected error in {name}: {error!r}")
    return status


def _unary(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await handler(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await context.abort(*_answer_for(name, error))

    return guarded


def _streaming(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            async with contextlib.aclosing(handler(request, context)) as responses:
                async for response in responses:
                    yield response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await context.abort(*_answer_for(name, error))

    return guarded


def _unimplemented(name: str) -> Callable[..., Any]:
    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{name} is not supported by propolis yet")

    return handler


def _method_handler(method: Method, behaviour: Callable[..., Any]) -> grpc.RpcMethodHandler:
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(
            behaviour, request_deserializer=method.request.FromString, response_serializer=method.response.SerializeToString
        )
    return grpc.unary_unary_rpc_method_handler(
        behaviour, request_deserializer=method.request.FromString, response_serializer=method.response.SerializeToString
    )


class GatewayServer:
    def __init__(self, client: BrokerClient, config: GatewayConfig) -> None:
        self.client = client
        self.config = config
        self._server: grpc.aio.Server | None = None
        self._jobs: JobActivator | None = None
        self._health = HealthServicer()

    async def start(self) -> int:
        import asyncio

        self._jobs = JobActivator(self.client, asyncio.get_running_loop())
        handlers = Handlers(self.client, self.config, self._jobs)
        table: dict[str, grpc.RpcMethodHandler] = {}
        for name, method in METHODS.items():
            if name in NOT_SUPPORTED or not hasattr(handlers, name):
                behaviour = _unimplemented(name)
                if method.server_streaming:
                    behaviour = _streaming(name, _as_stream(behaviour))
            elif method.server_streaming:
                behaviour = _streaming(name, getattr(handlers, name))
            else:
                behaviour = _unary(name, getattr(handlers, name))
            table[name] = _method_handler(method, behaviour)
        options = [
            ("grpc.max_receive_message_length", self.config.max_message_size_bytes),
            ("grpc.max_send_message_length", self.config.max_message_size_bytes),
            ("grpc.keepalive_permit_without_calls", 1),
            # A second broker on the same port must fail, not silently share it.
            ("grpc.so_reuseport", 0),
            ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
        ]
        self._server = grpc.aio.server(options=options)
        self._server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE_NAME, table)])
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        port = self._server.add_insecure_port(f"{self.config.host}:{self.config.port}")
        if port == 0:
            raise OSError(f"could not bind the gateway to {self.config.host}:{self.config.port}")
        await self._server.start()
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        return port

    async def stop(self, grace_s: float = 1.0) -> None:
        await self._health.enter_graceful_shutdown()
        if self._jobs is not None:
            self._jobs.close()
        if self._server is not None:
            await self._server.stop(grace_s)

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def _as_stream(handler: Callable[..., Any]) -> Callable[..., Any]:
    async def stream(request: Any, context: Any) -> Any:
        await handler(request, context)
        if False:  # pragma: no cover - makes this an async generator
            yield None

    return stream
