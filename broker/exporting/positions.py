"""Exporters' acknowledged positions, kept in the partition's LMDB environment.

Why not through the log, like every other piece of state: an acknowledgement is a fact about
an exporter, not about the log. Writing it as a record would make every acknowledgement a new
record to export (and to acknowledge), and it would move the log forward while nothing
happens. So, as Zeebe's exporter director does with its own state, the director writes the
`exporters` database directly, in its own small transactions. Because it lives in the same
environment it is in every snapshot; because no applier writes it and replay never touches it,
it is left out of the replay-equals-processing comparison (`recovery.NOT_FROM_LOG_DBS`), and
every other database still has to be equal.

A snapshot may hold positions older than the live ones: the log is compacted only up to the
lowest position persisted *before* the snapshot was taken (see `compaction_floor`), so a
partition restored from that snapshot still finds every record its exporters need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from propolis.broker.state.store import Store, pack, str_key, unpack

DB = "exporters"


def read_positions(store: Store) -> dict[str, int]:
    """Every stored exporter id with its acknowledged position."""
    with store.env.begin() as txn:
        cursor = txn.cursor(db=store.dbs[DB])
        return {bytes(key)[:-1].decode(): unpack(bytes(value)) for key, value in cursor}


def write_positions(store: Store, positions: Mapping[str, int], removed: Iterable[str] = ()) -> None:
    with store.env.begin(write=True) as txn:
        db = store.dbs[DB]
        for exporter_id, position in positions.items():
            txn.put(str_key(exporter_id), pack(position), db=db)
        for exporter_id in removed:
            txn.delete(str_key(exporter_id), db=db)


def compaction_floor(store: Store, exporter_ids: Iterable[str]) -> int | None:
    """The lowest persisted position of the given exporters (0 when one has none yet), or
    None without exporters: the log may be compacted up to and including it."""
    ids = list(exporter_ids)
    if not ids:
        return None
    stored = read_positions(store)
    return min(max(stored.get(exporter_id, 0), 0) for exporter_id in ids)
