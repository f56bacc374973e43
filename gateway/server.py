"""The gRPC server: Zeebe's `gateway_protocol.Gateway` service plus the standard health
service, on grpc.aio so that thousands of long polls and job streams cost no threads.

Every handler runs inside one guard: a `GatewayError` becomes its status and message, a broker
that sheds load RESOURCE_EXHAUSTED, an unavailable one UNAVAILABLE, and any other exception is
logged and answered INTERNAL with a message, never UNKNOWN. RPCs propolis does not serve answer
UNIMPLEMENTED naming the RPC.

Security (gateway/security_config.py): with TLS configured the port speaks only TLS (and
requires a client certificate from `client_ca` for mutual TLS); with auth on, every call is
authenticated and authorized before its handler runs (authorization.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from propolis.broker.client import BrokerClient, BrokerOverloadedError, BrokerResponse
from propolis.gateway.authorization import authenticate, current_caller, set_caller
from propolis.gateway.config import GatewayConfig
from propolis.gateway.errors import status_of
from propolis.gateway.handlers import Handler, Handlers, not_supported_message
from propolis.gateway.jobs import JobActivator
from propolis.gateway.long_polling import JobNotifications
from propolis.gateway.metrics import GatewayMetrics
from propolis.gateway.protocol import METHODS, SERVICE_NAME, Method
from propolis.gateway.requests import Requests
from propolis.gateway.routing import Router
from propolis.gateway.security_config import SecurityConfig, TlsConfig
from propolis.gateway.tenant_rates import TenantRates
from propolis.gateway.tenant_shares import TenantShares
from propolis.gateway.tokens import TokenAuthority

from propolis.records import DEFAULT_TENANT, ProcessInstanceCreationIntent, ValueType

log = logging.getLogger(__name__)


async def _abort(context: grpc.aio.ServicerContext, rpc: str, error: Exception) -> None:
    status = status_of(error)
    if status is None:
        log.error(
            "unexpected error in a gateway handler",
            exc_info=error,
            extra={"rpc": rpc, "error_type": type(error).__name__},
        )
        status = (
            grpc.StatusCode.INTERNAL,
            f"Expected to handle gRPC request {rpc}, but an unexpected error occurred: "
            f"{type(error).__name__}: {error}",
        )
    await context.abort(*status)


def _guarded(rpc: str, handler: Handler) -> Handler:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await handler(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, rpc, error)

    return guarded


def _authenticated(
    rpc: str, handler: Handler, authority: TokenAuthority, shares: TenantShares, rates: TenantRates | None
) -> Handler:
    """Verifies the caller before `handler` runs (the handler sees it as `current_caller()`)
    and counts the request against its tenants' share of the rate (tenant_rates.py) and of the
    requests in flight (tenant_shares.py)."""

    async def authenticated(request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = authenticate(authority, rpc, context.invocation_metadata())
        set_caller(caller)
        if rates is not None:
            rates.admit(rpc, caller.tenants, time.monotonic())
        if not shares.enter(rpc, caller.tenants):
            return await handler(request, context)
        try:
            return await handler(request, context)
        finally:
            shares.leave(caller.tenants)

    return authenticated


# Requests that start new work: the only ones the overload rate refuses (finishing work and
# reading never are).
NEW_WORK_RPCS = frozenset({"CreateProcessInstance", "CreateProcessInstanceWithResult", "PublishMessage", "BroadcastSignal"})


def _overload_limited(rpc: str, handler: Handler, overload: TenantRates, queued: Callable[[], bool]) -> Handler:
    """Refuses a request that starts new work while the gateway is over its overload rate
    (tenant_rates.py, limited even with one tenant), before it reaches the broker. With auth
    on, the rate is shared by tenants as there, so that a flood is what gets refused; with auth
    off all callers are one. Only while `queued()`: with few commands in flight nothing queues,
    and slow answers then come from elsewhere (replication, a busy machine), not from load that
    refusing would shed."""

    async def limited(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if queued():
            caller = current_caller()
            overload.admit(rpc, caller.tenants if caller is not None else (), time.monotonic())
        return await handler(request, context)

    return limited


class _LatencyReporting:
    """The broker client as the gateway sees it, telling each of `rates` how long each command
    took (an instance created with its result is left out: its wait is the instance's own work)."""

    def __init__(self, client: BrokerClient, rates: list[TenantRates], in_flight_min: int) -> None:
        self._client = client
        self._rates = rates
        self.in_flight = 0  # broker commands sent and not answered yet
        self.in_flight_min = in_flight_min  # from this many in flight, commands queue

    @property
    def queued(self) -> bool:
        return self.in_flight >= self.in_flight_min

    @property
    def partition_count(self) -> int:
        return self._client.partition_count

    def topology(self) -> dict[str, Any]:
        return self._client.topology()

    def add_job_available_listener(self, listener: Any) -> Any:
        return self._client.add_job_available_listener(listener)

    async def execute(
        self,
        partition_id: int,
        value_type: int,
        intent: int,
        value: dict[str, Any],
        key: int = -1,
        tenant_id: str = DEFAULT_TENANT,
    ) -> BrokerResponse:
        self.in_flight += 1
        try:
            return await self._execute(partition_id, value_type, intent, value, key, tenant_id)
        finally:
            self.in_flight -= 1

    async def _execute(
        self, partition_id: int, value_type: int, intent: int, value: dict[str, Any], key: int, tenant_id: str
    ) -> BrokerResponse:
        if (
            value_type == ValueType.PROCESS_INSTANCE_CREATION
            and intent == ProcessInstanceCreationIntent.CREATE_WITH_AWAITING_RESULT
        ):
            return await self._client.execute(partition_id, value_type, intent, value, key, tenant_id)
        started = time.monotonic()
        queued = self.in_flight > self.in_flight_min  # counting this one
        try:
            response = await self._client.execute(partition_id, value_type, intent, value, key, tenant_id)
        except BrokerOverloadedError:
            now = time.monotonic()
            for rates in self._rates:
                rates.observe_overloaded(now)
            raise
        now = time.monotonic()
        for rates in self._rates:
            rates.observe(now - started, now, queued)
        return response


def server_credentials(tls: TlsConfig) -> grpc.ServerCredentials:
    certificate, private_key, client_ca = tls.read()
    return grpc.ssl_server_credentials(
        [(private_key, certificate)],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def _measured(rpc: str, handler: Handler, metrics: GatewayMetrics) -> Handler:
    """Counts the call by its final status code and observes how long it took."""
    latency = metrics.request_latency.labels(rpc)

    async def measured(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        metrics.in_flight.inc()
        code = "OK"
        try:
            return await handler(request, context)
        except grpc.aio.AbortError:
            status = context.code()
            code = status.name if isinstance(status, grpc.StatusCode) else "UNKNOWN"
            raise
        except asyncio.CancelledError:
            code = "CANCELLED"  # the client went away
            raise
        except BaseException:
            code = "UNKNOWN"
            raise
        finally:
            metrics.in_flight.dec()
            metrics.requests.labels(rpc, code).inc()
            latency.observe(time.perf_counter() - started)

    return measured


def _unsupported(rpc: str) -> Handler:
    message = not_supported_message(rpc)

    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, message)

    return handler


def _method_handler(method: Method, handler: Handler) -> grpc.RpcMethodHandler:
    factory = (
        grpc.unary_stream_rpc_method_handler
        if method.server_streaming
        else grpc.unary_unary_rpc_method_handler
    )
    return factory(
        handler,
        request_deserializer=method.request.FromString,
        response_serializer=method.response.SerializeToString,
    )


class GatewayServer:
    """`await start()` binds and serves (returns the port), `await stop()` ends it."""

    def __init__(
        self,
        client: BrokerClient,
        config: GatewayConfig,
        metrics: GatewayMetrics | None = None,
        security: SecurityConfig | None = None,
        authority: TokenAuthority | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.security = security if security is not None else SecurityConfig()
        if authority is None and self.security.auth.enabled:
            authority = TokenAuthority(self.security.auth)
        self.authority = authority if self.security.auth.enabled else None
        self.metrics = metrics if metrics is not None else GatewayMetrics()
        self._server: grpc.aio.Server | None = None
        self._notifications: JobNotifications | None = None
        self._remove_listener: Any = None
        self._jobs: JobActivator | None = None
        self._health = health.aio.HealthServicer()

    async def start(self) -> int:
        if self._server is not None:
            raise RuntimeError("the gateway is already started")
        client: BrokerClient = self.client
        observers: list[TenantRates] = []
        rates = None
        if self.authority is not None and self.config.tenant_rate_fairness:
            rates = TenantRates(self.config.tenant_rate_settings())
            observers.append(rates)
            shared = rates
            self.metrics.tenant_rate_limit.set_function(lambda: shared.limit_per_s or 0.0)
            self.metrics.tenant_rate_latency_target.set_function(lambda: shared.latency_target_ms / 1000)
        overload = None
        if self.config.overload_latency_target_ms > 0:
            overload = TenantRates(self.config.overload_rate_settings())
            observers.append(overload)
            limited = overload
            self.metrics.overload_rate_limit.set_function(lambda: limited.limit_per_s or 0.0)
            self.metrics.overload_latency_target.set_function(lambda: limited.latency_target_ms / 1000)
        reporting = None
        if observers:
            client = reporting = _LatencyReporting(client, observers, self.config.overload_in_flight_min)

        def queued() -> bool:
            return reporting is not None and reporting.queued
        router = Router(client)
        self._notifications = JobNotifications(asyncio.get_running_loop())
        self._jobs = JobActivator(client, router, self.config, self._notifications)
        handlers = Handlers(client, Requests(self.config, router), self._jobs).table()

        shares = TenantShares(self.config.tenant_requests_in_flight_max)

        def served(name: str) -> Handler:
            handler = handlers[name] if name in handlers else _unsupported(name)
            if overload is not None and name in NEW_WORK_RPCS:
                handler = _overload_limited(name, handler, overload, queued)  # runs after authentication
            if self.authority is not None:
                handler = _authenticated(name, handler, self.authority, shares, rates)
            return _guarded(name, handler)

        table = {
            name: _method_handler(method, _measured(name, served(name), self.metrics))
            for name, method in METHODS.items()
        }
        options = [
            ("grpc.max_receive_message_length", self.config.max_message_size_bytes),
            ("grpc.max_send_message_length", self.config.max_message_size_bytes),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
            # A second gateway on the same port must fail, not silently share it.
            ("grpc.so_reuseport", 0),
        ]
        server = grpc.aio.server(
            options=options, maximum_concurrent_rpcs=self.config.concurrent_rpcs_max
        )
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE_NAME, table)])
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        address = f"{self.config.host}:{self.config.port}"
        tls = self.security.tls
        try:
            if tls.enabled:
                port = server.add_secure_port(address, server_credentials(tls))
            else:
                port = server.add_insecure_port(address)
        except RuntimeError as error:
            raise OSError(f"could not bind the gateway to {address}: {error}") from error
        if port == 0:
            raise OSError(f"could not bind the gateway to {address}")
        await server.start()
        self._server = server
        # Only now: news of jobs needs the activator, and must not arrive before the loop serves.
        self._remove_listener = self.client.add_job_available_listener(
            self._notifications.on_jobs_available
        )
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "gateway serving",
            extra={"address": address, "port": port, "tls": tls.enabled,
                   "mutual_tls": tls.client_ca is not None, "auth": self.authority is not None},
        )
        return port

    async def stop(self, grace_s: float = 1.0) -> None:
        """Stop taking calls; in-flight calls get `grace_s`, then are cancelled. Jobs held for
        cancelled long polls and streams are given back before this returns (bounded)."""
        server, self._server = self._server, None
        if server is None:
            return
        await self._health.enter_graceful_shutdown()
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        await server.stop(grace_s)
        if self._notifications is not None:
            self._notifications.close()
        if self._jobs is not None:
            await self._jobs.drain(timeout_s=max(grace_s, 1.0))
        log.info("gateway stopped")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
