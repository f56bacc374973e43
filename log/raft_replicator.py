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
journal replayed, or the leader resending) are skipped too. An entry's position is never more
than one past the log of the replicas applying it (its proposer had applied fewer entries), so
a replica whose log is *ahead* of the entries it applies (it holds records of later entries)
skips exactly the entries whose records it already holds and ends with the same log.

Messages between replicas are pickled by pysyncobj, so the Raft port is only ever opened with
a password (pysyncobj then encrypts and authenticates every connection).

Compaction of pysyncobj's log (its journal file and the entries it keeps in memory): when it
holds more than `compaction_entries_min` entries, or `compaction_interval_s` has passed,
pysyncobj snapshots the state machine and drops the entries it covers. Our state machine *is*
the log, already durable, so the snapshot file holds only pysyncobj's own data (the last two
applied entries and the members) and the log position reached: it is small and written on the
Raft thread in a moment. A follower that needs entries the leader has dropped gets the snapshot
instead (pysyncobj sends it in chunks of `SNAPSHOT_CHUNK_BYTES`); we replace what pysyncobj
sends with the snapshot header followed by every record the leader's log still holds (the
leader does not know the follower's position). The follower appends the records after its
own last position (its log is a prefix of the leader's: both only ever hold committed records
in order) and from then on applies the entries after the snapshot like any replica whose log is
ahead. Its stream processor applies the new events to its state as it does for any record.

A follower whose last position is before the first record the leader's log still holds (the
leader took a state snapshot and compacted its log past it) needs the state too: when its log
no longer starts at position 1, the leader sends its newest state snapshot between the header
and the records (the `StateTransfer` its partition gave it, log/replicator.py), and such a
follower has its partition install that state, reset its log to start right after it and
append the records after it. Without a `StateTransfer` (or with a snapshot that does not reach
its log) a follower logs an error, keeps its own snapshot file and stays behind without
diverging: its Raft log stays as old as its records, so it cannot be elected meanwhile.

Our deserializer runs on the Raft thread, which does not tick meanwhile: after a large catch-up
this replica's election timer may have run out, so it may start an election (Raft copes: the
higher term makes the leader step down, and a leader is elected again).

`commit()` raises `NotLeaderError` when the batch was not committed in time or was skipped:
the caller must throw away what it processed for that batch (the state is then rebuilt from
the log, which is the same on every replica).
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from propolis.log.errors import LogClosedError, LogError, NotLeaderError
from propolis.log.replicator import StateTransfer
from propolis.log.segmented_log import Log
from pysyncobj import SyncObj, SyncObjConf, replicated

logger = logging.getLogger(__name__)

COMMIT_TIMEOUT_S = 5.0
COMPACTION_ENTRIES_MIN_DEFAULT = 2_000
COMPACTION_INTERVAL_S_DEFAULT = 60.0
# A snapshot goes to a follower in messages of about this size (pysyncobj's transfer unit).
SNAPSHOT_CHUNK_BYTES = 1 << 20
# A catching-up follower appends the snapshot's records to its log in batches of about this size.
CATCH_UP_BATCH_BYTES = 4 << 20

_SNAPSHOT_MAGIC = b"PRSN1"
_LENGTH = struct.Struct(">I")


class SnapshotCatchUpError(LogError):
    """A snapshot from the leader does not bring this replica's log up to it."""


class _Snapshot:
    """The header of a snapshot file: pysyncobj's data and the log position it covers, then
    what follows it in the file: a state snapshot (`state_bytes` of it, the state as of
    `state_position`) and the records `records_from..records_to`. A replica's own snapshots
    have neither; those the leader sends have every record it holds, and its newest state
    snapshot when its log no longer starts at position 1."""

    def __init__(
        self, raft_data: tuple[Any, ...], position: int, records_from: int, records_to: int,
        state_position: int = 0, state_bytes: int = 0,
    ) -> None:
        self.raft_data = raft_data
        self.position = position
        self.records_from = records_from
        self.records_to = records_to
        self.state_position = state_position
        self.state_bytes = state_bytes

    def encode(self) -> bytes:
        body = pickle.dumps(
            {"raft": self.raft_data, "position": self.position, "records_from": self.records_from,
             "records_to": self.records_to, "state_position": self.state_position,
             "state_bytes": self.state_bytes},
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        return _SNAPSHOT_MAGIC + _LENGTH.pack(len(body)) + body

    @classmethod
    def read(cls, file: BinaryIO) -> _Snapshot:
        magic = file.read(len(_SNAPSHOT_MAGIC))
        if magic != _SNAPSHOT_MAGIC:
            raise SnapshotCatchUpError(f"not a propolis Raft snapshot (it starts with {magic!r})")
        (length,) = _LENGTH.unpack(_read_exactly(file, _LENGTH.size))
        fields = pickle.loads(_read_exactly(file, length))
        return cls(
            tuple(fields["raft"]), fields["position"], fields["records_from"], fields["records_to"],
            fields["state_position"], fields["state_bytes"],
        )


def _read_exactly(file: BinaryIO, size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise SnapshotCatchUpError(f"the snapshot file ends early ({len(data)} of {size} bytes)")
    return data


class _Snapshots:
    """pysyncobj's `serializer`/`deserializer` and the sending side of its snapshot transfer.

    Called on the Raft thread only (the one thread that appends to the log while it is
    replicated), so the log does not move while a snapshot is written or installed."""

    def __init__(self, log: Log, log_lock: threading.Lock, state_transfer: StateTransfer | None) -> None:
        self._log = log
        self._log_lock = log_lock
        self._state_transfer = state_transfer
        self._current: _Snapshot | None = None  # the newest snapshot written or installed
        self._raft: Any = None  # the SyncObj these belong to, for its journal on start
        self._sending: dict[Any, tuple[Iterator[bytes], list[bool]]] = {}

    def write(self, file_name: str, raft_data: tuple[Any, ...]) -> None:
        """pysyncobj's serializer: the log is durable already, so only the position."""
        with self._log_lock:
            position = self._log.last_position
        snapshot = _Snapshot(tuple(raft_data), position, position + 1, position)
        with open(file_name, "wb") as file:
            file.write(snapshot.encode())
            file.flush()
            os.fsync(file.fileno())
        self._current = snapshot

    def read(self, file_name: str) -> tuple[Any, ...]:
        """pysyncobj's deserializer: on start (our own snapshot, or one installed before) and
        when a snapshot from the leader has arrived. Appends the records this replica lacks."""
        try:
            with open(file_name, "rb") as file:
                snapshot = _Snapshot.read(file)
                with self._log_lock:
                    self._catch_up(snapshot, file)
        except SnapshotCatchUpError:
            # pysyncobj put the leader's snapshot in place of ours and keeps its own log as it
            # was: put ours back, so that a restart finds the snapshot that matches that log.
            self._restore(file_name)
            raise
        self._current = _Snapshot(snapshot.raft_data, snapshot.position, snapshot.position + 1, snapshot.position)
        return self._journal_head_on_start(snapshot.raft_data) or snapshot.raft_data

    def _journal_head_on_start(self, raft_data: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """On start pysyncobj drops its whole journal unless it begins with the snapshot's two
        entries, which it does not after a crash between writing a snapshot and compacting the
        journal (a tick later): the entries after the snapshot would be lost, committed ones
        among them, which this replica may have helped commit; a leader elected without them
        would then propose other batches at positions replicas that applied them hold.
        So when the journal still holds the snapshot's entries, pysyncobj gets the journal's
        first two: it keeps the journal and applies again from there (our appends skip what
        the log holds already)."""
        raft = self._raft
        if raft is None or not getattr(raft, "_SyncObj__needLoadDumpFile", False):
            return None  # not the start: a snapshot from the leader, which replaces the journal
        journal = raft._SyncObj__raftLog
        last_entry, previous_entry = raft_data[0], raft_data[1]
        if len(journal) < 2 or journal[0][1] >= previous_entry[1] or journal[-1][1] < last_entry[1]:
            return None
        first = journal[0][1]
        if journal[previous_entry[1] - first] != previous_entry or journal[last_entry[1] - first] != last_entry:
            return None
        logger.info(
            "the Raft journal was not compacted to its snapshot before the stop: kept whole from entry %d",
            first, extra={"log_directory": str(self._log.directory)},
        )
        return journal[1], journal[0], raft_data[2]

    def _restore(self, file_name: str) -> None:
        if self._current is None:  # nothing of ours was there (or this is the start: keep it)
            return
        temporary = file_name + ".restore"
        with open(temporary, "wb") as file:
            file.write(self._current.encode())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, file_name)

    def _catch_up(self, snapshot: _Snapshot, file: BinaryIO) -> None:
        log = self._log
        last = log.last_position
        if last >= snapshot.position:
            return
        if snapshot.records_from <= last + 1 <= snapshot.records_to:
            file.seek(snapshot.state_bytes, os.SEEK_CUR)
            self._append_records(snapshot, file, last)
            return
        transfer = self._state_transfer
        if (
            transfer is None or not snapshot.state_bytes
            or not snapshot.records_from <= snapshot.state_position + 1 <= snapshot.records_to + 1
        ):
            raise SnapshotCatchUpError(
                f"the log {log.directory} ends at position {last}, the Raft snapshot covers up to "
                f"{snapshot.position} and brings records {snapshot.records_from}..{snapshot.records_to}"
                + (f" and the state as of position {snapshot.state_position}" if snapshot.state_bytes else "")
                + ": the records this replica lacks are not there and it cannot install the state; "
                "it stays behind"
            )
        state_start = file.tell()

        def rewrite_log() -> None:
            file.seek(state_start + snapshot.state_bytes)
            log.reset(snapshot.state_position + 1)
            self._append_records(snapshot, file, snapshot.state_position)

        transfer.install_state(snapshot.state_position, file, snapshot.state_bytes, rewrite_log)
        logger.info(
            "installed the leader's state as of position %d from a Raft snapshot",
            snapshot.state_position, extra={"log_directory": str(log.directory), "position": snapshot.state_position},
        )

    def _append_records(self, snapshot: _Snapshot, file: BinaryIO, after: int) -> None:
        """Append the file's records after position `after` (the file is at its records)."""
        log = self._log
        batch: list[bytes] = []
        batch_bytes = 0
        appended = 0
        for position in range(snapshot.records_from, snapshot.records_to + 1):
            (length,) = _LENGTH.unpack(_read_exactly(file, _LENGTH.size))
            payload = _read_exactly(file, length)
            if position <= after:
                continue
            batch.append(payload)
            batch_bytes += length
            if batch_bytes >= CATCH_UP_BATCH_BYTES:
                log.append_batch(batch)
                appended += len(batch)
                batch, batch_bytes = [], 0
        if batch:
            log.append_batch(batch)
            appended += len(batch)
        log.flush()
        logger.info(
            "caught up from a Raft snapshot: %d records appended, the log now ends at position %d",
            appended, log.last_position,
            extra={"log_directory": str(log.directory), "records_appended": appended, "position": log.last_position},
        )

    # -- sending (replaces pysyncobj's Serializer.getTransmissionData / cancelTransmisstion) --
    def next_chunk(self, node: Any) -> tuple[bytes, bool, bool] | None:
        """(data, is first, is last) of the snapshot transfer to `node`; None: nothing to send
        now (pysyncobj then tries again on a later tick, from the start)."""
        sending = self._sending.get(node)
        if sending is None:
            if self._current is None:
                return None
            sending = (self._stream(self._current), [True])
            self._sending[node] = sending
        chunks, first = sending
        try:
            data = next(chunks, None)
        except (LogError, OSError) as error:
            logger.warning("a Raft snapshot transfer failed and starts over: %s", error)
            self._sending.pop(node, None)
            return None
        if data is None:
            self._sending.pop(node, None)
            return b"", False, True
        is_first, first[0] = first[0], False
        return data, is_first, False

    def cancel(self, node: Any) -> None:
        self._sending.pop(node, None)

    def _stream(self, snapshot: _Snapshot) -> Iterator[bytes]:
        """The snapshot's header, then every record the log holds (all committed: the log
        only receives applied entries), in chunks."""
        log = self._log
        records_from, records_to = log.first_position, log.last_position
        if records_to < snapshot.position:
            raise SnapshotCatchUpError(f"the log ends at {records_to}, before its snapshot's {snapshot.position}")
        state = None
        if records_from > 1 and self._state_transfer is not None:
            state = self._state_transfer.newest_state_snapshot()
        if state is None:
            yield _Snapshot(snapshot.raft_data, snapshot.position, records_from, records_to).encode()
        else:
            state_position, state_path = state
            if state_position + 1 < records_from:
                raise SnapshotCatchUpError(
                    f"the state snapshot of position {state_position} is older than the log ({records_from})"
                )
            with open(state_path, "rb") as state_file:
                state_bytes = os.fstat(state_file.fileno()).st_size
                yield _Snapshot(
                    snapshot.raft_data, snapshot.position, records_from, records_to, state_position, state_bytes,
                ).encode()
                left = state_bytes
                while left > 0:
                    data = state_file.read(min(left, SNAPSHOT_CHUNK_BYTES))
                    if not data:
                        raise SnapshotCatchUpError(f"the state snapshot {state_path} ended {left} bytes early")
                    left -= len(data)
                    yield data
        chunk = bytearray()
        expected = records_from
        for position, payload in log.reader(records_from, records_to):
            if position != expected:
                raise SnapshotCatchUpError(f"the log skipped from position {expected} to {position}")
            expected += 1
            chunk += _LENGTH.pack(len(payload))
            chunk += payload
            if len(chunk) >= SNAPSHOT_CHUNK_BYTES:
                yield bytes(chunk)
                chunk.clear()
        if expected != records_to + 1:
            raise SnapshotCatchUpError(f"the log ended at position {expected - 1}, not {records_to}")
        if chunk:
            yield bytes(chunk)


class _ReplicatedLog(SyncObj):
    def __init__(
        self, self_address: str, partners: list[str], conf: SyncObjConf, log: Log,
        log_lock: threading.Lock, snapshots: _Snapshots,
    ) -> None:
        self._log_ref = log
        self._log_lock = log_lock
        snapshots._raft = self
        super().__init__(self_address, partners, conf)
        # pysyncobj would send the snapshot file as written; ours is only a header, the
        # records come from the log (see the module docstring). Until this line runs a
        # follower could get the bare header: it then refuses it and is sent the snapshot again.
        transfer = self._SyncObj__serializer  # type: ignore[attr-defined]
        transfer.getTransmissionData = snapshots.next_chunk
        transfer.cancelTransmisstion = snapshots.cancel

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


class _Proposal:
    """One proposed batch and its answer: each proposal keeps its own, so that the late answer
    to a proposal whose commit timed out cannot be taken for the answer to a newer one."""

    __slots__ = ("answered", "result", "error")

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.result: Any = None
        self.error: Any = None

    def on_answer(self, result: Any, error: Any) -> None:
        self.result, self.error = result, error
        self.answered.set()


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
        compaction_entries_min: int = COMPACTION_ENTRIES_MIN_DEFAULT,
        compaction_interval_s: float = COMPACTION_INTERVAL_S_DEFAULT,
        state_transfer: StateTransfer | None = None,
    ) -> None:
        if not password:
            raise ValueError("a Raft port is never opened without a password (its messages are pickled)")
        if compaction_entries_min < 2 or compaction_interval_s <= 0:
            raise ValueError(
                f"compaction needs at least 2 entries and a positive interval, not "
                f"{compaction_entries_min} entries and {compaction_interval_s} s"
            )
        self._log = log
        log_lock = threading.Lock()
        snapshots = _Snapshots(log, log_lock, state_transfer)
        conf = SyncObjConf(
            password=password,
            appendEntriesUseBatch=False,  # ~1 ms per entry instead of a 100 ms batching tick
            journalFile=str(journal_path),
            fullDumpFile=str(journal_path.with_name(journal_path.name + ".snapshot")),
            serializer=snapshots.write,
            deserializer=snapshots.read,
            logCompactionMinEntries=compaction_entries_min,
            logCompactionMinTime=compaction_interval_s,
            logCompactionBatchSize=SNAPSHOT_CHUNK_BYTES,
            dynamicMembershipChange=False,
            commandsWaitLeader=False,
            raftMinTimeout=election_timeout_s[0],
            raftMaxTimeout=election_timeout_s[1],
            connectionRetryTime=0.5,
            connectionTimeout=1.5,
        )
        self._raft = _ReplicatedLog(self_address, partner_addresses, conf, log, log_lock, snapshots)
        self._waiting: _Proposal | None = None
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
        proposal = _Proposal()
        self._waiting = proposal
        self._raft.append_batch(first_position, payloads, callback=proposal.on_answer)

    def commit(self) -> int:
        if self._closed:
            raise LogClosedError("the replicator is closed")
        waiting, self._waiting = self._waiting, None
        if waiting is None:
            return self._log.durable_position
        if not waiting.answered.wait(COMMIT_TIMEOUT_S):
            raise NotLeaderError(f"a batch was not committed within {COMMIT_TIMEOUT_S} s (leader lost?)")
        result, error = waiting.result, waiting.error
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
