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

    def next_version(self, tenant_id: str, bpmn_process_id: str) -> int:
        """Versions are never reused, not even those of deleted definitions."""
        highest = self._t.get("process_index", str_key(tenant_id, bpmn_process_id, "max"))
        return (highest or 0) + 1

    def running_instances(self, process_definition_key: int) -> int:
        return self._t.get("process_index", int_key(process_definition_key)) or 0

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
        if self.next_version(tenant, bpmn_id) <= process["version"]:
            self._t.put("process_index", str_key(tenant, bpmn_id, "max"), process["version"])

    def remove(self, process: dict[str, Any]) -> None:
        """Delete a definition; the latest version becomes the highest one left."""
        key = process["processDefinitionKey"]
        tenant, bpmn_id = process["tenantId"], process["bpmnProcessId"]
        self._t.delete("processes", int_key(key))
        self._t.delete("process_index", str_key(tenant, bpmn_id, str(process["version"])))
        latest = self.latest_version(tenant, bpmn_id)
        if latest is not None and latest["processDefinitionKey"] != key:
            return
        self._t.delete("process_index", str_key(tenant, bpmn_id, "latest"))
        for version in range(process["version"] - 1, 0, -1):
            older = self.by_version(tenant, bpmn_id, version)
            if older is not None:
                self._t.put("process_index", str_key(tenant, bpmn_id, "latest"), older["processDefinitionKey"])
                return

    def count_instance(self, process_definition_key: int, delta: int) -> None:
        count = self.running_instances(process_definition_key) + delta
        if count > 0:
            self._t.put("process_index", int_key(process_definition_key), count)
        else:
            self._t.delete("process_index", int_key(process_definition_key))
