"""The commands waiting for a partition: one FIFO per tenant, taken round-robin, so that one
tenant's flood cannot starve the others (beyond what Zeebe offers).

- Taking: a batch takes one command from each tenant in turn (the turn rotates from batch to
  batch), so a tenant with one command waiting gets it into the next batch however many
  commands another tenant has queued. While more than one tenant is active (has sent a command
  within the last `CONTENDED_WINDOW_S`), batches are capped at `contended_batch_commands_max`:
  a light tenant's command arriving while a batch runs then waits for a short batch, not for a
  long one full of another tenant's flood. One tenant alone gets full batches (throughput).
- Admission (backpressure): the partition's adaptive limit (backpressure.py) bounds the commands
  in flight; at that limit, a tenant holding less than its share of it (the limit divided by the
  tenants waiting, itself included) is still admitted, so the flooding tenant is the one that
  gets RESOURCE_EXHAUSTED. A tenant alone is held to the whole limit.

A command's tenant is its record's `tenant_id`, or for a command on an existing key the
tenants its caller may use (the broker does not know the key's tenant before processing).
Thread-safe: the gateway's threads put, the partition's thread takes.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from propolis.records import AUTHORIZED_TENANTS_FIELD, Record, ValueType

# A tenant that sent a command this recently counts as active for the batch cap.
CONTENDED_WINDOW_S = 1.0


def tenant_key(command: Record) -> str:
    """The lane of a command: its tenant, the tenants its caller may use (a command on a key),
    or the tenants a job activation asks for."""
    value = command.value if isinstance(command.value, dict) else {}
    tenants = value.get(AUTHORIZED_TENANTS_FIELD) or (
        value.get("tenantIds") if command.value_type == ValueType.JOB_BATCH else None
    )
    if tenants:
        return ",".join(sorted(tenants))
    return command.tenant_id


class FairCommandQueue:
    def __init__(self, contended_batch_commands_max: int, fair: bool = True) -> None:
        """`fair` False: one FIFO for everyone (what Zeebe does); kept to measure the
        difference (benchmarks/tenant_fairness.py)."""
        self._contended_batch_max = contended_batch_commands_max
        self._fair = fair
        self._queues: dict[str, deque[Record]] = {}
        self._turns: deque[str] = deque()  # tenants with waiting commands, in turn order
        self._size = 0
        self._last_put: dict[str, float] = {}  # tenant -> monotonic time of its last command
        self._changed = threading.Condition(threading.Lock())

    def qsize(self) -> int:
        return self._size

    def waiting(self, tenant: str) -> int:
        queue = self._queues.get(tenant)
        return len(queue) if queue is not None else 0

    def within_share(self, command: Record, limit: int) -> bool:
        """True when this command's tenant holds less than its share of `limit` while other
        tenants wait too: it is admitted even with the partition at its limit."""
        if not self._fair:
            return False
        waiting = self.waiting(tenant_key(command))
        tenants = len(self._turns) + (0 if waiting else 1)
        return tenants > 1 and waiting < max(1, limit // tenants)

    def describe_share(self, command: Record) -> str:
        """For a refusal's message: how many of the waiting commands are this tenant's."""
        tenant = tenant_key(command)
        return f"{self.waiting(tenant) if self._fair else self._size} of them of tenant '{tenant}'"

    def put(self, command: Record) -> None:
        tenant = tenant_key(command) if self._fair else ""
        with self._changed:
            queue = self._queues.get(tenant)
            if queue is None:
                queue = self._queues[tenant] = deque()
            if not queue:
                self._turns.append(tenant)
            queue.append(command)
            self._size += 1
            self._last_put[tenant] = time.monotonic()
            self._changed.notify()

    def take(self, timeout_s: float, batch_commands_max: int) -> list[Record]:
        """Up to `batch_commands_max` commands, round-robin over tenants; waits up to
        `timeout_s` for the first one and returns [] if none came."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self._size == 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._changed.wait(remaining):
                    if self._size == 0:
                        return []
            limit = batch_commands_max
            if self._fair and self._contended():
                limit = min(limit, self._contended_batch_max)
            batch: list[Record] = []
            turns = self._turns
            while turns and len(batch) < limit:
                tenant = turns.popleft()
                queue = self._queues[tenant]
                batch.append(queue.popleft())
                if queue:
                    turns.append(tenant)  # its next command waits for the others' turns
                else:
                    del self._queues[tenant]
            self._size -= len(batch)
            return batch

    def _contended(self) -> bool:
        if len(self._turns) > 1:
            return True
        if len(self._last_put) < 2:
            return False
        since = time.monotonic() - CONTENDED_WINDOW_S
        for tenant, at in list(self._last_put.items()):
            if at < since:
                del self._last_put[tenant]  # bounded by the tenants active in the window
        return len(self._last_put) > 1
