"""The seam between a partition and how its log is replicated.

`Replicator` contract:
- `replicate(payloads)` appends one batch (replicated as one unit: a Raft implementation
  sends it as one entry) and returns the position of its first record. Nothing is durable
  or committed yet.
- `commit()` blocks until everything replicated so far is durable on this node and, in a
  cluster, committed by a quorum; it returns the committed position. Only then may the
  caller acknowledge anything.
- `is_leader` says whether this node may append; followers receive batches from the leader.

`LocalReplicator` is the single-node case: append to the local log, commit = fsync.
"""

from __future__ import annotations

from typing import Protocol

from propolis.log.segmented_log import Log


class Replicator(Protocol):
    @property
    def is_leader(self) -> bool: ...

    def replicate(self, payloads: list[bytes]) -> int: ...

    def commit(self) -> int: ...

    def close(self) -> None: ...


class LocalReplicator:
    def __init__(self, log: Log) -> None:
        self._log = log

    @property
    def is_leader(self) -> bool:
        return True

    def replicate(self, payloads: list[bytes]) -> int:
        return self._log.append_batch(payloads)

    def commit(self) -> int:
        return self._log.flush()

    def close(self) -> None:
        """The log belongs to the partition, which closes it."""
