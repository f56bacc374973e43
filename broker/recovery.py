"""Replay: rebuild state by applying the events of the log's complete batches.

Used on start (state + log after its position) and by the replay check, which rebuilds a
partition's state from its newest snapshot plus the log in a separate folder and compares it,
database by database, with the state on disk. They must be equal: state is only ever a
cache of the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from propolis.broker.appliers import apply_event
from propolis.broker.engine.context import KeyGenerator
from propolis.broker.snapshots import SnapshotStore
from propolis.broker.state import State
from propolis.broker.state.store import DB_NAMES, Store

from propolis.records import Record, RecordType

REPLAY_BATCHES_PER_TXN = 1_000
# Databases no applier writes, so replay cannot rebuild them: the exporters' acknowledged
# positions (see broker/exporting/positions.py for why they do not go through the log).
NOT_FROM_LOG_DBS = frozenset({"exporters"})


def replay(log: Any, state: State, keys: KeyGenerator) -> tuple[int, int | None]:
    """Apply events after the state's position. Returns (records replayed, the position where
    an incomplete trailing batch starts, or None)."""
    store = state.tables.store
    with store.env.begin() as txn:
        state.tables.txn = txn
        applied = state.meta.last_applied_position()
    batch: list[Record] = []
    complete: list[Record] = []
    replayed = 0
    batches = 0
    for _, payload in log.reader(applied + 1):
        record = Record.decode(payload)
        batch.append(record)
        if record.batch_end:
            complete.extend(batch)
            batch = []
            batches += 1
            if batches >= REPLAY_BATCHES_PER_TXN:
                replayed += _apply(state, keys, complete)
                complete, batches = [], 0
    replayed += _apply(state, keys, complete)
    return replayed, (batch[0].position if batch else None)


def _apply(state: State, keys: KeyGenerator, records: list[Record]) -> int:
    if not records:
        return 0
    with state.tables.store.env.begin(write=True) as txn:
        state.tables.txn = txn
        meta = state.meta
        last_command = meta.last_processed_position()
        for record in records:
            if record.record_type == RecordType.EVENT:
                apply_event(state, record)
                keys.observe(record.key)
            else:
                last_command = max(last_command, record.position)
        meta.set_positions(records[-1].position, last_command)
        meta.set_key_counter(keys.counter)
    return len(records)


def dump_state(store: Store) -> dict[str, list[tuple[bytes, bytes]]]:
    with store.env.begin() as txn:
        return {
            name: [(bytes(k), bytes(v)) for k, v in txn.cursor(db=store.dbs[name])]
            for name in DB_NAMES
        }


def rebuild_from_snapshot_and_log(partition_dir: Path, target_dir: Path, partition_id: int, map_size_bytes: int = 1 << 30) -> Store:
    """Restore the newest snapshot into `target_dir` and replay the partition's log onto it."""
    from propolis.log.segmented_log import Log

    snapshots = SnapshotStore(partition_dir / "snapshots", kept=1_000_000)
    snapshots.restore(target_dir)
    store = Store(target_dir, map_size_bytes)
    state = State(store)
    with store.env.begin() as txn:
        state.tables.txn = txn
        counter = state.meta.key_counter()
    log = Log.open(partition_dir / "log")
    try:
        replay(log, state, KeyGenerator(partition_id, counter))
    finally:
        log.close()
    return store


def compare_states(expected: Store, actual: Store) -> list[str]:
    """Differences between two states, as readable lines (empty when equal); the databases
    the log does not determine (NOT_FROM_LOG_DBS) are left out."""
    differences = []
    left, right = dump_state(expected), dump_state(actual)
    for name in DB_NAMES:
        if name in NOT_FROM_LOG_DBS:
            continue
        a, b = dict(left[name]), dict(right[name])
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                differences.append(f"{name}[{key.hex()}]: {a.get(key)!r} != {b.get(key)!r}")
    return differences
