"""One partition: its log, its state, and the stream processor thread that turns commands
into events.

The processing loop, per batch (group commit):
1. take up to `batch_commands_max` waiting commands (plus due scheduled work: job time-outs,
   retry back-offs, message expiry), stamp them with the time;
2. process them in one LMDB write transaction: each processor's events are applied as they
   are written, so later commands see earlier effects;
3. append commands, events and rejections to the log as one batch and make it durable
   (one fsync for the whole batch);
4. commit the LMDB transaction, then answer the callers and announce new jobs.
Nothing is answered before step 3 completes. If the process dies in between, recovery
replays the batch from the log.

Recovery: open the log (it drops a torn tail), open the state (or restore the newest snapshot
when the state is missing or older than the compacted log), then apply the events of every
complete batch after the state's position. A trailing batch without its end mark was never
acknowledged and is truncated. Recovery applies events only; it never re-runs processors.

A follower whose whole log is older than what its leader still holds is given the leader's
newest state snapshot (`install_state`, called by the Raft replicator): the processing thread
stores it, lets the replicator reset the log to start after it, and reopens the state from it.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from propolis.broker.backpressure import AimdLimiter, LimitSettings
from propolis.broker.client import BrokerOverloadedError, BrokerUnavailableError
from propolis.broker.command_queue import FairCommandQueue
from propolis.broker.config import BrokerConfig
from propolis.broker.engine.context import KeyGenerator
from propolis.broker.engine.engine import Engine
from propolis.broker.exporting import positions as exporter_positions
from propolis.broker.exporting.director import ExporterDirector
from propolis.broker.exporting.loader import ConfiguredExporter
from propolis.broker.metrics import BrokerMetrics
from propolis.broker.processing.distribution import command_of, distributed_by
from propolis.broker.processing.process_cache import ProcessCache
from propolis.broker.processing.services import Services
from propolis.broker.recovery import replay
from propolis.broker.snapshots import SNAPSHOT_FILE, SnapshotStore, is_valid_state
from propolis.broker.state import State
from propolis.broker.state.store import Store
from propolis.broker.work_admission import WorkAdmission, WorkAdmissionSettings
from propolis.log.errors import NotLeaderError
from propolis.log.replicator import LocalReplicator, Replicator, StateTransfer
from propolis.log.segmented_log import Log

from propolis.records import (
    JobBatchIntent,
    JobIntent,
    MessageIntent,
    ProcessInstanceCreationIntent,
    Record,
    RecordType,
    TimerIntent,
    ValueType,
)

log = logging.getLogger(__name__)

# Commands that finish work are never the ones refused under load: shedding them would only
# make more work (jobs time out and run again).
UNSHEDDABLE = {
    # Workers fetching jobs are how started instances finish: starving them under load would
    # leave instances waiting while new ones keep being accepted.
    (ValueType.JOB_BATCH, JobBatchIntent.ACTIVATE),
    (ValueType.JOB, JobIntent.COMPLETE),
    (ValueType.JOB, JobIntent.FAIL),
    (ValueType.JOB, JobIntent.THROW_ERROR),
    (ValueType.JOB, JobIntent.YIELD),
}

# Commands that start new work: refused while the jobs already started wait too long for a
# worker (work_admission.py), since each one adds a whole instance's work to that backlog.
NEW_WORK = {
    (ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATE),
    (ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATE_WITH_AWAITING_RESULT),
    (ValueType.MESSAGE, MessageIntent.PUBLISH),
}

# Job events after which a job waits for a worker again (FAILED only with retries left and no
# back-off, see _track_jobs), and those after which nobody will activate it.
_JOB_ACTIVATABLE = {JobIntent.CREATED, JobIntent.TIMED_OUT, JobIntent.YIELDED, JobIntent.RECURRED_AFTER_BACKOFF}
_JOB_GONE = {JobIntent.COMPLETED, JobIntent.CANCELED, JobIntent.ERROR_THROWN}

JobTypesListener = Callable[[set[str]], None]
CommandTransport = Callable[[int, Record], None]
"""Hands a command to another partition (`partition id, command`). It must not block; it may
lose the command (the sender sends unacknowledged commands again, see distribution.py)."""

ReplicatorFactory = Callable[[int, Log, StateTransfer], Replicator]
"""Makes the replicator of a partition (partition id, its opened log, the partition's side of a
state transfer) after recovery."""

# The Raft thread waits for the processing thread to install a state this often between checks
# that the partition is still running.
INSTALL_WAIT_INTERVAL_S = 0.1


class _StateInstall:
    """A state snapshot from the leader, handed from the Raft thread to the processing thread."""

    def __init__(self, position: int, source: BinaryIO, size_bytes: int, rewrite_log: Callable[[], None]) -> None:
        self.position = position
        self.source = source
        self.size_bytes = size_bytes
        self.rewrite_log = rewrite_log
        self.taken = False  # the processing thread started on it: it finishes it, even when stopping
        self.done = threading.Event()
        self.error: BaseException | None = None

# A follower looks for new batches in its log this often.
FOLLOWER_POLL_INTERVAL_S = 0.02

# Commands for other partitions that are still unacknowledged are sent again this often.
DISTRIBUTION_RESEND_INTERVAL_S = 1.0


class Partition:
    def __init__(
        self,
        partition_id: int,
        config: BrokerConfig,
        on_jobs_available: JobTypesListener,
        metrics: BrokerMetrics | None = None,
        exporters: list[ConfiguredExporter] | None = None,
        transport: CommandTransport | None = None,
        replicator_factory: ReplicatorFactory | None = None,
    ) -> None:
        self.partition_id = partition_id
        self._transport = transport
        self._replicator_factory = replicator_factory
        # Whether this replica runs the stream processor now: always with one replica; with
        # Raft, from when it won an election and caught up until it loses leadership.
        self._leading = replicator_factory is None
        self.limiter = AimdLimiter(LimitSettings(
            initial=min(config.backpressure_limit_initial, config.inflight_commands_max),
            minimum=min(config.backpressure_limit_min, config.backpressure_limit_initial, config.inflight_commands_max),
            maximum=config.inflight_commands_max,
            latency_target_ms=config.backpressure_latency_target_ms,
        ))
        self.work_admission = WorkAdmission(WorkAdmissionSettings(
            job_wait_target_ms=config.backpressure_job_wait_target_ms,
            new_work_rate_min_per_s=config.backpressure_new_work_rate_min_per_s,
        ))
        # When each unacknowledged distribution (partition, sequence) was last sent.
        self._last_sent: dict[tuple[int, int], float] = {}
        self._exporters = exporters or []
        self.director: ExporterDirector | None = None
        self.metrics = metrics or BrokerMetrics()
        self.config = config
        self.directory = Path(config.data_dir) / f"partition-{partition_id}"
        self._on_jobs_available = on_jobs_available
        self._queue = FairCommandQueue(config.contended_batch_commands_max, config.tenant_fairness)
        self._pending: dict[int, concurrent.futures.Future[Record]] = {}
        # perf_counter() at which each waiting command arrived, for the command latency metric.
        self._arrived: dict[int, float] = {}
        self._request_ids = itertools.count(1)
        self._scheduled: set[tuple[int, int, int]] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.healthy = False
        self.processed_records = 0
        self._snapshot_thread: threading.Thread | None = None
        self._compact_before = 0
        self._last_snapshot_time = time.monotonic()
        self._records_since_snapshot = 0
        self._opened = threading.Event()
        self._install: _StateInstall | None = None
        self._install_handoff = threading.Lock()  # the processing thread takes it or the Raft thread withdraws it

    # -- lifecycle ---------------------------------------------------------------------
    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log = Log.open(self.directory / "log", segment_size_bytes_max=self.config.log_segment_size_bytes_max)
        self.replicator: Replicator = LocalReplicator(self.log)
        self.snapshots = SnapshotStore(self.directory / "snapshots", self.config.snapshots_kept)
        state_dir = self.directory / "state"
        if not is_valid_state(state_dir):
            restored = self.snapshots.restore(state_dir)
            log.info("state restored from snapshot", extra={"partition": self.partition_id, "position": restored})
        self._open_state()
        if self._applied_position() < self.log.first_position - 1:
            # The state is older than what the log still holds: start from the snapshot.
            self.store.close()
            self.snapshots.restore(state_dir)
            self._open_state()
        replayed = self._replay()
        if self._replicator_factory is not None:
            # After recovery: from now on the Raft group appends to the log (raft_replicator.py).
            self.replicator = self._replicator_factory(self.partition_id, self.log, self)
        log.info("partition recovered", extra={"partition": self.partition_id, "replayed_records": replayed, "position": self.log.last_position})
        with self.store.env.begin() as txn:
            self.state.tables.txn = txn
            open_incidents = sum(1 for _ in self.state.incidents.all())
        self.metrics.open_incidents.labels(str(self.partition_id)).set(open_incidents)
        self._update_log_metrics()
        self._open_director()
        self.healthy = True
        self._thread = threading.Thread(target=self._run, name=f"partition-{self.partition_id}", daemon=True)
        self._thread.start()
        self._opened.set()

    def _open_state(self) -> None:
        self.store = Store(self.directory / "state", self.config.state_map_size_bytes)
        self.state = State(self.store)
        with self.store.env.begin() as txn:
            self.state.tables.txn = txn
            counter = self.state.meta.key_counter()
        self.keys = KeyGenerator(self.partition_id, counter)
        self.engine = Engine(self.state, Services(ProcessCache(), self.config), self.keys)

    def _open_director(self) -> None:
        # After recovery: the director reads only what is committed, from its own readers.
        self.director = ExporterDirector(
            self.partition_id, self._exporters, self.log, self.store,
            lambda: self.replicator.committed_position, self.config, self.metrics,
        )
        self.director.open()

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.replicator.close()
        if self._snapshot_thread is not None:
            self._snapshot_thread.join(timeout=60)
        if self.director is not None:
            self.director.close()  # persists the exporters' positions: before the store closes
        self.healthy = False
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(BrokerUnavailableError(f"partition {self.partition_id} is shutting down"))
        self._pending.clear()
        self._arrived.clear()
        self.store.close()
        self.log.close()

    def _applied_position(self) -> int:
        with self.store.env.begin() as txn:
            self.state.tables.txn = txn
            return self.state.meta.last_applied_position()

    # -- recovery ----------------------------------------------------------------------
    def _replay(self) -> int:
        replayed, incomplete_from = replay(self.log, self.state, self.keys)
        if incomplete_from is not None:
            log.warning(
                "dropping an incomplete batch at the end of the log",
                extra={"partition": self.partition_id, "from_position": incomplete_from},
            )
            self.log.truncate(incomplete_from - 1)
        return replayed

    # -- commands ----------------------------------------------------------------------
    def submit(self, command: Record) -> concurrent.futures.Future[Record]:
        future: concurrent.futures.Future[Record] = concurrent.futures.Future()
        if not self.healthy or self._stopping.is_set() or not self.is_leader:
            future.set_exception(BrokerUnavailableError(f"partition {self.partition_id} is not accepting commands here (not its leader now)"))
            return future
        sheddable = (command.value_type, command.intent) not in UNSHEDDABLE
        if (
            sheddable
            and (command.value_type, command.intent) in NEW_WORK
            and not self.work_admission.admits_new_work(time.monotonic())
            and not self._queue.within_share(command, self.limiter.limit)
        ):
            self.metrics.backpressure_rejections.labels(str(self.partition_id)).inc()
            future.set_exception(
                BrokerOverloadedError(
                    f"partition {self.partition_id} does not start new work now: its jobs waited "
                    f"{self.work_admission.mean_job_wait_ms(time.monotonic()) or 0:.0f} ms on average for a worker "
                    f"(target {self.work_admission.settings.job_wait_target_ms:.0f} ms); retry later"
                )
            )
            return future
        # A tenant under its share of the limit gets in even at the limit: the flood is shed.
        if not self.limiter.try_acquire(sheddable and not self._queue.within_share(command, self.limiter.limit)):
            self.metrics.backpressure_rejections.labels(str(self.partition_id)).inc()
            future.set_exception(
                BrokerOverloadedError(
                    f"partition {self.partition_id} has {self.limiter.in_flight} commands in flight "
                    f"(its adaptive limit is {self.limiter.limit}), {self._queue.describe_share(command)}; retry later"
                )
            )
            return future
        request_id = next(self._request_ids)
        command.request_id = request_id
        command.partition_id = self.partition_id
        self._pending[request_id] = future
        self._arrived[request_id] = time.perf_counter()
        future.add_done_callback(lambda _f, rid=request_id: self._forget(rid))
        self._queue.put(command)
        return future

    def submit_from_partition(self, command: Record) -> None:
        """A command another partition sent: never shed (it is part of work already accepted)
        and never answered; if this partition cannot take it now, the sender sends it again."""
        if not self.healthy or self._stopping.is_set() or not self.is_leader:
            return
        command.request_id = -1
        command.partition_id = self.partition_id
        self._queue.put(command)

    @property
    def is_leader(self) -> bool:
        """Whether this replica takes commands now."""
        return self._leading and self.replicator.is_leader

    def _forget(self, request_id: int) -> None:
        future = self._pending.get(request_id)
        if future is not None and future.done():
            self._pending.pop(request_id, None)

    # -- processing --------------------------------------------------------------------
    def _run(self) -> None:
        interval_s = self.config.scheduler_interval_ms / 1000
        next_schedule = 0.0
        try:
            while not self._stopping.is_set():
                if self._install is not None:
                    self._install_state()
                if not (self._leading and self.replicator.is_leader):
                    if not self._lead_or_follow():
                        continue
                commands = self._take(timeout_s=interval_s)
                now = time.monotonic()
                if now >= next_schedule:
                    commands.extend(self._due_commands())
                    self._purge_abandoned_results()
                    self._resend_distributions()
                    next_schedule = now + interval_s
                if commands:
                    self._process(commands)
                self._maybe_snapshot()
        except BaseException:
            log.exception("partition stopped after an unexpected error", extra={"partition": self.partition_id})
            self.healthy = False
            for future in list(self._pending.values()):
                if not future.done():
                    future.set_exception(BrokerUnavailableError(f"partition {self.partition_id} failed"))

    # -- replication roles (Raft) ------------------------------------------------------------
    def _lead_or_follow(self) -> bool:
        """Not leading: follow (apply what the leader appended to the log) or, once elected,
        catch up and take over. True when this replica leads now."""
        self._leading = False
        self._refuse_waiting()
        if self.replicator.is_leader and self.replicator.barrier():
            # Everything earlier terms committed is in the log now: apply it, then process.
            self._follow_log()
            self.engine.awaiting_results.clear()
            self._scheduled.clear()
            self._last_sent.clear()
            self._leading = True
            log.info("partition leader", extra={"partition": self.partition_id, "position": self.log.last_position})
            return True
        self._follow_log()
        self._stopping.wait(FOLLOWER_POLL_INTERVAL_S)
        return False

    def _follow_log(self) -> None:
        """Apply the events of complete batches after the state's position (as recovery does;
        a batch still being appended waits for the next round)."""
        replay(self.log, self.state, self.keys)
        self._update_log_metrics()

    def _refuse_waiting(self) -> None:
        while True:
            commands = self._queue.take(0.0, self.config.batch_commands_max)
            if not commands:
                return
            self._abandon(commands)

    def _abandon(self, commands: list[Record]) -> None:
        """Commands this replica will not process (it is not, or no longer, the leader)."""
        for command in commands:
            if command.request_id < 0:
                self._scheduled.discard((command.value_type, command.intent, command.key))
                continue
            self._arrived.pop(command.request_id, None)
            self.limiter.release(0.0)
            future = self._pending.pop(command.request_id, None)
            if future is not None and future.set_running_or_notify_cancel():
                future.set_exception(BrokerUnavailableError(f"partition {self.partition_id} lost its leader here; retry"))

    def _track_jobs(self, records: list[Record], now_s: float) -> None:
        """Tells the new-work admission when jobs became activatable and when they were taken."""
        admission = self.work_admission
        for record in records:
            if record.record_type != RecordType.EVENT:
                continue
            if record.value_type == ValueType.JOB:
                intent = record.intent
                if intent in _JOB_ACTIVATABLE:
                    admission.job_activatable(record.key, now_s)
                elif intent == JobIntent.FAILED:
                    value = record.value
                    if value.get("retries", 0) > 0 and value.get("recurringTime", -1) < 0:
                        admission.job_activatable(record.key, now_s)
                    else:
                        admission.job_gone(record.key)
                elif intent in _JOB_GONE:
                    admission.job_gone(record.key)
            elif record.value_type == ValueType.JOB_BATCH and record.intent == JobBatchIntent.ACTIVATED:
                for job_key in record.value.get("jobKeys", ()):
                    admission.job_activated(job_key, now_s)

    def _take(self, timeout_s: float) -> list[Record]:
        return self._queue.take(timeout_s, self.config.batch_commands_max)

    def _process(self, commands: list[Record]) -> None:
        started = time.perf_counter()
        now_ms = int(time.time() * 1000)
        for command in commands:
            command.timestamp = now_ms
        first_position = self.log.last_position + 1
        txn = self.store.env.begin(write=True)
        try:
            outputs = self.engine.process_batch(txn, commands, first_position)
            records = outputs.records
            records[-1].batch_end = True
            last_command = max(r.position for r in commands)
            self.state.tables.txn = txn
            self.state.meta.set_positions(records[-1].position, last_command)
            self.state.meta.set_key_counter(self.keys.counter)
            position = self.replicator.replicate([record.encode() for record in records])
            if position != first_position:
                raise RuntimeError(f"log assigned position {position}, expected {first_position}")
            self.replicator.commit()
            txn.commit()
        except NotLeaderError as error:
            # Not committed: nothing of this batch happened. The state and the key counter go
            # back to what the log says; the callers get UNAVAILABLE and the gateway retries.
            txn.abort()
            log.warning("batch not committed; following", extra={"partition": self.partition_id, "error": str(error)})
            with self.store.env.begin() as read_txn:
                self.state.tables.txn = read_txn
                self.keys.counter = self.state.meta.key_counter()
            self._abandon(commands)
            self._leading = False
            return
        except BaseException:
            txn.abort()
            raise
        committed = time.perf_counter()
        arrived = self._arrived
        latencies = []
        for command in commands:
            if command.request_id < 0:
                self._scheduled.discard((command.value_type, command.intent, command.key))
            else:
                latency = committed - arrived.pop(command.request_id, committed)
                latencies.append(latency)
                self.limiter.release(latency)
        if self.work_admission.enabled:
            self._track_jobs(records, time.monotonic())
        self.processed_records += len(records)
        self.metrics.observe_batch(self.partition_id, records, len(commands), committed - started)
        self.metrics.observe_command_latencies(self.partition_id, latencies)
        self.metrics.backpressure_limit.labels(str(self.partition_id)).set(self.limiter.limit)
        self._update_log_metrics()
        self._records_since_snapshot += len(records)
        # Before the answers: a client that deploys and then creates an instance on another
        # partition finds the deployment's distribution queued there ahead of its command.
        for target, command in outputs.sends:
            self._send(target, command)
        for response in outputs.responses:
            future = self._pending.pop(response.request_id, None)
            # Claim the future first: the gateway may cancel it (client gone) at any moment,
            # and set_result on a cancelled future would stop this thread.
            if future is not None and future.set_running_or_notify_cancel():
                future.set_result(response.record)
        if self.director is not None:
            self.director.notify()
        if outputs.job_types_available:
            self._on_jobs_available(outputs.job_types_available)

    def _send(self, target: int, command: Record) -> None:
        sent_by = distributed_by(command)
        if sent_by is not None:
            self._last_sent[(target, sent_by["sequence"])] = time.monotonic()
        if self._transport is None:
            log.warning("no transport to other partitions", extra={"partition": self.partition_id, "target": target})
            return
        try:
            self._transport(target, command)
        except Exception:  # a failing transport loses the command; the resend covers it
            log.exception("sending a command to another partition failed", extra={"partition": self.partition_id, "target": target})

    def _resend_distributions(self) -> None:
        """Send again what other partitions have not acknowledged within the resend interval
        (all of it after a restart), in order per receiver."""
        now = time.monotonic()
        due: list[tuple[int, Record]] = []
        pending: set[tuple[int, int]] = set()
        with self.store.env.begin() as txn:
            self.state.tables.txn = txn
            for distribution in self.state.distributions.pending():
                marker = (distribution["partitionId"], distribution["sequence"])
                pending.add(marker)
                if now - self._last_sent.get(marker, 0.0) >= DISTRIBUTION_RESEND_INTERVAL_S:
                    due.append((distribution["partitionId"], command_of(distribution)))
        for marker in [m for m in self._last_sent if m not in pending]:
            del self._last_sent[marker]
        for target, command in due:
            self._send(target, command)

    def _update_log_metrics(self) -> None:
        label = str(self.partition_id)
        self.metrics.log_size.labels(label).set(self.log.size_bytes)
        self.metrics.last_position.labels(label).set(self.log.last_position)

    def _due_commands(self) -> list[Record]:
        """Commands for work that has come due: job time-outs and back-offs, message TTLs, timers."""
        now_ms = int(time.time() * 1000)
        due: list[Record] = []
        with self.store.env.begin() as txn:
            self.state.tables.txn = txn
            sources = (
                (self.state.jobs.deadlines_before(now_ms), ValueType.JOB, JobIntent.TIME_OUT),
                (self.state.jobs.backoffs_before(now_ms), ValueType.JOB, JobIntent.RECUR_AFTER_BACKOFF),
                (self.state.messages.deadlines_before(now_ms), ValueType.MESSAGE, MessageIntent.EXPIRE),
                (self.state.timers.due_before(now_ms), ValueType.TIMER, TimerIntent.TRIGGER),
            )
            for items, value_type, intent in sources:
                for _, key in itertools.islice(items, self.config.batch_commands_max):
                    marker = (value_type, intent, key)
                    if marker in self._scheduled:
                        continue
                    self._scheduled.add(marker)
                    due.append(Record(RecordType.COMMAND, value_type, intent, key, {}, partition_id=self.partition_id))
        return due

    def _purge_abandoned_results(self) -> None:
        awaiting = self.engine.awaiting_results
        for instance_key, entry in list(awaiting.items()):
            if entry["requestId"] not in self._pending:
                del awaiting[instance_key]

    # -- state transfer (StateTransfer, log/replicator.py) ----------------------------------
    def newest_state_snapshot(self) -> tuple[int, Path] | None:
        latest = self.snapshots.latest()
        return None if latest is None else (latest[0], latest[1] / SNAPSHOT_FILE)

    def install_state(
        self, position: int, source: BinaryIO, size_bytes: int, rewrite_log: Callable[[], None],
    ) -> None:
        """On the Raft thread: hand the install to the processing thread (the one that owns the
        state and reads the log) and wait for it."""
        while not self._opened.wait(INSTALL_WAIT_INTERVAL_S):
            if self._stopping.is_set():
                raise BrokerUnavailableError(f"partition {self.partition_id} stopped before it opened")
        request = _StateInstall(position, source, size_bytes, rewrite_log)
        self._install = request
        while not request.done.wait(INSTALL_WAIT_INTERVAL_S):
            with self._install_handoff:
                stopped = self._stopping.is_set() and not request.taken
                if stopped or self._thread is None or not self._thread.is_alive():
                    self._install = None
                    raise BrokerUnavailableError(f"partition {self.partition_id} stopped before installing a state")
        if request.error is not None:
            raise request.error

    def _install_state(self) -> None:
        """The leader's state snapshot replaces the state, the log starts after it (the Raft
        thread waits meanwhile, so nothing appends). Crash-safe in this order: the snapshot is
        stored first; a log reset after it makes the next start restore it (the state is then
        older than the log); until then the old state and log still go together."""
        with self._install_handoff:
            request, self._install = self._install, None
            if request is None:  # withdrawn: the partition is stopping
                return
            request.taken = True
        try:
            self._leading = False
            self._refuse_waiting()
            if self._snapshot_thread is not None:
                self._snapshot_thread.join()
            if self.director is not None:
                self.director.close()
                self.director = None
            self.store.close()
            self.snapshots.put(request.position, request.source, request.size_bytes)
            request.rewrite_log()
            self.snapshots.restore(self.directory / "state")
            self._open_state()
            self._open_director()
            self._update_log_metrics()
            log.info("state installed from the leader", extra={"partition": self.partition_id, "position": request.position})
        except BaseException as error:
            request.error = error
            raise
        finally:
            request.done.set()

    # -- snapshots ---------------------------------------------------------------------
    def _maybe_snapshot(self) -> None:
        if self._compact_before:
            self.log.compact(self._compact_before)
            self._compact_before = 0
        if self._snapshot_thread is not None and self._snapshot_thread.is_alive():
            return
        due = time.monotonic() - self._last_snapshot_time >= self.config.snapshot_interval_s
        if not due or self._records_since_snapshot < self.config.snapshot_records_min:
            return
        self._last_snapshot_time = time.monotonic()
        self._records_since_snapshot = 0
        self._snapshot_thread = threading.Thread(target=self.take_snapshot, name=f"snapshot-{self.partition_id}", daemon=True)
        self._snapshot_thread.start()

    def take_snapshot(self) -> int:
        # Read before the snapshot: persisted exporter positions only grow, so the snapshot
        # holds these or later ones, and a partition restored from it still finds in the log
        # every record its exporters have not acknowledged.
        floor = exporter_positions.compaction_floor(self.store, self.director.exporter_ids if self.director else [])
        position = self.snapshots.take(self.store)
        # Compaction happens on the processing thread, which owns the log.
        self._compact_before = (position if floor is None else min(position, floor)) + 1
        log.info("snapshot taken", extra={"partition": self.partition_id, "position": position})
        return position
