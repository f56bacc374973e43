"""Cluster members and deterministic partition placement.

Every node computes the same placement from the same member list: partition p's replicas are
`replication_factor` consecutive nodes (in node id order) starting at node index (p-1) % n,
so partitions and their first replicas spread evenly over the nodes.
"""

from __future__ import annotations

from dataclasses import dataclass


class MembersError(ValueError):
    """A --cluster member list that cannot be read."""


@dataclass(frozen=True, slots=True)
class Member:
    node_id: int
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise MembersError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def parse_members(spec: str) -> dict[int, Member]:
    """`0@10.0.0.1:26501,1@10.0.0.2:26501` -> {0: Member(...), 1: Member(...)}."""
    members: dict[int, Member] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        node, sep, address = item.partition("@")
        if not sep or not node.isdigit():
            raise MembersError(f"expected NODE_ID@HOST:PORT, got {item!r}")
        if int(node) in members:
            raise MembersError(f"node {node} is listed twice")
        host, port = parse_address(address)
        members[int(node)] = Member(int(node), host, port)
    if not members:
        raise MembersError("expected at least one member NODE_ID@HOST:PORT")
    return members


def replicas(partition_id: int, node_ids: list[int], replication_factor: int) -> list[int]:
    """The nodes holding `partition_id`, its preferred leader first."""
    nodes = sorted(node_ids)
    if not 1 <= replication_factor <= len(nodes):
        raise MembersError(f"replication factor {replication_factor} needs 1..{len(nodes)} nodes")
    start = (partition_id - 1) % len(nodes)
    return [nodes[(start + i) % len(nodes)] for i in range(replication_factor)]


def partitions_of(node_id: int, node_ids: list[int], partition_count: int, replication_factor: int) -> list[int]:
    return [
        p for p in range(1, partition_count + 1)
        if node_id in replicas(p, node_ids, replication_factor)
    ]
