"""How the gateway says no: one exception carrying a gRPC status, one helper that words
messages alike ("Expected to <do X>, but <what was found>"), and the mapping from the broker's
rejection types and client errors to the status codes Zeebe uses."""

from __future__ import annotations

import grpc
from propolis.broker.client import BrokerOverloadedError, BrokerUnavailableError

from propolis.records import RejectionType


class GatewayError(Exception):
    """A request that the gateway answers with `code` and `message` (never a bug)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def expected(to: str, but: str) -> str:
    """The one shape of every gateway message: "Expected to <to>, but <but>"."""
    return f"Expected to {to}, but {but}"


def invalid_argument(message: str) -> GatewayError:
    return GatewayError(grpc.StatusCode.INVALID_ARGUMENT, message)


REJECTION_CODES: dict[int, grpc.StatusCode] = {
    RejectionType.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    RejectionType.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    RejectionType.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    RejectionType.INVALID_STATE: grpc.StatusCode.FAILED_PRECONDITION,
    RejectionType.PROCESSING_ERROR: grpc.StatusCode.INTERNAL,
    # Zeebe answers RESOURCE_EXHAUSTED for an oversized batch; we treat it as bad input.
    RejectionType.EXCEEDED_BATCH_RECORD_SIZE: grpc.StatusCode.INVALID_ARGUMENT,
    RejectionType.UNAUTHORIZED: grpc.StatusCode.UNAUTHENTICATED,
    RejectionType.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
}


def rejection_error(rejection_type: int, reason: str) -> GatewayError:
    """The broker's rejection as the client sees it: the status of its type, its reason."""
    return GatewayError(REJECTION_CODES.get(rejection_type, grpc.StatusCode.INTERNAL), reason)


def status_of(error: BaseException) -> tuple[grpc.StatusCode, str] | None:
    """The status for an expected failure; None for a bug (the caller logs it, answers INTERNAL)."""
    if isinstance(error, GatewayError):
        return error.code, error.message
    if isinstance(error, BrokerOverloadedError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, expected(
            "process the request", f"the broker is overloaded ({error}); retry later"
        )
    if isinstance(error, BrokerUnavailableError):
        return grpc.StatusCode.UNAVAILABLE, expected(
            "process the request", f"the broker is not available ({error}); retry later"
        )
    return None
