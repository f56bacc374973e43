"""The console's queries over the read model. Readers never write: the connection is opened
read-only, so a bug here cannot damage what the exporter built.

Instance lists are newest first and page by keyset: a page ends with a cursor
`"<start_ms>:<key>"`, and the next page is everything strictly before it in
(start_ms, key) order. Every filter is served by an index ending in `start_ms`, so a page costs
the same at instance 100,000 as at instance 10.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from propolis.exporters.read_model.writer import ACTIVE, CANCELED, COMPLETED, INCIDENT, to_json

INSTANCE_STATES = (ACTIVE, INCIDENT, COMPLETED, CANCELED)
PAGE_SIZE_MAX = 500
TIMELINE_PAGE_MAX = 5_000
INSTANCE_COLUMNS = (
    "key, partition_id, process_definition_key, bpmn_process_id, version, tenant_id, state, "
    "open_incidents, start_ms, end_ms, parent_process_instance_key"
)


class QueryError(ValueError):
    """A query's input is wrong; the message names the field."""


class ReadModelMissingError(Exception):
    """The read model file does not exist (yet)."""


@dataclass(frozen=True, slots=True)
class InstanceFilter:
    bpmn_process_id: str | None = None
    version: int | None = None
    process_definition_key: int | None = None
    state: str | None = None
    has_incident: bool | None = None
    tenant_ids: tuple[str, ...] | None = None  # None: any tenant
    start_from_ms: int | None = None
    start_to_ms: int | None = None
    end_from_ms: int | None = None
    end_to_ms: int | None = None
    variable_name: str | None = None
    variable_value: Any = None  # compared as JSON; only with variable_name

    def __post_init__(self) -> None:
        if self.state is not None and self.state not in INSTANCE_STATES:
            raise QueryError(f"state must be one of {', '.join(INSTANCE_STATES)}, got '{self.state}'")
        if self.variable_value is not None and not self.variable_name:
            raise QueryError("a variable value filter needs the variable's name (variableName)")


def parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    if not cursor:
        return None
    try:
        start_ms, key = cursor.split(":")
        return int(start_ms), int(key)
    except ValueError:
        raise QueryError(f"cursor must look like '<start_ms>:<key>', got '{cursor}'") from None


def _json(text: str) -> Any:
    return json.loads(text)


class ReadModel:
    """Read-only access to the read model file, safe to share between threads (one
    connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if not self.path.exists():
                raise ReadModelMissingError(f"no read model at {self.path} (has anything been exported yet?)")
            connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA busy_timeout = 5000")
            connection.execute("PRAGMA query_only = 1")
            self._local.connection = connection
        return connection

    def _all(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self._db().execute(sql, params).fetchall()]

    def _one(self, sql: str, params: tuple | list = ()) -> dict[str, Any] | None:
        row = self._db().execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    # -- change detection --------------------------------------------------------------
    def positions(self) -> dict[int, int]:
        """Last applied position per partition: a view is stale when these move."""
        return {row["partition_id"]: row["position"] for row in self._all("SELECT partition_id, position FROM exporter_position")}

    # -- processes ---------------------------------------------------------------------
    def processes(self, tenant_ids: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Every deployed version with its instance counts, by process id then newest version."""
        sql = (
            "SELECT d.key, d.bpmn_process_id, d.version, d.resource_name, d.tenant_id, d.deployed_ms, "
            "COALESCE(s.active, 0) AS active, COALESCE(s.incident, 0) AS incident, "
            "COALESCE(s.completed, 0) AS completed, COALESCE(s.canceled, 0) AS canceled "
            "FROM process_definition d LEFT JOIN process_stats s ON s.process_definition_key = d.key"
        )
        params: list[Any] = []
        if tenant_ids is not None:
            sql += f" WHERE d.tenant_id IN ({','.join('?' * len(tenant_ids))})"
            params.extend(tenant_ids)
        sql += " ORDER BY d.bpmn_process_id, d.version DESC"
        return self._all(sql, params)

    def process(self, definition_key: int) -> dict[str, Any] | None:
        row = self._one(
            "SELECT d.key, d.bpmn_process_id, d.version, d.resource_name, d.tenant_id, d.deployed_ms, "
            "d.bpmn_xml, COALESCE(s.active, 0) AS active, COALESCE(s.incident, 0) AS incident, "
            "COALESCE(s.completed, 0) AS completed, COALESCE(s.canceled, 0) AS canceled "
            "FROM process_definition d LEFT JOIN process_stats s ON s.process_definition_key = d.key "
            "WHERE d.key = ?",
            (definition_key,),
        )
        return row

    def element_stats(self, definition_key: int) -> dict[str, dict[str, int]]:
        """Per element: instances active there (incidents included), open incidents, and how
        many completed or were canceled there."""
        return {
            row["element_id"]: {k: row[k] for k in ("active", "incident", "completed", "canceled")}
            for row in self._all(
                "SELECT element_id, active, incident, completed, canceled FROM element_stats "
                "WHERE process_definition_key = ?",
                (definition_key,),
            )
        }

    # -- instances ---------------------------------------------------------------------
    def instances(
        self, where: InstanceFilter, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of instances, newest first, and the cursor of the next page (None at the end)."""
        sql, params = self.instance_query(where, limit, cursor)
        rows = self._all(sql, params)
        items = rows[:limit]
        next_cursor = f"{items[-1]['start_ms']}:{items[-1]['key']}" if len(rows) > limit else None
        return {"items": items, "nextCursor": next_cursor}

    def instance_query(self, where: InstanceFilter, limit: int, cursor: str | None) -> tuple[str, list[Any]]:
        """The SQL of one page (one row more than `limit`, to know whether a next page exists)."""
        if not 1 <= limit <= PAGE_SIZE_MAX:
            raise QueryError(f"limit must be between 1 and {PAGE_SIZE_MAX}, got {limit}")
        clauses: list[str] = []
        params: list[Any] = []

        def add(clause: str, *values: Any) -> None:
            clauses.append(clause)
            params.extend(values)

        if where.bpmn_process_id is not None:
            add("bpmn_process_id = ?", where.bpmn_process_id)
        if where.version is not None:
            add("version = ?", where.version)
        if where.process_definition_key is not None:
            add("process_definition_key = ?", where.process_definition_key)
        if where.state is not None:
            add("state = ?", where.state)
        if where.has_incident is True:
            add("state = ?", INCIDENT)
        elif where.has_incident is False:
            add("state != ?", INCIDENT)
        if where.tenant_ids is not None:
            add(f"tenant_id IN ({','.join('?' * len(where.tenant_ids))})", *where.tenant_ids)
        if where.start_from_ms is not None:
            add("start_ms >= ?", where.start_from_ms)
        if where.start_to_ms is not None:
            add("start_ms <= ?", where.start_to_ms)
        if where.end_from_ms is not None:
            add("end_ms >= ?", where.end_from_ms)
        if where.end_to_ms is not None:
            add("end_ms <= ?", where.end_to_ms)
        if where.variable_name:
            if where.variable_value is None:
                add("key IN (SELECT process_instance_key FROM variable WHERE name = ?)", where.variable_name)
            else:
                add(
                    "key IN (SELECT process_instance_key FROM variable WHERE name = ? AND value = ?)",
                    where.variable_name, to_json(where.variable_value),
                )
        after = parse_cursor(cursor)
        if after is not None:
            add("(start_ms, key) < (?, ?)", *after)
        sql = f"SELECT {INSTANCE_COLUMNS} FROM process_instance"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY start_ms DESC, key DESC LIMIT ?"
        return sql, [*params, limit + 1]

    def instance(self, key: int) -> dict[str, Any] | None:
        """An instance with what its view shows: element instances, taken flows, variables per
        scope, incidents and jobs."""
        row = self._one(f"SELECT {INSTANCE_COLUMNS} FROM process_instance WHERE key = ?", (key,))
        if row is None:
            return None
        row["elements"] = self._all(
            "SELECT key, element_id, element_type, flow_scope_key, state, start_ms, end_ms "
            "FROM element_instance WHERE process_instance_key = ? ORDER BY key",
            (key,),
        )
        row["taken_flows"] = sorted(
            {r["flow_id"] for r in self._all("SELECT flow_id FROM flow_taken WHERE process_instance_key = ?", (key,))}
        )
        row["variables"] = self.variables(key)
        row["incidents"] = self._all(
            "SELECT key, element_id, element_instance_key, job_key, error_type, error_message, state, "
            "created_ms, resolved_ms FROM incident WHERE process_instance_key = ? ORDER BY key",
            (key,),
        )
        row["jobs"] = self._all(
            "SELECT key, element_id, element_instance_key, type, worker, retries, state, error_message, "
            "deadline_ms, updated_ms FROM job WHERE process_instance_key = ? ORDER BY key",
            (key,),
        )
        row["messages"] = self._all(
            "SELECT m.key, m.name, m.correlation_key, c.element_id, c.timestamp_ms FROM message_correlation c "
            "JOIN message m ON m.key = c.message_key WHERE c.process_instance_key = ? ORDER BY c.timestamp_ms",
            (key,),
        )
        return row

    def variables(self, instance_key: int) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT key, scope_key, name, value, updated_ms FROM variable "
            "WHERE process_instance_key = ? ORDER BY scope_key, name",
            (instance_key,),
        )
        for row in rows:
            row["value"] = _json(row["value"])
        return rows

    def variable_history(self, variable_key: int) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT position, name, value, intent, timestamp_ms FROM variable_history "
            "WHERE variable_key = ? ORDER BY position",
            (variable_key,),
        )
        for row in rows:
            row["value"] = _json(row["value"])
        return rows

    def timeline(self, instance_key: int, after_position: int = -1, limit: int = 1_000) -> list[dict[str, Any]]:
        """The instance's events in log order (the replay walks these)."""
        if not 1 <= limit <= TIMELINE_PAGE_MAX:
            raise QueryError(f"limit must be between 1 and {TIMELINE_PAGE_MAX}, got {limit}")
        rows = self._all(
            "SELECT position, key, timestamp_ms, value_type, intent, element_id, detail FROM timeline "
            "WHERE process_instance_key = ? AND position > ? ORDER BY position LIMIT ?",
            (instance_key, after_position, limit),
        )
        for row in rows:
            row["detail"] = _json(row["detail"]) if row["detail"] else None
        return rows

    def incidents(self, state: str = "OPEN", limit: int = 100) -> list[dict[str, Any]]:
        return self._all(
            "SELECT key, process_instance_key, bpmn_process_id, element_id, job_key, error_type, "
            "error_message, state, created_ms FROM incident WHERE state = ? ORDER BY created_ms DESC LIMIT ?",
            (state, limit),
        )

    def messages(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT key, name, correlation_key, message_id, time_to_live_ms, variables, state, tenant_id, "
            "published_ms FROM message ORDER BY key DESC LIMIT ?",
            (limit,),
        )
        for row in rows:
            row["variables"] = _json(row["variables"])
        return rows

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
