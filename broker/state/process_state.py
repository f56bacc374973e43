"""Deployed process definitions, by key and by (tenant, bpmnProcessId, version)."""

from __future__ import annotations

from typing import Any

from propolis.broker.state.store import Tables, int_key, str_key, unpack


class ProcessState:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def get(self, process_definition_key: int) -> dict[str, Any] | None:
        return self._t.get("processes", int_key(process_definition_key))

    def latest_version(self, tenant_id: str, bpmn_process_id: str) -> dict[str, Any] | None:
        key = self._t.get("process_index", str_key(tenant_id, bpmn_process_id, "latest"))
        return None if key is None else self.get(key)

    def by_version(self, tenant_id: str, bpmn_process_id: str, version: int) -> dict[str, Any] | None:
        key = self._t.get("process_index", str_key(tenant_id, bpmn_process_id, str(version)))
        return None if key is None else self.get(key)

    def all(self) -> list[dict[str, Any]]:
        return [unpack(v) for _, v in self._t.scan("processes", b"")]

    # -- written by appliers only --
    def put(self, process: dict[str, Any]) -> None:
        key = process["processDefinitionKey"]
        tenant, bpmn_id = process["tenantId"], process["bpmnProcessId"]
        self._t.put("processes", int_key(key), process)
        self._t.put("process_index", str_key(tenant, bpmn_id, str(process["version"])), key)
        latest = self.latest_version(tenant, bpmn_id)
        if latest is None or latest["version"] < process["version"]:
            self._t.put("process_index", str_key(tenant, bpmn_id, "latest"), key)
