"""DEPLOYMENT CREATE: parse, validate and version BPMN resources."""

from __future__ import annotations

import hashlib

from propolis.bpmn.errors import BpmnError
from propolis.bpmn.parser import parse_bpmn
from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError
from propolis.broker.processing.services import Services

from propolis.records import DeploymentIntent, ProcessIntent, RejectionType, ValueType

BPMN_SUFFIXES = (".bpmn", ".xml")


def create_deployment(ctx: ProcessingContext, services: Services) -> None:
    resources = ctx.command.value.get("resources") or []
    if not resources:
        raise RejectionError(RejectionType.INVALID_ARGUMENT, "Expected to deploy at least one resource, but none given")
    tenant = ctx.command.tenant_id
    errors: list[str] = []
    parsed = []
    seen_ids: dict[str, str] = {}
    for resource in resources:
        name = resource.get("resourceName") or "<unnamed>"
        content = resource.get("resource") or b""
        if not name.endswith(BPMN_SUFFIXES):
            errors.append(f"'{name}': expected a BPMN resource (a name ending in .bpmn or .xml); DMN decisions and forms are not supported yet")
            continue
        try:
            definitions = parse_bpmn(content, name)
        except BpmnError as error:
            errors.append(f"'{name}': {error}")
            continue
        for process in definitions.processes:
            if process.id in seen_ids:
                errors.append(f"'{name}': duplicated process id '{process.id}' (also in '{seen_ids[process.id]}')")
            seen_ids[process.id] = name
            parsed.append((name, content, process))
    if errors:
        raise RejectionError(
            RejectionType.INVALID_ARGUMENT,
            "Expected to deploy new resources, but encountered the following errors:\n" + "\n".join(errors),
        )
    deployment_key = ctx.keys.next()
    metadata = []
    for name, content, process in parsed:
        checksum = hashlib.sha256(content).hexdigest()
        latest = ctx.state.processes.latest_version(tenant, process.id)
        if latest is not None and latest["checksum"] == checksum:
            metadata.append(_metadata(latest, duplicate=True))
            continue
        version = 1 if latest is None else latest["version"] + 1
        key = ctx.keys.next()
        stored = {
            "bpmnProcessId": process.id,
            "version": version,
            "processDefinitionKey": key,
            "resourceName": name,
            "checksum": checksum,
            "resource": content,
            "tenantId": tenant,
            "deploymentKey": deployment_key,
        }
        ctx.event(ValueType.PROCESS, ProcessIntent.CREATED, key, stored)
        services.processes.put(key, process)
        metadata.append(_metadata(stored, duplicate=False))
    record = ctx.event(
        ValueType.DEPLOYMENT,
        DeploymentIntent.CREATED,
        deployment_key,
        {"resources": [{"resourceName": r.get("resourceName", "")} for r in resources], "processesMetadata": metadata, "tenantId": tenant},
    )
    ctx.respond(record)


def _metadata(process: dict, duplicate: bool) -> dict:
    return {
        "bpmnProcessId": process["bpmnProcessId"],
        "version": process["version"],
        "processDefinitionKey": process["processDefinitionKey"],
        "resourceName": process["resourceName"],
        "checksum": process["checksum"],
        "isDuplicate": duplicate,
        "tenantId": process["tenantId"],
    }
