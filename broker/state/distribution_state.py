"""Commands sent to other partitions: on the sender, those not yet acknowledged, numbered per
receiver; on the receiver, the last number taken from each sender.

Numbering per (sender, receiver) pair lets the receiver take each command exactly once and in
order although the sender may send it several times (see broker/processing/distribution.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from propolis.broker.state.store import Tables, int2_key, int_key, unpack


class DistributionState:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def next_sequence(self, partition_id: int) -> int:
        """The number the next command for `partition_id` gets."""
        return (self._t.get("distribution_sequences", int_key(partition_id)) or 0) + 1

    def pending(self) -> Iterator[dict[str, Any]]:
        """Unacknowledged commands, by receiver, then in the order they were sent."""
        for _, value in self._t.scan("distributions_pending", b""):
            yield unpack(value)

    def oldest_pending(self, partition_id: int) -> int | None:
        """The lowest unacknowledged number for `partition_id`, if any."""
        for key, _ in self._t.scan("distributions_pending", int_key(partition_id)):
            return int.from_bytes(key[8:], "big", signed=True)
        return None

    def received(self, source_partition_id: int) -> int:
        """The number of the last command taken from `source_partition_id` (0: none yet)."""
        return self._t.get("distributions_received", int_key(source_partition_id)) or 0

    # -- written by appliers only --
    def put_pending(self, distribution: dict[str, Any]) -> None:
        target, sequence = distribution["partitionId"], distribution["sequence"]
        self._t.put("distributions_pending", int2_key(target, sequence), distribution)
        self._t.put("distribution_sequences", int_key(target), sequence)

    def acknowledge(self, partition_id: int, sequence: int) -> None:
        """Acknowledgements are cumulative: the receiver took everything up to `sequence`."""
        for key, _ in list(self._t.scan("distributions_pending", int_key(partition_id))):
            if int.from_bytes(key[8:], "big", signed=True) <= sequence:
                self._t.delete("distributions_pending", key)

    def set_received(self, source_partition_id: int, sequence: int) -> None:
        self._t.put("distributions_received", int_key(source_partition_id), sequence)
