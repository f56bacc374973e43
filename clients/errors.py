"""Errors of the client side: the CLI turns each into one `error: ...` line and exit code 1."""

from __future__ import annotations


class PropolisClientError(Exception):
    """Root of the errors that `propolis.clients` raises on purpose."""


class GatewayError(PropolisClientError):
    """The gateway answered a call with a gRPC error (or could not be reached)."""

    def __init__(self, status: str, message: str, method: str = "") -> None:
        super().__init__(f"{status}: {message}")
        self.status = status  # grpc.StatusCode name, e.g. "NOT_FOUND"
        self.message = message
        self.method = method


class UsageError(PropolisClientError):
    """A command-line argument is malformed; the message names the argument."""
