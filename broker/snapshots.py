"""Snapshots of partition state: consistent copies of the LMDB environment, named by the
log position they include. Start = newest snapshot + replay of the log after it.

A snapshot is written to a temporary folder, fsync'd, then renamed into place, so a crash
leaves either the whole snapshot or none.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import BinaryIO

import lmdb
from propolis.broker.state.meta_state import MetaState
from propolis.broker.state.store import Store, Tables

SNAPSHOT_FILE = "data.mdb"
COPY_CHUNK_BYTES = 1 << 20


class SnapshotStore:
    def __init__(self, directory: Path, kept: int) -> None:
        self.directory = directory
        self.kept = kept
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob("*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)

    def latest(self) -> tuple[int, Path] | None:
        snapshots = sorted(
            (int(p.name), p) for p in self.directory.iterdir() if p.is_dir() and p.name.isdigit()
        )
        return snapshots[-1] if snapshots else None

    def take(self, store: Store) -> int:
        """Copy the state as of now; returns the position the snapshot includes."""
        with store.env.begin() as txn:
            tables = Tables(store)
            tables.txn = txn
            position = MetaState(tables).last_applied_position()
            target = self.directory / f"{position:020d}"
            if target.exists():
                return position
            temporary = self.directory / f"{position:020d}.tmp"
            shutil.rmtree(temporary, ignore_errors=True)
            temporary.mkdir()
            store.env.copy(str(temporary), compact=True, txn=txn)
        _fsync_file(temporary / SNAPSHOT_FILE)
        os.rename(temporary, target)
        _fsync_file(self.directory)
        self._prune()
        return position

    def put(self, position: int, source: BinaryIO, size_bytes: int) -> None:
        """Store a snapshot another replica took (the state as of `position`), read from
        `source`; durable when it returns."""
        target = self.directory / f"{position:020d}"
        if target.exists():
            return
        temporary = self.directory / f"{position:020d}.tmp"
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        with open(temporary / SNAPSHOT_FILE, "wb") as out:
            left = size_bytes
            while left > 0:
                data = source.read(min(left, COPY_CHUNK_BYTES))
                if not data:
                    raise ValueError(f"the snapshot of position {position} ended {left} bytes early")
                out.write(data)
                left -= len(data)
        _fsync_file(temporary / SNAPSHOT_FILE)
        os.rename(temporary, target)
        _fsync_file(self.directory)
        self._prune()

    def restore(self, state_dir: Path) -> int:
        """Replace `state_dir` with the newest snapshot; returns its position (0: none)."""
        shutil.rmtree(state_dir, ignore_errors=True)
        latest = self.latest()
        state_dir.mkdir(parents=True, exist_ok=True)
        if latest is None:
            return 0
        shutil.copyfile(latest[1] / SNAPSHOT_FILE, state_dir / SNAPSHOT_FILE)
        return latest[0]

    def _prune(self) -> None:
        snapshots = sorted(int(p.name) for p in self.directory.iterdir() if p.is_dir() and p.name.isdigit())
        for position in snapshots[: -self.kept]:
            shutil.rmtree(self.directory / f"{position:020d}", ignore_errors=True)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_valid_state(state_dir: Path) -> bool:
    if not (state_dir / SNAPSHOT_FILE).exists():
        return False
    try:
        env = lmdb.open(str(state_dir), readonly=True, max_dbs=32, lock=False)
    except lmdb.Error:
        return False
    env.close()
    return True
