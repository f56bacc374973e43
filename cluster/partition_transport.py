"""Commands a partition sends to partitions on other brokers (deployment and signal
distribution, the message subscription protocol), over the internal API's `Deliver`.

`send` never blocks the partition thread: commands queue per receiving node and one thread per
node sends them in order. A command that cannot be sent (node down, queue full) is dropped:
its sender keeps it until acknowledged and sends it again (broker/processing/distribution.py).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

import grpc
from propolis.cluster import internal_api as api
from propolis.cluster.placement import Member

from propolis.records import Record

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 2.0
QUEUED_COMMANDS_MAX = 10_000


class RemotePartitionTransport:
    def __init__(self, members: dict[int, Member], replicas_of: Callable[[int], list[int]], own_node_id: int) -> None:
        """`replicas_of(partition_id)`: the nodes holding the partition. A command goes to each
        of them but this one; only the partition's leader takes it (the others drop it)."""
        self._members = members
        self._replicas_of = replicas_of
        self._own_node_id = own_node_id
        self._queues: dict[int, queue.Queue[tuple[int, bytes] | None]] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self, partition_id: int, command: Record) -> None:
        if self._closed:
            return
        encoded = command.encode()
        for node_id in self._replicas_of(partition_id):
            if node_id == self._own_node_id or node_id not in self._members:
                continue
            outbox = self._queues.get(node_id) or self._start(node_id)
            try:
                outbox.put_nowait((partition_id, encoded))
            except queue.Full:
                log.warning("dropping a command for another broker: its queue is full", extra={"node": node_id})

    def _start(self, node_id: int) -> queue.Queue[tuple[int, bytes] | None]:
        with self._lock:
            if node_id in self._queues:
                return self._queues[node_id]
            outbox: queue.Queue[tuple[int, bytes] | None] = queue.Queue(QUEUED_COMMANDS_MAX)
            thread = threading.Thread(target=self._run, args=(self._members[node_id], outbox), name=f"to-node-{node_id}", daemon=True)
            self._queues[node_id] = outbox
            self._threads.append(thread)
            thread.start()
            return outbox

    def _run(self, member: Member, outbox: queue.Queue[tuple[int, bytes] | None]) -> None:
        channel = grpc.insecure_channel(member.address, options=api.CHANNEL_OPTIONS)
        deliver = channel.unary_unary(api.path(api.DELIVER))
        try:
            while True:
                item = outbox.get()
                if item is None:
                    return
                partition_id, record = item
                try:
                    deliver(api.encode({"partitionId": partition_id, "record": record}), timeout=SEND_TIMEOUT_S)
                except grpc.RpcError as error:
                    log.info("a command for another broker was not delivered; it is sent again later",
                             extra={"node": member.node_id, "partition": partition_id, "error": str(error.code())})
        finally:
            channel.close()

    def close(self) -> None:
        self._closed = True
        for outbox in list(self._queues.values()):
            try:
                outbox.put_nowait(None)
            except queue.Full:
                pass
        for thread in self._threads:
            thread.join(timeout=SEND_TIMEOUT_S + 1)
