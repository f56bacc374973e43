"""The SQLite read model, fed with the records of a real broker's log (real engine, real LMDB,
real log) through the exporter interface, and read back through the console's queries."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from propolis.exporters.api import Exporter, ExporterConfigError, ExporterContext
from propolis.exporters.read_model import InstanceFilter, ReadModel, ReadModelExporter
from propolis.exporters.read_model.queries import QueryError

from propolis.records import (
    IncidentIntent,
    JobIntent,
    ProcessInstanceIntent,
    Record,
    RecordType,
    ValueType,
    VariableDocumentIntent,
)
from tests.broker import models
from tests.broker.harness import BrokerHarness
from tests.exporters.controller import RecordingController

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bpmn"


def log_records(harness: BrokerHarness) -> list[Record]:
    partition = harness.broker.partition(1)
    return [Record.decode(payload) for _, payload in partition.log.reader(partition.log.first_position)]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One broker run with every kind of outcome: completed, incident, cancelled, variables
    updated, a message correlated."""
    harness = BrokerHarness(tmp_path_factory.mktemp("broker")).start()
    try:
        harness.deploy(("exclusive.bpmn", (FIXTURES / "exclusive.bpmn").read_bytes()), ("message.bpmn", models.message_catch()))
        big = harness.create("exclusive", {"amount": 150, "customer": {"name": "Ada"}}).value["processInstanceKey"]
        small = harness.create("exclusive", {"amount": 10}).value["processInstanceKey"]
        medium = harness.create("exclusive", {"amount": 60}).value["processInstanceKey"]
        waiting = harness.create("message-catch", {"orderId": "o-1"}).value["processInstanceKey"]
        for job_key, _ in harness.activate("big"):
            harness.execute(ValueType.JOB, JobIntent.FAIL, {"retries": 0, "errorMessage": "card declined"}, key=job_key)
        for job_key, _ in harness.activate("small"):
            harness.complete(job_key, {"shipped": True})
        harness.execute(ValueType.PROCESS_INSTANCE, ProcessInstanceIntent.CANCEL, {}, key=medium)
        harness.execute(
            ValueType.VARIABLE_DOCUMENT, VariableDocumentIntent.UPDATE,
            {"scopeKey": big, "variables": {"amount": 99}, "updateSemantics": "PROPAGATE"},
        )
        yield {
            "records": log_records(harness), "big": big, "small": small, "medium": medium,
            "waiting": waiting, "harness": harness,
        }
    finally:
        harness.close()


def export(path: Path, records: list[Record], partition_id: int = 1, **args) -> tuple[ReadModelExporter, RecordingController]:
    exporter = ReadModelExporter()
    context = ExporterContext("readModel", partition_id, {"path": str(path), **args})
    exporter.configure(context)
    controller = RecordingController()
    exporter.open(controller)
    for record in records:
        if context.record_filter.accepts(record):
            exporter.export(record)
    exporter.flush()
    return exporter, controller


def table_contents(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            table: sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in tables
            if table != "exporter_position"
        }


def test_is_an_exporter() -> None:
    assert isinstance(ReadModelExporter(), Exporter)


def test_lists_each_deployed_process_with_its_xml_and_instance_counts(scenario, tmp_path: Path) -> None:
    exporter, _ = export(tmp_path / "rm.sqlite3", scenario["records"])
    exporter.close()
    model = ReadModel(tmp_path / "rm.sqlite3")
    processes = {p["bpmn_process_id"]: p for p in model.processes()}
    assert set(processes) == {"exclusive", "message-catch"}
    exclusive = processes["exclusive"]
    assert (exclusive["active"], exclusive["incident"], exclusive["completed"], exclusive["canceled"]) == (0, 1, 1, 1)
    assert (processes["message-catch"]["active"], processes["message-catch"]["incident"]) == (1, 0)
    detail = model.process(exclusive["key"])
    assert detail["bpmn_xml"].startswith("<?xml") and 'id="amount-check"' in detail["bpmn_xml"]


def test_counts_instances_per_element_for_the_diagram_overlays(scenario, tmp_path: Path) -> None:
    export(tmp_path / "rm.sqlite3", scenario["records"])[0].close()
    model = ReadModel(tmp_path / "rm.sqlite3")
    key = next(p["key"] for p in model.processes() if p["bpmn_process_id"] == "exclusive")
    stats = model.element_stats(key)
    assert stats["big"] == {"active": 1, "incident": 1, "completed": 0, "canceled": 0}
    assert stats["small"] == {"active": 0, "incident": 0, "completed": 1, "canceled": 0}
    assert stats["medium"] == {"active": 0, "incident": 0, "completed": 0, "canceled": 1}
    assert stats["end"]["completed"] == 1
    assert stats["start"]["completed"] == 3


def test_an_instance_shows_its_path_variables_incident_and_job(scenario, tmp_path: Path) -> None:
    export(tmp_path / "rm.sqlite3", scenario["records"])[0].close()
    model = ReadModel(tmp_path / "rm.sqlite3")
    big = model.instance(scenario["big"])
    assert big["state"] == "INCIDENT" and big["open_incidents"] == 1 and big["end_ms"] is None
    assert big["taken_flows"] == ["start-to-check", "to-big"]
    active = [e["element_id"] for e in big["elements"] if e["state"] == "ACTIVE"]
    assert active == ["big"]
    variables = {v["name"]: v["value"] for v in big["variables"]}
    assert variables == {"amount": 99, "customer": {"name": "Ada"}}
    amount_key = next(v["key"] for v in big["variables"] if v["name"] == "amount")
    assert [h["value"] for h in model.variable_history(amount_key)] == [150, 99]
    (incident,) = big["incidents"]
    assert (incident["error_type"], incident["error_message"], incident["state"]) == ("JOB_NO_RETRIES", "card declined", "OPEN")
    (job,) = big["jobs"]
    assert job["key"] == incident["job_key"] and job["state"] == "FAILED" and job["retries"] == 0

    small = model.instance(scenario["small"])
    assert small["state"] == "COMPLETED" and small["end_ms"] is not None
    assert "small-done" in small["taken_flows"] and "to-end" in small["taken_flows"]
    assert {v["name"]: v["value"] for v in small["variables"]}["shipped"] is True
    medium = model.instance(scenario["medium"])
    assert medium["state"] == "CANCELED"
    assert [e["state"] for e in medium["elements"] if e["element_id"] == "medium"] == ["CANCELED"]


def test_the_timeline_holds_the_instances_events_in_log_order(scenario, tmp_path: Path) -> None:
    export(tmp_path / "rm.sqlite3", scenario["records"])[0].close()
    model = ReadModel(tmp_path / "rm.sqlite3")
    timeline = model.timeline(scenario["small"])
    positions = [event["position"] for event in timeline]
    assert positions == sorted(positions)
    steps = [(e["value_type"], e["intent"], e["element_id"]) for e in timeline if e["value_type"] == "PROCESS_INSTANCE"]
    assert steps[0] == ("PROCESS_INSTANCE", "ELEMENT_ACTIVATING", "exclusive")
    assert steps[-1] == ("PROCESS_INSTANCE", "ELEMENT_COMPLETED", "exclusive")
    assert ("PROCESS_INSTANCE", "SEQUENCE_FLOW_TAKEN", "to-small") in steps
    assert any(e["value_type"] == "JOB" and e["intent"] == "COMPLETED" for e in timeline)
    later = model.timeline(scenario["small"], after_position=positions[4])
    assert [e["position"] for e in later] == positions[5:]


def test_resolving_an_incident_puts_the_instance_back_to_active(scenario, tmp_path: Path) -> None:
    harness: BrokerHarness = scenario["harness"]
    path = tmp_path / "rm.sqlite3"
    exporter, _ = export(path, scenario["records"])
    model = ReadModel(path)
    (incident,) = model.instance(scenario["big"])["incidents"]
    harness.execute(ValueType.JOB, JobIntent.UPDATE_RETRIES, {"retries": 2}, key=incident["job_key"])
    harness.execute(ValueType.INCIDENT, IncidentIntent.RESOLVE, {}, key=incident["key"])
    for record in log_records(harness):
        exporter.export(record)
    exporter.flush()
    instance = model.instance(scenario["big"])
    assert instance["state"] == "ACTIVE" and instance["incidents"][0]["state"] == "RESOLVED"
    assert instance["jobs"][0]["retries"] == 2
    definition = model.process(instance["process_definition_key"])
    assert definition["incident"] == 0 and definition["active"] == 1
    assert model.element_stats(instance["process_definition_key"])["big"]["incident"] == 0
    exporter.close()


def test_redelivered_records_change_nothing(scenario, tmp_path: Path) -> None:
    once, twice = tmp_path / "once.sqlite3", tmp_path / "twice.sqlite3"
    records = scenario["records"]
    export(once, records)[0].close()
    exporter, _ = export(twice, records)
    for record in records[: len(records) // 2]:  # the director re-sends after a leader change
        exporter.export(record)
    exporter.close()
    reopened, controller = export(twice, records)  # after a restart: everything again
    reopened.close()
    assert table_contents(once) == table_contents(twice)
    exported = [r for r in records if r.record_type == RecordType.EVENT and r.value_type != ValueType.VARIABLE_DOCUMENT]
    assert controller.acknowledged[0] == exported[-1].position  # known at open, from the file


def test_commits_and_acknowledges_on_the_flush_task_and_every_flush_records_max(scenario, tmp_path: Path) -> None:
    records = [r for r in scenario["records"] if r.record_type == RecordType.EVENT]
    exporter = ReadModelExporter()
    exporter.configure(ExporterContext("readModel", 1, {"path": str(tmp_path / "rm.sqlite3"), "flushRecordsMax": 10}))
    controller = RecordingController()
    exporter.open(controller)
    for record in records[:25]:
        exporter.export(record)
    assert controller.acknowledged == [records[9].position, records[19].position]
    (task,) = controller.tasks
    assert task.delay_ms == 200
    controller.run_due_tasks()
    assert controller.acknowledged[-1] == records[24].position
    assert len(controller.tasks) == 1  # the flush task schedules itself again
    exporter.close()
    assert controller.tasks[0].cancelled


def test_a_failing_record_leaves_nothing_behind_and_can_be_exported_again(scenario, tmp_path: Path) -> None:
    records = [r for r in scenario["records"] if r.value_type == ValueType.PROCESS_INSTANCE]
    path = tmp_path / "rm.sqlite3"
    exporter, _ = export(path, records[:3])
    broken = Record(RecordType.EVENT, ValueType.PROCESS_INSTANCE, ProcessInstanceIntent.ELEMENT_ACTIVATING,
                    key=records[3].key, value={"bpmnElementType": "SERVICE_TASK", "processInstanceKey": 1},
                    position=records[3].position)
    with pytest.raises(KeyError):
        exporter.export(broken)
    exporter.export(records[3])
    exporter.close()
    with sqlite3.connect(path) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM timeline WHERE position = ?", (records[3].position,)).fetchone()
    assert count == 1


def test_partitions_keep_their_own_positions_in_one_file(scenario, tmp_path: Path) -> None:
    path = tmp_path / "rm.sqlite3"
    first, _ = export(path, scenario["records"][:10], partition_id=1)
    second, _ = export(path, [], partition_id=2)
    first.close()
    second.close()
    assert set(ReadModel(path).positions()) == {1}  # partition 2 exported nothing yet


@pytest.mark.parametrize(
    ("args", "field"),
    [({}, "path"), ({"path": ""}, "path"), ({"path": "x", "flushIntervalMs": 0}, "flushIntervalMs"),
     ({"path": "x", "flushRecordsMax": "ten"}, "flushRecordsMax"), ({"path": "x", "pth": 1}, "pth")],
)
def test_refuses_bad_args_naming_the_field(args: dict, field: str) -> None:
    with pytest.raises(ExporterConfigError, match=field):
        ReadModelExporter().configure(ExporterContext("readModel", 1, args))


def test_filters_instances_and_refuses_bad_filters(scenario, tmp_path: Path) -> None:
    export(tmp_path / "rm.sqlite3", scenario["records"])[0].close()
    model = ReadModel(tmp_path / "rm.sqlite3")

    def keys(**where) -> list[int]:
        return [i["key"] for i in model.instances(InstanceFilter(**where))["items"]]

    assert keys(bpmn_process_id="exclusive") == [scenario["medium"], scenario["small"], scenario["big"]]
    assert keys(has_incident=True) == [scenario["big"]]
    assert keys(state="COMPLETED") == [scenario["small"]]
    assert keys(state="ACTIVE") == [scenario["waiting"]]
    assert keys(variable_name="amount", variable_value=10) == [scenario["small"]]
    assert keys(variable_name="customer", variable_value={"name": "Ada"}) == [scenario["big"]]
    assert keys(variable_name="orderId") == [scenario["waiting"]]
    assert keys(tenant_ids=("other",)) == []
    assert set(keys(tenant_ids=("<default>",))) == {scenario[k] for k in ("big", "small", "medium", "waiting")}
    with pytest.raises(QueryError, match="state"):
        InstanceFilter(state="RUNNING")
    with pytest.raises(QueryError, match="cursor"):
        model.instances(InstanceFilter(), cursor="yesterday")
