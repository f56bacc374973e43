"""Raft replication of a partition's log through pysyncobj (the one adapter of it).

Each partition is one Raft group of its replicas. One Raft entry is one batch (the facts
measured with pysyncobj 0.3.17: committing entries one by one is slow, batches of msgpack
records are fast). Applying a committed entry, on every replica including the leader, appends
the batch to that replica's own log and fsyncs it: pysyncobj's journal is never fsynced, so our
log is what is durable, and `commit()` returns only after the leader's log has the batch.

An entry carries the position its batch starts at. A replica appends it only if that is the
position after its log's last one: every replica applies the same entries in the same order to
equal logs, so all of them skip the same stale entries (a batch proposed by a leader that lost
its term while another leader went on), and entries a restarted replica already has (its
journal replayed, or the leader resending) are skipped too.

Messages between replicas are pickled by pysyncobj, so the Raft port is only ever opened with
a password (pysyncobj then encrypts and authenticates every connection).

Compaction of pysyncobj's own log is off: a replica that fell behind catches up from the
leader's entries (our log compacts on its own). The entries stay in memory and in the journal.

`commit()` raises `NotLeaderError` when the batch was not committed in time or was skipped:
the caller must throw away what it processed for that batch (the state is then rebuilt from
the log, which is the same on every replica).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from propolis.log.errors import LogClosedError, NotLeaderError
from propolis.log.segmented_log import Log
from pysyncobj import SyncObj, SyncObjConf, replicated

COMMIT_TIMEOUT_S = 5.0
NEVER_COMPACT = 1 << 62


class _ReplicatedLog(SyncObj):
    def __init__(self, self_address: str, partners: list[str], conf: SyncObjConf, log: Log) -> None:
        self._log_ref = log
        self._log_lock = threading.Lock()
        super().__init__(self_address, partners, conf)

    @replicated
    def append_batch(self, first_position: int, payloads: list[bytes]) -> bool:
        with self._log_lock:
            log = self._log_ref
            if first_position != log.last_position + 1:
                return False
            if payloads:
                log.append_batch(payloads)
                log.flush()
            return True


class RaftReplicator:
    """The `Replicator` contract (log/replicator.py) over a pysyncobj Raft group."""

    def __init__(
        self,
        log: Log,
        self_address: str,
        partner_addresses: list[str],
        password: str,
        journal_path: Path,
        election_timeout_s: tuple[float, float] = (0.4, 0.8),
    ) -> None:
        if not password:
            raise ValueError("a Raft port is never opened without a password (its messages are pickled)")
        self._log = log
        conf = SyncObjConf(
            password=password,
            appendEntriesUseBatch=False,  # ~1 ms per entry instead of a 100 ms batching tick
            journalFile=str(journal_path),
            logCompactionMinEntries=NEVER_COMPACT,
            logCompactionMinTime=NEVER_COMPACT,
            dynamicMembershipChange=False,
            commandsWaitLeader=False,
            raftMinTimeout=election_timeout_s[0],
            raftMaxTimeout=election_timeout_s[1],
            connectionRetryTime=0.5,
            connectionTimeout=1.5,
        )
        self._raft = _ReplicatedLog(self_address, partner_addresses, conf, log)
        self._waiting: threading.Event | None = None
        self._result: tuple[Any, Any] = (None, None)
        self._proposed = 0
        self._closed = False

    @property
    def is_leader(self) -> bool:
        return not self._closed and self._raft._isLeader()

    @property
    def leader_address(self) -> str | None:
        leader = self._raft._getLeader()
        return None if leader is None else str(leader.address if hasattr(leader, "address") else leader)

    @property
    def committed_position(self) -> int:
        return self._log.durable_position

    def replicate(self, payloads: Sequence[bytes]) -> int:
        if self._closed:
            raise LogClosedError("the replicator is closed")
        first = self._log.last_position + 1
        self._propose(first, list(payloads))
        return first

    def _propose(self, first_position: int, payloads: list[bytes]) -> None:
        done = threading.Event()

        def on_result(result: Any, error: Any) -> None:
            self._result = (result, error)
            done.set()

        self._waiting = done
        self._raft.append_batch(first_position, payloads, callback=on_result)

    def commit(self) -> int:
        if self._closed:
            raise LogClosedError("the replicator is closed")
        waiting, self._waiting = self._waiting, None
        if waiting is None:
            return self._log.durable_position
        if not waiting.wait(COMMIT_TIMEOUT_S):
            raise NotLeaderError(f"a batch was not committed within {COMMIT_TIMEOUT_S} s (leader lost?)")
        result, error = self._result
        if error is not None and str(error) != "0" and result is not True:
            raise NotLeaderError(f"the batch was not committed: {error}")
        if result is not True:
            raise NotLeaderError("the batch was skipped: another leader appended first")
        return self._log.durable_position

    def barrier(self) -> bool:
        """After becoming leader: commit an empty entry, so that every entry of earlier terms is
        applied to the log. False if that failed (not leader after all)."""
        self._propose(self._log.last_position + 1, [])
        try:
            self.commit()
            return True
        except NotLeaderError:
            return False

    def close(self) -> None:
        self._closed = True
        self._raft.destroy_synchronous()
