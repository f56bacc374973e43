"""The stateless gRPC gateway: Zeebe's `gateway_protocol.Gateway` in front of the broker.

Public API: `propolis.gateway.server.GatewayServer` and `propolis.gateway.config.GatewayConfig`.
Logging goes to the `propolis.gateway` loggers and is quiet unless the application configures
logging (a NullHandler keeps Python's last-resort handler from printing).
"""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())
