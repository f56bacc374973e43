"""The read model's SQLite schema, designed for the console's queries at 100,000+ instances.

Lists page by keyset (`(start_time, key) < (?, ?)` newest first), never by OFFSET, so every
index that serves an instance filter ends in `start_time` (and implicitly the rowid `key`).
Counts per process and per element are kept as counters updated with each event, so the
process views never scan instances.

`exporter_position` holds the last applied record position per partition, written in the same
transaction as the rows that record produced: a record at or below it is a re-delivery and
changes nothing.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 1

STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS exporter_position (
        partition_id INTEGER PRIMARY KEY,
        position INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS process_definition (
        key INTEGER PRIMARY KEY,
        bpmn_process_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        resource_name TEXT NOT NULL,
        checksum TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        deployment_key INTEGER NOT NULL,
        deployed_ms INTEGER NOT NULL,
        bpmn_xml TEXT NOT NULL
    )""",
    """CREATE INDEX IF NOT EXISTS process_definition_by_id
        ON process_definition (bpmn_process_id, tenant_id, version)""",
    # Instances per state of one definition: ACTIVE (no open incident), INCIDENT, COMPLETED,
    # CANCELED. Kept by the writer, so the process list is one small read.
    """CREATE TABLE IF NOT EXISTS process_stats (
        process_definition_key INTEGER PRIMARY KEY,
        active INTEGER NOT NULL DEFAULT 0,
        incident INTEGER NOT NULL DEFAULT 0,
        completed INTEGER NOT NULL DEFAULT 0,
        canceled INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS process_instance (
        key INTEGER PRIMARY KEY,
        partition_id INTEGER NOT NULL,
        process_definition_key INTEGER NOT NULL,
        bpmn_process_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        tenant_id TEXT NOT NULL,
        state TEXT NOT NULL,
        open_incidents INTEGER NOT NULL DEFAULT 0,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER,
        parent_process_instance_key INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS instance_by_start ON process_instance (start_ms)",
    "CREATE INDEX IF NOT EXISTS instance_by_state ON process_instance (state, start_ms)",
    "CREATE INDEX IF NOT EXISTS instance_by_process ON process_instance (bpmn_process_id, start_ms)",
    """CREATE INDEX IF NOT EXISTS instance_by_process_state
        ON process_instance (bpmn_process_id, state, start_ms)""",
    """CREATE INDEX IF NOT EXISTS instance_by_definition
        ON process_instance (process_definition_key, start_ms)""",
    """CREATE INDEX IF NOT EXISTS instance_by_definition_state
        ON process_instance (process_definition_key, state, start_ms)""",
    "CREATE INDEX IF NOT EXISTS instance_by_tenant ON process_instance (tenant_id, start_ms)",
    "CREATE INDEX IF NOT EXISTS instance_by_end ON process_instance (end_ms)",
    # Flow nodes only (the process itself is the instance row; sequence flows are in flow_taken).
    """CREATE TABLE IF NOT EXISTS element_instance (
        key INTEGER PRIMARY KEY,
        process_instance_key INTEGER NOT NULL,
        process_definition_key INTEGER NOT NULL,
        element_id TEXT NOT NULL,
        element_type TEXT NOT NULL,
        flow_scope_key INTEGER NOT NULL,
        state TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER
    )""",
    "CREATE INDEX IF NOT EXISTS element_by_instance ON element_instance (process_instance_key)",
    """CREATE TABLE IF NOT EXISTS element_stats (
        process_definition_key INTEGER NOT NULL,
        element_id TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 0,
        incident INTEGER NOT NULL DEFAULT 0,
        completed INTEGER NOT NULL DEFAULT 0,
        canceled INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (process_definition_key, element_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS flow_taken (
        process_instance_key INTEGER NOT NULL,
        flow_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (process_instance_key, position)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS variable (
        key INTEGER PRIMARY KEY,
        process_instance_key INTEGER NOT NULL,
        scope_key INTEGER NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS variable_by_instance ON variable (process_instance_key, scope_key, name)",
    "CREATE INDEX IF NOT EXISTS variable_by_value ON variable (name, value, process_instance_key)",
    """CREATE TABLE IF NOT EXISTS variable_history (
        partition_id INTEGER NOT NULL,
        position INTEGER NOT NULL,
        variable_key INTEGER NOT NULL,
        process_instance_key INTEGER NOT NULL,
        scope_key INTEGER NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        intent TEXT NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        PRIMARY KEY (partition_id, position)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS variable_history_by_variable ON variable_history (variable_key, position)",
    """CREATE TABLE IF NOT EXISTS job (
        key INTEGER PRIMARY KEY,
        process_instance_key INTEGER NOT NULL,
        element_instance_key INTEGER NOT NULL,
        element_id TEXT NOT NULL,
        type TEXT NOT NULL,
        worker TEXT NOT NULL,
        retries INTEGER NOT NULL,
        state TEXT NOT NULL,
        error_message TEXT NOT NULL,
        deadline_ms INTEGER NOT NULL,
        tenant_id TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS job_by_instance ON job (process_instance_key)",
    """CREATE TABLE IF NOT EXISTS incident (
        key INTEGER PRIMARY KEY,
        process_instance_key INTEGER NOT NULL,
        process_definition_key INTEGER NOT NULL,
        bpmn_process_id TEXT NOT NULL,
        element_id TEXT NOT NULL,
        element_instance_key INTEGER NOT NULL,
        job_key INTEGER NOT NULL,
        error_type TEXT NOT NULL,
        error_message TEXT NOT NULL,
        state TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        resolved_ms INTEGER
    )""",
    "CREATE INDEX IF NOT EXISTS incident_by_instance ON incident (process_instance_key)",
    "CREATE INDEX IF NOT EXISTS incident_by_state ON incident (state, created_ms)",
    """CREATE TABLE IF NOT EXISTS message (
        key INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        correlation_key TEXT NOT NULL,
        message_id TEXT NOT NULL,
        time_to_live_ms INTEGER NOT NULL,
        variables TEXT NOT NULL,
        state TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        published_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS message_by_name ON message (name, correlation_key)",
    """CREATE TABLE IF NOT EXISTS message_correlation (
        message_key INTEGER NOT NULL,
        process_instance_key INTEGER NOT NULL,
        element_id TEXT NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        PRIMARY KEY (message_key, process_instance_key)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS correlation_by_instance ON message_correlation (process_instance_key)",
    # Every event of an instance, for its timeline and for replaying it on the diagram.
    """CREATE TABLE IF NOT EXISTS timeline (
        partition_id INTEGER NOT NULL,
        position INTEGER NOT NULL,
        process_instance_key INTEGER NOT NULL,
        key INTEGER NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        value_type TEXT NOT NULL,
        intent TEXT NOT NULL,
        element_id TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (partition_id, position)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS timeline_by_instance ON timeline (process_instance_key, position)",
)


class SchemaVersionError(Exception):
    """The database was written by another version of the read model."""


def create_schema(connection: sqlite3.Connection) -> None:
    """Create what is missing; refuse a database of another schema version."""
    with connection:
        for statement in STATEMENTS:
            connection.execute(statement)
        row = connection.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif row[0] != SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the read model database has schema version {row[0]}, this version of propolis "
                f"writes version {SCHEMA_VERSION}; delete the file to rebuild it from the log"
            )
