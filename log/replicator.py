"""The seam between a partition and how its log is replicated.

The `Replicator` contract, for every implementation:

- `replicate(payloads)` appends one batch and returns the position of its first record;
  the batch's records get consecutive positions. A batch is the unit of replication: a Raft
  implementation proposes it as *one* entry, so a batch is committed, lost or truncated
  whole, never in part. Only the leader may call it; elsewhere it raises `NotLeaderError`.
  When it returns, nothing is durable or committed yet, and the records may still be lost.
- `commit()` blocks until every batch replicated before the call is durable on this node
  and, in a cluster, on a quorum; it returns the committed position (at least the last
  position of those batches). Only then may the caller acknowledge anything to a client or
  run side effects that depend on those records. Calling it with nothing new is cheap. One
  `commit` covers many `replicate` calls: that is group commit.
- `committed_position` is the highest position known committed; readers that must only see
  committed records (exporters, followers applying events) read up to it.
- `is_leader` says whether this node may call `replicate` now. It may turn false at any
  moment in a cluster; a `commit` that cannot complete because leadership was lost raises
  `NotLeaderError`, and the uncommitted batches may be truncated from the local log later.
- `close()` stops replication. It does not close the log: the partition that opened the log
  closes it.

Calls come from one thread, the partition's processing thread; `committed_position` and
`is_leader` may be read from any thread.

`LocalReplicator` is the single-node case: append to the local log; commit = fsync.

`StateTransfer` is what a replicator may be given by its partition to bring a replica whose
whole log is older than what the leader still holds up to date: the leader's newest state
snapshot goes with the records after it, and the replica installs both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from propolis.log.errors import LogClosedError
from propolis.log.segmented_log import Log


@runtime_checkable
class Replicator(Protocol):
    """See the module docstring for the contract."""

    @property
    def is_leader(self) -> bool:
        """Whether this node may replicate now."""
        ...

    @property
    def committed_position(self) -> int:
        """The highest position known committed (durable on a quorum)."""
        ...

    def replicate(self, payloads: Sequence[bytes]) -> int:
        """Append one batch through replication; returns its first position. Not committed."""
        ...

    def commit(self) -> int:
        """Block until everything replicated so far is committed; returns the committed
        position."""
        ...

    def barrier(self) -> bool:
        """After winning an election: block until every batch committed in earlier terms is
        in the local log; False if this node turned out not to lead."""
        ...

    def close(self) -> None:
        """Stop replicating; the log stays open."""
        ...


class StateTransfer(Protocol):
    """A partition's side of a state transfer. Called on the replicator's thread."""

    def newest_state_snapshot(self) -> tuple[int, Path] | None:
        """(position, file) of the newest state snapshot, if any; the log holds every record
        after that position. The file stays readable while it is being sent (a snapshot is
        only deleted after newer ones were taken, and an open file outlives its deletion)."""
        ...

    def install_state(
        self, position: int, source: BinaryIO, size_bytes: int, rewrite_log: Callable[[], None],
    ) -> None:
        """Replace the state with the snapshot of `position` read from `source` (`size_bytes`
        bytes), calling `rewrite_log` (which resets the log to start after `position` and
        appends the records that came with it) while nothing reads the log. Returns once the
        partition goes on from the new state and log."""
        ...


class LocalReplicator:
    """One node, no replication: `replicate` appends to the log, `commit` fsyncs it. A batch
    is durable (committed) once `commit` returns."""

    def __init__(self, log: Log) -> None:
        self._log = log
        self._closed = False

    @property
    def is_leader(self) -> bool:
        return not self._closed

    @property
    def committed_position(self) -> int:
        return self._log.durable_position

    def replicate(self, payloads: Sequence[bytes]) -> int:
        if self._closed:
            raise LogClosedError("the replicator is closed")
        return self._log.append_batch(payloads)

    def commit(self) -> int:
        if self._closed:
            raise LogClosedError("the replicator is closed")
        return self._log.flush()

    def barrier(self) -> bool:
        """Nothing to catch up with on one node."""
        return not self._closed

    def close(self) -> None:
        """Stops accepting batches; the partition closes the log."""
        self._closed = True
