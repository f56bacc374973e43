"""Who may call what: the bearer token of every call, the permission each RPC needs, and the
tenants a request may name.

With auth off nothing here refuses anything, and tenants behave as with multi-tenancy off in
Zeebe: only the default tenant exists. With auth on, `authenticate` (run by server.py before
each handler) verifies the call's `authorization: Bearer <jwt>` metadata, checks the RPC's
permission and remembers the caller for the rest of the call in a context variable (grpc.aio
runs every call in its own task, so each call sees its own). Requests then ask
`tenant_for(...)` for the tenant they name, and `authorized_tenants()` for the tenants that
commands on existing keys may touch (the broker hides other tenants' keys as not found).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable

import grpc
from propolis.gateway.errors import GatewayError, expected, invalid_argument
from propolis.gateway.security_config import SecurityConfigError, check_tenant_id
from propolis.gateway.tokens import Identity, InvalidTokenError, TokenAuthority

from propolis.records import DEFAULT_TENANT

# The permission each RPC needs; None: any authenticated caller.
RPC_PERMISSIONS: dict[str, str | None] = {
    "Topology": None,
    "DeployResource": "deploy",
    "DeployProcess": "deploy",
    "DeleteResource": "deploy",
    "CreateProcessInstance": "start",
    "CreateProcessInstanceWithResult": "start",
    "ActivateJobs": "work",
    "StreamActivatedJobs": "work",
    "CompleteJob": "work",
    "FailJob": "work",
    "ThrowError": "work",
    "UpdateJobTimeout": "work",
    "CancelProcessInstance": "operate",
    "SetVariables": "operate",
    "ResolveIncident": "operate",
    "PublishMessage": "operate",
    "BroadcastSignal": "operate",
    "ModifyProcessInstance": "operate",
    "UpdateJobRetries": "operate",
    "EvaluateDecision": "start",
    "MigrateProcessInstance": "operate",
}

_caller: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("propolis_caller", default=None)


def current_caller() -> Identity | None:
    """The caller of the current call; None when auth is off."""
    return _caller.get()


def set_caller(identity: Identity | None) -> contextvars.Token:
    return _caller.set(identity)


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    for name, value in metadata or ():
        if name.lower() != "authorization":
            continue
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        scheme, _, token = text.strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""
    return None


def authenticate(authority: TokenAuthority, rpc: str, metadata: Iterable[tuple[str, str | bytes]] | None) -> Identity:
    """The verified caller of `rpc`, or a GatewayError: UNAUTHENTICATED without a valid token,
    PERMISSION_DENIED without the RPC's permission."""
    token = bearer_token(metadata)
    if token is None:
        raise GatewayError(
            grpc.StatusCode.UNAUTHENTICATED,
            expected(f"handle gRPC request {rpc} with an 'authorization: Bearer <token>' header", "none was given"),
        )
    if not token:
        raise GatewayError(
            grpc.StatusCode.UNAUTHENTICATED,
            expected(f"handle gRPC request {rpc} with an 'authorization' header of the form 'Bearer <token>'",
                     "it was not a bearer token"),
        )
    try:
        identity = authority.verify(token)
    except InvalidTokenError as error:
        raise GatewayError(
            grpc.StatusCode.UNAUTHENTICATED, expected(f"handle gRPC request {rpc} with a valid token", str(error))
        ) from None
    permission = RPC_PERMISSIONS.get(rpc, "operate")
    if permission is not None and permission not in identity.permissions:
        raise GatewayError(
            grpc.StatusCode.PERMISSION_DENIED,
            expected(f"handle gRPC request {rpc}",
                     f"client '{identity.name}' lacks the '{permission}' permission it needs"),
        )
    return identity


def tenant_for(tenant_id: str, rpc: str) -> str:
    """The tenant a request names (empty: the default tenant), if its caller may use it."""
    caller = _caller.get()
    if caller is None:
        if not tenant_id or tenant_id == DEFAULT_TENANT:
            return DEFAULT_TENANT
        raise invalid_argument(
            expected(f"handle gRPC request {rpc} with tenant identifier '{tenant_id}'", "multi-tenancy is disabled")
        )
    tenant = tenant_id or DEFAULT_TENANT
    try:
        check_tenant_id(tenant, "tenantId")
    except SecurityConfigError as error:
        raise invalid_argument(
            expected(f"handle gRPC request {rpc} with tenant identifier '{tenant_id}'", str(error).removeprefix("tenantId: "))
        ) from None
    if tenant not in caller.tenants:
        raise GatewayError(
            grpc.StatusCode.PERMISSION_DENIED,
            expected(
                f"handle gRPC request {rpc} with tenant identifier '{tenant}'",
                f"client '{caller.name}' is not authorized for tenant '{tenant}'",
            ),
        )
    return tenant


def authorized_tenants() -> list[str] | None:
    """The tenants that a command on an existing key may touch; None when auth is off."""
    caller = _caller.get()
    return None if caller is None else list(caller.tenants)
