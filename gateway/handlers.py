"""What the gateway does for each RPC of `gateway_protocol.Gateway`, readable in one table.

Most RPCs are one command: map the request (requests.py), execute it on its partition, turn
the event into the response (responses.py); a rejection becomes its gRPC status (errors.py).
The others have their own handler below: Topology, CreateProcessInstanceWithResult (bounded
wait), ActivateJobs (long polling) and StreamActivatedJobs (push).

A handler takes `(request, context)` and returns the response (unary) or writes responses with
`context.write` (server streaming). Handlers raise; server.py turns what they raise into a
status. Who may call what is checked before a handler runs (server.py, authorization.py); a
command on an existing key carries the caller's tenants for the broker to check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from propolis.broker.client import BrokerClient, BrokerResponse
from propolis.gateway import responses
from propolis.gateway.authorization import authorized_tenants
from propolis.gateway.errors import GatewayError, expected, rejection_error
from propolis.gateway.jobs import HeldJob, JobActivator
from propolis.gateway.requests import Command, Requests

from propolis.records import AUTHORIZED_TENANTS_FIELD

Handler = Callable[[Any, Any], Awaitable[Any]]

NOT_SUPPORTED = (
    "EvaluateDecision",
    "MigrateProcessInstance",
)


def not_supported_message(rpc: str) -> str:
    return f"{rpc} is not supported by propolis yet"


def with_tenants(command: Command) -> None:
    """With auth on, a command on an existing key names the tenants its caller may use."""
    tenants = authorized_tenants()
    if tenants is not None:
        command.value = {**command.value, AUTHORIZED_TENANTS_FIELD: tenants}


class Handlers:
    def __init__(self, client: BrokerClient, requests: Requests, jobs: JobActivator) -> None:
        self._client = client
        self._requests = requests
        self._jobs = jobs

    def table(self) -> dict[str, Handler]:
        """RPC name -> handler, for every RPC propolis serves."""
        r = self._requests
        command = self._command
        return {
            "Topology": self.topology,
            "DeployResource": command(r.deploy_resource, responses.deploy_resource),
            "DeployProcess": command(r.deploy_process, responses.deploy_process),
            "CreateProcessInstance": command(
                r.create_process_instance, responses.create_process_instance
            ),
            "CreateProcessInstanceWithResult": self.create_process_instance_with_result,
            "CancelProcessInstance": command(
                r.cancel_process_instance, responses.cancel_process_instance
            ),
            "SetVariables": command(r.set_variables, responses.set_variables),
            "ResolveIncident": command(r.resolve_incident, responses.resolve_incident),
            "PublishMessage": command(r.publish_message, responses.publish_message),
            "BroadcastSignal": command(r.broadcast_signal, responses.broadcast_signal),
            "ModifyProcessInstance": command(r.modify_process_instance, responses.modify_process_instance),
            "DeleteResource": command(r.delete_resource, responses.delete_resource),
            "ActivateJobs": self.activate_jobs,
            "StreamActivatedJobs": self.stream_activated_jobs,
            "CompleteJob": command(r.complete_job, responses.complete_job),
            "FailJob": command(r.fail_job, responses.fail_job),
            "ThrowError": command(r.throw_error, responses.throw_error),
            "UpdateJobRetries": command(r.update_job_retries, responses.update_job_retries),
            "UpdateJobTimeout": command(r.update_job_timeout, responses.update_job_timeout),
        }

    async def _execute(self, command: Command) -> BrokerResponse:
        if command.on_existing:
            with_tenants(command)
        response = await self._client.execute(
            command.partition_id,
            command.value_type,
            command.intent,
            command.value,
            command.key,
            command.tenant_id,
        )
        if response.rejection_type:
            raise rejection_error(response.rejection_type, response.rejection_reason)
        return response

    def _command(
        self,
        to_command: Callable[[Any], Command],
        to_response: Callable[[BrokerResponse], Any],
    ) -> Handler:
        execute = self._client.execute

        async def handle(request: Any, context: Any) -> Any:
            c = to_command(request)
            if c.on_existing:
                with_tenants(c)
            response = await execute(
                c.partition_id, c.value_type, c.intent, c.value, c.key, c.tenant_id
            )
            if response.rejection_type:
                raise rejection_error(response.rejection_type, response.rejection_reason)
            return to_response(response)

        return handle

    # -- RPCs with their own handler ------------------------------------------------------
    async def topology(self, request: Any, context: Any) -> Any:
        return responses.topology(self._client.topology())

    async def create_process_instance_with_result(self, request: Any, context: Any) -> Any:
        creation = self._requests.create_process_instance_with_result(request)
        try:
            async with asyncio.timeout(creation.timeout_ms / 1000):
                response = await self._execute(creation.command)
        except TimeoutError:
            raise GatewayError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                expected(
                    f"create a process instance of process {creation.process} and await its "
                    f"result within the request timeout of {creation.timeout_ms} ms",
                    "the instance did not complete in time; it goes on running",
                ),
            ) from None
        return responses.create_process_instance_with_result(response, creation.fetch_variables)

    async def activate_jobs(self, request: Any, context: Any) -> None:
        activation = self._requests.activate_jobs(request)
        jobs = await self._jobs.long_poll(activation)
        try:
            await context.write(responses.activate_jobs(jobs))
        except BaseException:
            self._jobs.give_back(jobs)  # the client did not get them
            raise

    async def stream_activated_jobs(self, request: Any, context: Any) -> None:
        activation = self._requests.stream_activated_jobs(request)

        async def write(job: HeldJob) -> None:
            await context.write(responses.activated_job(*job))

        await self._jobs.stream(activation, write)
