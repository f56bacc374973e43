"""Keyset paging over 100,000 instances: every instance exactly once, newest first, whatever
the filter, and a cursor that stays valid while new instances arrive."""

from __future__ import annotations

import sqlite3

import pytest
from propolis.exporters.read_model import InstanceFilter, ReadModel
from propolis.exporters.read_model.exporter import open_for_writing

from propolis.records import encode_key

INSTANCES = 100_000
STATES = ("ACTIVE", "COMPLETED", "CANCELED", "INCIDENT")
START_MS = 1_700_000_000_000


def instance_row(i: int) -> tuple:
    # Three instances share each start time, so ordering needs the key as tie-break.
    start = START_MS + i // 3
    state = STATES[i % 4]
    ended = state in ("COMPLETED", "CANCELED")
    return (
        encode_key(1, 10 + 2 * i), 1, 7 if i % 2 else 8, "even" if i % 2 == 0 else "odd", 1,
        "<default>" if i % 5 else "tenant-b", state, 1 if state == "INCIDENT" else 0,
        start, start + 5 if ended else None, -1,
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ReadModel:
    path = tmp_path_factory.mktemp("paging") / "rm.sqlite3"
    db = open_for_writing(path)
    with db:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO process_instance (key, partition_id, process_definition_key, bpmn_process_id, version, "
            "tenant_id, state, open_incidents, start_ms, end_ms, parent_process_instance_key) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (instance_row(i) for i in range(INSTANCES)),
        )
        db.executemany(
            "INSERT INTO variable (key, process_instance_key, scope_key, name, value, tenant_id, updated_ms) "
            "VALUES (?,?,?,'n',?,'<default>',0)",
            ((encode_key(1, 11 + 2 * i), encode_key(1, 10 + 2 * i), encode_key(1, 10 + 2 * i), str(i % 10))
             for i in range(INSTANCES)),
        )
        db.execute("COMMIT")
    db.close()
    return ReadModel(path)


def walk(model: ReadModel, where: InstanceFilter, limit: int) -> list[dict]:
    seen: list[dict] = []
    cursor = None
    while True:
        page = model.instances(where, limit=limit, cursor=cursor)
        seen.extend(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            return seen
        assert len(page["items"]) == limit


def newest_first(rows: list[dict]) -> bool:
    order = [(row["start_ms"], row["key"]) for row in rows]
    return order == sorted(order, reverse=True)


def test_pages_through_every_instance_once_newest_first(model: ReadModel) -> None:
    rows = walk(model, InstanceFilter(), limit=500)
    assert len(rows) == INSTANCES
    assert len({row["key"] for row in rows}) == INSTANCES
    assert newest_first(rows)
    assert rows[0]["key"] == encode_key(1, 10 + 2 * (INSTANCES - 1))


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (InstanceFilter(state="INCIDENT"), lambda i: i % 4 == 3),
        (InstanceFilter(has_incident=True, bpmn_process_id="odd"), lambda i: i % 4 == 3),
        (InstanceFilter(bpmn_process_id="even", state="COMPLETED"), lambda i: i % 4 == 1 and i % 2 == 0),
        (InstanceFilter(tenant_ids=("tenant-b",)), lambda i: i % 5 == 0),
        (InstanceFilter(variable_name="n", variable_value=3), lambda i: i % 10 == 3),
        (InstanceFilter(start_from_ms=START_MS + 1000, start_to_ms=START_MS + 1999), lambda i: 1000 <= i // 3 <= 1999),
        (InstanceFilter(end_from_ms=START_MS + 30_000), lambda i: i % 4 in (1, 2) and i // 3 + 5 >= 30_000),
    ],
    ids=["state", "incident+process", "process+state", "tenant", "variable", "start-time", "end-time"],
)
def test_filters_page_to_exactly_the_matching_instances(model: ReadModel, where: InstanceFilter, expected) -> None:
    rows = walk(model, where, limit=250)
    want = {instance_row(i)[0] for i in range(INSTANCES) if expected(i)}
    assert {row["key"] for row in rows} == want and len(rows) == len(want)
    assert newest_first(rows)


def test_a_cursor_stays_valid_while_new_instances_arrive(model: ReadModel) -> None:
    first = model.instances(InstanceFilter(), limit=100)
    path = model.path
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO process_instance (key, partition_id, process_definition_key, bpmn_process_id, version, "
            "tenant_id, state, start_ms, parent_process_instance_key) VALUES (?,1,7,'odd',1,'<default>','ACTIVE',?,-1)",
            (encode_key(1, 10 + 2 * INSTANCES), START_MS + INSTANCES),
        )
    second = model.instances(InstanceFilter(), limit=100, cursor=first["nextCursor"])
    assert second["items"][0]["key"] == first["items"][-1]["key"] - 2
    assert model.instances(InstanceFilter(), limit=1)["items"][0]["key"] == encode_key(1, 10 + 2 * INSTANCES)


@pytest.mark.parametrize(
    "where",
    [
        InstanceFilter(), InstanceFilter(state="ACTIVE"), InstanceFilter(has_incident=True),
        InstanceFilter(bpmn_process_id="odd"), InstanceFilter(bpmn_process_id="odd", state="COMPLETED"),
        InstanceFilter(process_definition_key=7), InstanceFilter(process_definition_key=7, state="INCIDENT"),
        InstanceFilter(tenant_ids=("tenant-b",)),
        InstanceFilter(start_from_ms=START_MS, end_to_ms=START_MS + 10),
    ],
    ids=repr,
)
def test_no_filtered_page_sorts_the_instances(model: ReadModel, where: InstanceFilter) -> None:
    # (A variable filter looks its value up in an index and sorts only the matches: that is
    # the right plan for what it is for, finding the instances of one business key.)
    sql, params = model.instance_query(where, 50, f"{START_MS + 10_000}:0")
    plan = " | ".join(str(row[3]) for row in model._db().execute("EXPLAIN QUERY PLAN " + sql, params))
    assert "INDEX" in plan and "TEMP B-TREE" not in plan, plan
