"""How the gateway says no: one exception carrying a gRPC status, and the mapping from the
broker's rejection types to the status codes Zeebe uses."""

from __future__ import annotations

import grpc

from propolis.records import RejectionType


class GatewayError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid_argument(message: str) -> GatewayError:
    return GatewayError(grpc.StatusCode.INVALID_ARGUMENT, message)


REJECTION_CODES: dict[int, grpc.StatusCode] = {
    RejectionType.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    RejectionType.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    RejectionType.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    RejectionType.INVALID_STATE: grpc.StatusCode.FAILED_PRECONDITION,
    RejectionType.PROCESSING_ERROR: grpc.StatusCode.INTERNAL,
    RejectionType.EXCEEDED_BATCH_RECORD_SIZE: grpc.StatusCode.INVALID_ARGUMENT,
    RejectionType.UNAUTHORIZED: grpc.StatusCode.UNAUTHENTICATED,
    RejectionType.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
}


def rejection_error(rejection_type: int, reason: str) -> GatewayError:
    code = REJECTION_CODES.get(rejection_type, grpc.StatusCode.INTERNAL)
    return GatewayError(code, reason)
