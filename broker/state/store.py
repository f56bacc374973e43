"""LMDB environment and the byte-level helpers the domain states share.

State is a cache of "all events applied up to position P" (see DESIGN.md): the log is fsync'd
before anything is acknowledged, so LMDB runs without its own fsync (`sync=False`). LMDB keeps
its integrity across a crash in that mode; it may only lose its last transactions, which
recovery replays from the log.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lmdb
import msgpack

DB_NAMES = (
    "meta",
    "processes",
    "process_index",
    "element_instances",
    "children",
    "taken_flows",
    "variables",
    "jobs",
    "jobs_activatable",
    "job_deadlines",
    "job_backoffs",
    "incidents",
    "messages",
    "message_index",
    "message_ids",
    "message_deadlines",
    "message_correlated",
    "subscriptions",
    "subscriptions_by_instance",
    "message_start_subscriptions",
    "message_start_locks",
    "message_start_lock_of",
    "signal_subscriptions",
    "signal_subscriptions_by_instance",
    "compensations",
    "timers",
    "timer_due",
    "timer_by_instance",
    "exporters",
    "distributions_pending",
    "distribution_sequences",
    "distributions_received",
)

_INT = struct.Struct(">q")
_INT2 = struct.Struct(">qq")


def int_key(value: int) -> bytes:
    return _INT.pack(value)


def int2_key(first: int, second: int) -> bytes:
    return _INT2.pack(first, second)


def unpack_int2(data: bytes) -> tuple[int, int]:
    return _INT2.unpack(data)


def str_key(*parts: str) -> bytes:
    return "\x00".join(parts).encode() + b"\x00"


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


class Store:
    """One LMDB environment with a named database per kind of state."""

    def __init__(self, path: Path, map_size_bytes: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.env = lmdb.open(
            str(path),
            map_size=map_size_bytes,
            max_dbs=len(DB_NAMES) + 1,
            sync=False,
            metasync=False,
            readahead=False,
        )
        self.dbs = {name: self.env.open_db(name.encode()) for name in DB_NAMES}

    def close(self) -> None:
        self.env.close()


# Tables read and written by key only (never scanned while processing): while a batch is
# processed their values live decoded in overlays, one per nested transaction, and reach LMDB
# once at the end of the batch. An element instance is written several times in one command
# (each lifecycle step) and often deleted before the batch ends.
OVERLAID_DBS = frozenset({"element_instances", "jobs"})
_DELETED = object()


class Tables:
    """The current transaction and its databases; domain states read and write through it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dbs = store.dbs
        self.txn: lmdb.Transaction | None = None
        self._overlays: list[dict[tuple[str, bytes], Any]] = []

    # -- overlays (see OVERLAID_DBS) --------------------------------------------------------
    def push_overlay(self) -> None:
        self._overlays.append({})

    def merge_overlay(self) -> None:
        """Keep the top overlay's writes: into the one below, or into the transaction."""
        top = self._overlays.pop()
        if self._overlays:
            self._overlays[-1].update(top)
            return
        for (db, key), value in top.items():
            if value is _DELETED:
                self.txn.delete(key, db=self.dbs[db])
            else:
                self.txn.put(key, pack(value), db=self.dbs[db])

    def drop_overlay(self) -> None:
        self._overlays.pop()

    def _overlaid(self, db: str, key: bytes) -> Any:
        for overlay in reversed(self._overlays):
            value = overlay.get((db, key))
            if value is not None:
                return value
        return None

    def get(self, db: str, key: bytes) -> Any:
        if self._overlays and db in OVERLAID_DBS:
            value = self._overlaid(db, key)
            if value is not None:
                # A copy: callers may change the dict without writing it back.
                return None if value is _DELETED else dict(value)
        data = self.txn.get(key, db=self.dbs[db])
        return None if data is None else unpack(data)

    def has(self, db: str, key: bytes) -> bool:
        if self._overlays and db in OVERLAID_DBS:
            value = self._overlaid(db, key)
            if value is not None:
                return value is not _DELETED
        return self.txn.get(key, db=self.dbs[db]) is not None

    def put(self, db: str, key: bytes, value: Any) -> None:
        if self._overlays and db in OVERLAID_DBS:
            self._overlays[-1][(db, key)] = dict(value)
            return
        self.txn.put(key, pack(value), db=self.dbs[db])

    def put_raw(self, db: str, key: bytes, value: bytes = b"") -> None:
        self.txn.put(key, value, db=self.dbs[db])

    def delete(self, db: str, key: bytes) -> None:
        if self._overlays and db in OVERLAID_DBS:
            self._overlays[-1][(db, key)] = _DELETED
            return
        self.txn.delete(key, db=self.dbs[db])

    def scan(self, db: str, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Keys (and raw values) starting with `prefix`, in key order."""
        cursor = self.txn.cursor(db=self.dbs[db])
        if not cursor.set_range(prefix):
            return
        for key, value in cursor:
            if not key.startswith(prefix):
                return
            yield bytes(key), bytes(value)

    def scan_until(self, db: str, end_key: bytes) -> Iterator[bytes]:
        """Keys from the start of `db` up to (excluding) `end_key`."""
        cursor = self.txn.cursor(db=self.dbs[db])
        if not cursor.first():
            return
        for key in cursor.iternext(keys=True, values=False):
            if key >= end_key:
                return
            yield bytes(key)
