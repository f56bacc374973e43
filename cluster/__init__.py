"""The cluster: brokers and gateways in separate processes.

- `internal_api.py`: the brokers' internal gRPC service (msgpack payloads): execute a command
  on a partition, the node's topology, commands between partitions, job-availability news;
- `broker_server.py`: serves it over a broker of this process;
- `remote_client.py`: the gateway's `BrokerClient` over it: learns the topology from contact
  points, routes each command to its partition's leader, retries while a leader is unknown;
- `partition_transport.py`: commands a partition sends to partitions on other brokers;
- `placement.py`: which nodes hold which partitions, from the member list alone.

The broker itself (`broker/`) never imports gRPC; this package puts it on the network.
"""
