"""Turns exported records into rows of the read model.

One method per value type. The writer runs inside the exporter's open transaction and does not
commit; the exporter decides when (and stores the applied position with the rows). Only
EVENT records are applied: they are the facts; commands and rejections change nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from propolis.records import (
    IncidentIntent,
    JobIntent,
    MessageIntent,
    MessageSubscriptionIntent,
    ProcessInstanceIntent,
    Record,
    ValueType,
    VariableIntent,
    intent_name,
)

PI = ProcessInstanceIntent

# Instance states, as the console shows them. INCIDENT is an active instance with at least one
# open incident.
ACTIVE = "ACTIVE"
INCIDENT = "INCIDENT"
COMPLETED = "COMPLETED"
CANCELED = "CANCELED"
STATE_COLUMNS = {ACTIVE: "active", INCIDENT: "incident", COMPLETED: "completed", CANCELED: "canceled"}

# Job fields kept in the timeline detail (variables are in the variable history already).
JOB_DETAIL_FIELDS = ("type", "worker", "retries", "errorMessage", "errorCode")


def to_json(value: Any) -> str:
    """The one JSON form of a value in the read model, so equal values compare equal in SQL."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_bytes_as_text)


def _bytes_as_text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"cannot store a {type(value).__name__} in the read model")


class ReadModelWriter:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection
        self._handlers: dict[int, Callable[[Record], None]] = {
            ValueType.PROCESS: self._process,
            ValueType.PROCESS_INSTANCE: self._process_instance,
            ValueType.VARIABLE: self._variable,
            ValueType.JOB: self._job,
            ValueType.INCIDENT: self._incident,
            ValueType.MESSAGE: self._message,
            ValueType.MESSAGE_SUBSCRIPTION: self._message_subscription,
        }

    def apply(self, record: Record) -> None:
        handler = self._handlers.get(record.value_type)
        if handler is not None:
            handler(record)

    # -- deployments -------------------------------------------------------------------
    def _process(self, record: Record) -> None:
        value = record.value
        resource = value.get("resource", b"")
        xml = resource.decode("utf-8", errors="replace") if isinstance(resource, bytes) else str(resource)
        self.db.execute(
            "INSERT OR REPLACE INTO process_definition (key, bpmn_process_id, version, resource_name, "
            "checksum, tenant_id, deployment_key, deployed_ms, bpmn_xml) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                record.key, value["bpmnProcessId"], value["version"], value.get("resourceName", ""),
                value.get("checksum", ""), record.tenant_id, value.get("deploymentKey", -1),
                record.timestamp, xml,
            ),
        )
        self.db.execute(
            "INSERT OR IGNORE INTO process_stats (process_definition_key) VALUES (?)", (record.key,)
        )

    # -- process instances -------------------------------------------------------------
    def _process_instance(self, record: Record) -> None:
        value = record.value
        element_type = value.get("bpmnElementType", "")
        intent = record.intent
        self._timeline(record, value.get("processInstanceKey", -1), value.get("elementId", ""), "")
        if element_type == "PROCESS":
            self._instance_lifecycle(record, intent)
        elif element_type == "SEQUENCE_FLOW":
            self.db.execute(
                "INSERT OR IGNORE INTO flow_taken (process_instance_key, flow_id, position) VALUES (?,?,?)",
                (value["processInstanceKey"], value["elementId"], record.position),
            )
        else:
            self._element_lifecycle(record, intent, element_type)

    def _instance_lifecycle(self, record: Record, intent: int) -> None:
        value = record.value
        if intent == PI.ELEMENT_ACTIVATING:
            self.db.execute(
                "INSERT OR IGNORE INTO process_instance (key, partition_id, process_definition_key, "
                "bpmn_process_id, version, tenant_id, state, start_ms, parent_process_instance_key) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    record.key, record.partition_id, value["processDefinitionKey"], value["bpmnProcessId"],
                    value["version"], record.tenant_id, ACTIVE, record.timestamp,
                    value.get("parentProcessInstanceKey", -1),
                ),
            )
            self._count_instance(value["processDefinitionKey"], None, ACTIVE)
        elif intent in (PI.ELEMENT_COMPLETED, PI.ELEMENT_TERMINATED):
            self._end_instance(record, COMPLETED if intent == PI.ELEMENT_COMPLETED else CANCELED)

    def _end_instance(self, record: Record, final_state: str) -> None:
        row = self.db.execute(
            "SELECT state, process_definition_key FROM process_instance WHERE key = ?", (record.key,)
        ).fetchone()
        if row is None or row[0] in (COMPLETED, CANCELED):
            return
        # An ended instance has no open incidents, whether or not the engine wrote their
        # resolution: close what is left so counts and overlays stay right.
        for (incident_key, element_id) in self.db.execute(
            "SELECT key, element_id FROM incident WHERE process_instance_key = ? AND state = 'OPEN'",
            (record.key,),
        ).fetchall():
            self.db.execute(
                "UPDATE incident SET state = 'RESOLVED', resolved_ms = ? WHERE key = ?",
                (record.timestamp, incident_key),
            )
            self._count_element(row[1], element_id, "incident", -1)
        self.db.execute(
            "UPDATE process_instance SET state = ?, end_ms = ?, open_incidents = 0 WHERE key = ?",
            (final_state, record.timestamp, record.key),
        )
        self._count_instance(row[1], row[0], final_state)

    def _element_lifecycle(self, record: Record, intent: int, element_type: str) -> None:
        value = record.value
        definition_key = value["processDefinitionKey"]
        element_id = value["elementId"]
        if intent == PI.ELEMENT_ACTIVATING:
            self.db.execute(
                "INSERT OR IGNORE INTO element_instance (key, process_instance_key, process_definition_key, "
                "element_id, element_type, flow_scope_key, state, start_ms) VALUES (?,?,?,?,?,?,?,?)",
                (
                    record.key, value["processInstanceKey"], definition_key, element_id, element_type,
                    value.get("flowScopeKey", -1), ACTIVE, record.timestamp,
                ),
            )
            self._count_element(definition_key, element_id, "active", 1)
        elif intent in (PI.ELEMENT_COMPLETED, PI.ELEMENT_TERMINATED):
            final_state = COMPLETED if intent == PI.ELEMENT_COMPLETED else CANCELED
            changed = self.db.execute(
                "UPDATE element_instance SET state = ?, end_ms = ? WHERE key = ? AND state = ?",
                (final_state, record.timestamp, record.key, ACTIVE),
            ).rowcount
            if changed:
                self._count_element(definition_key, element_id, "active", -1)
                self._count_element(definition_key, element_id, STATE_COLUMNS[final_state], 1)

    def _count_instance(self, definition_key: int, old_state: str | None, new_state: str) -> None:
        if old_state == new_state:
            return
        new_column = STATE_COLUMNS[new_state]
        if old_state is None:
            self.db.execute(
                f"INSERT INTO process_stats (process_definition_key, {new_column}) VALUES (?, 1) "
                f"ON CONFLICT DO UPDATE SET {new_column} = {new_column} + 1",
                (definition_key,),
            )
            return
        old_column = STATE_COLUMNS[old_state]
        self.db.execute(
            f"UPDATE process_stats SET {new_column} = {new_column} + 1, {old_column} = {old_column} - 1 "
            "WHERE process_definition_key = ?",
            (definition_key,),
        )

    def _count_element(self, definition_key: int, element_id: str, column: str, delta: int) -> None:
        self.db.execute(
            f"INSERT INTO element_stats (process_definition_key, element_id, {column}) VALUES (?,?,?) "
            f"ON CONFLICT DO UPDATE SET {column} = {column} + excluded.{column}",
            (definition_key, element_id, delta),
        )

    # -- variables ---------------------------------------------------------------------
    def _variable(self, record: Record) -> None:
        value = record.value
        instance_key = value["processInstanceKey"]
        text = to_json(value.get("value"))
        self.db.execute(
            "INSERT INTO variable (key, process_instance_key, scope_key, name, value, tenant_id, updated_ms) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_ms = excluded.updated_ms",
            (record.key, instance_key, value["scopeKey"], value["name"], text, record.tenant_id, record.timestamp),
        )
        intent = VariableIntent(record.intent).name
        self.db.execute(
            "INSERT OR IGNORE INTO variable_history (partition_id, position, variable_key, process_instance_key, "
            "scope_key, name, value, intent, timestamp_ms) VALUES (?,?,?,?,?,?,?,?,?)",
            (record.partition_id, record.position, record.key, instance_key, value["scopeKey"],
             value["name"], text, intent, record.timestamp),
        )
        self._timeline(record, instance_key, "", to_json({"name": value["name"], "value": value.get("value")}))

    # -- jobs --------------------------------------------------------------------------
    def _job(self, record: Record) -> None:
        value = record.value
        intent = JobIntent(record.intent).name
        self.db.execute(
            "INSERT INTO job (key, process_instance_key, element_instance_key, element_id, type, worker, "
            "retries, state, error_message, deadline_ms, tenant_id, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (key) DO UPDATE SET worker = excluded.worker, retries = excluded.retries, "
            "state = excluded.state, error_message = excluded.error_message, "
            "deadline_ms = excluded.deadline_ms, updated_ms = excluded.updated_ms",
            (
                record.key, value.get("processInstanceKey", -1), value.get("elementInstanceKey", -1),
                value.get("elementId", ""), value.get("type", ""), value.get("worker", ""),
                value.get("retries", 0), intent, value.get("errorMessage", ""), value.get("deadline", -1),
                record.tenant_id, record.timestamp,
            ),
        )
        detail = {name: value[name] for name in JOB_DETAIL_FIELDS if value.get(name) not in (None, "")}
        self._timeline(record, value.get("processInstanceKey", -1), value.get("elementId", ""), to_json(detail))

    # -- incidents ---------------------------------------------------------------------
    def _incident(self, record: Record) -> None:
        value = record.value
        instance_key = value.get("processInstanceKey", -1)
        definition_key = value.get("processDefinitionKey", -1)
        element_id = value.get("elementId", "")
        if record.intent == IncidentIntent.CREATED:
            inserted = self.db.execute(
                "INSERT OR IGNORE INTO incident (key, process_instance_key, process_definition_key, "
                "bpmn_process_id, element_id, element_instance_key, job_key, error_type, error_message, "
                "state, tenant_id, created_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.key, instance_key, definition_key, value.get("bpmnProcessId", ""), element_id,
                    value.get("elementInstanceKey", -1), value.get("jobKey", -1), value.get("errorType", ""),
                    value.get("errorMessage", ""), "OPEN", record.tenant_id, record.timestamp,
                ),
            ).rowcount
            if inserted:
                self._count_element(definition_key, element_id, "incident", 1)
                self._incidents_changed(instance_key, 1)
        elif record.intent == IncidentIntent.RESOLVED:
            resolved = self.db.execute(
                "UPDATE incident SET state = 'RESOLVED', resolved_ms = ? WHERE key = ? AND state = 'OPEN'",
                (record.timestamp, record.key),
            ).rowcount
            if resolved:
                self._count_element(definition_key, element_id, "incident", -1)
                self._incidents_changed(instance_key, -1)
        detail = {"errorType": value.get("errorType", ""), "errorMessage": value.get("errorMessage", "")}
        self._timeline(record, instance_key, element_id, to_json(detail))

    def _incidents_changed(self, instance_key: int, delta: int) -> None:
        row = self.db.execute(
            "SELECT state, open_incidents, process_definition_key FROM process_instance WHERE key = ?",
            (instance_key,),
        ).fetchone()
        if row is None or row[0] in (COMPLETED, CANCELED):
            return
        open_incidents = max(0, row[1] + delta)
        new_state = INCIDENT if open_incidents else ACTIVE
        self.db.execute(
            "UPDATE process_instance SET open_incidents = ?, state = ? WHERE key = ?",
            (open_incidents, new_state, instance_key),
        )
        self._count_instance(row[2], row[0], new_state)

    # -- messages ----------------------------------------------------------------------
    def _message(self, record: Record) -> None:
        value = record.value
        if record.intent == MessageIntent.PUBLISHED:
            self.db.execute(
                "INSERT OR IGNORE INTO message (key, name, correlation_key, message_id, time_to_live_ms, "
                "variables, state, tenant_id, published_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    record.key, value.get("name", ""), value.get("correlationKey", ""),
                    value.get("messageId", ""), value.get("timeToLive", 0), to_json(value.get("variables") or {}),
                    "PUBLISHED", record.tenant_id, record.timestamp, record.timestamp,
                ),
            )
        elif record.intent == MessageIntent.EXPIRED:
            self.db.execute(
                "UPDATE message SET state = 'EXPIRED', updated_ms = ? WHERE key = ?",
                (record.timestamp, record.key),
            )

    def _message_subscription(self, record: Record) -> None:
        value = record.value
        instance_key = value.get("processInstanceKey", -1)
        if record.intent == MessageSubscriptionIntent.CORRELATED:
            message_key = value.get("messageKey", -1)
            self.db.execute(
                "INSERT OR IGNORE INTO message_correlation (message_key, process_instance_key, element_id, "
                "timestamp_ms) VALUES (?,?,?,?)",
                (message_key, instance_key, value.get("elementId", ""), record.timestamp),
            )
            self.db.execute(
                "UPDATE message SET state = 'CORRELATED', updated_ms = ? WHERE key = ? AND state = 'PUBLISHED'",
                (record.timestamp, message_key),
            )
        detail = {"messageName": value.get("messageName", ""), "correlationKey": value.get("correlationKey", "")}
        self._timeline(record, instance_key, value.get("elementId", ""), to_json(detail))

    # -- timeline ----------------------------------------------------------------------
    def _timeline(self, record: Record, instance_key: int, element_id: str, detail: str) -> None:
        if instance_key is None or instance_key < 0:
            return
        self.db.execute(
            "INSERT OR IGNORE INTO timeline (partition_id, position, process_instance_key, key, timestamp_ms, "
            "value_type, intent, element_id, detail) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                record.partition_id, record.position, instance_key, record.key, record.timestamp,
                ValueType(record.value_type).name, intent_name(record.value_type, record.intent),
                element_id, detail,
            ),
        )
