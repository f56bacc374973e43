"""Which tenants a command may touch.

A command that creates something (a deployment, an instance, a message) names its tenant in
the record's `tenant_id`. A command on an existing key (cancel, set variables, resolve, job
commands...) cannot: the gateway does not know the key's tenant. With multi-tenancy on, the
gateway puts the tenants that the caller may use into the command's value under
`authorizedTenantIds`; the processor looks the entity up and treats one of another tenant as
not found, as Zeebe does, so that a tenant cannot even learn that a key exists elsewhere.
Without that field (multi-tenancy off) the command's own tenant must match, as before.
"""

from __future__ import annotations

from typing import Any

from propolis.records import AUTHORIZED_TENANTS_FIELD as AUTHORIZED_TENANTS
from propolis.records import Record

# The broker's own commands (job yields and time-outs) may touch any tenant.
ANY_TENANT = "*"


def may_access(command: Record, tenant_id: str) -> bool:
    """True when `command` may read or change an entity of `tenant_id`."""
    authorized = command.value.get(AUTHORIZED_TENANTS)
    if authorized is not None:
        return tenant_id in authorized
    return command.tenant_id in (tenant_id, ANY_TENANT)


def without_authorizations(value: dict[str, Any]) -> dict[str, Any]:
    """The command's value without the caller's tenants, for events that copy the value."""
    if AUTHORIZED_TENANTS not in value:
        return value
    return {k: v for k, v in value.items() if k != AUTHORIZED_TENANTS}
