"""The error model: domain errors with stable reason codes (DESIGN.md "Contracts").

A rule that fails raises one of these where it fails. One interceptor in
chassis.grpc_server turns it into a gRPC status carrying google.rpc.ErrorInfo;
the gateway turns that into problem+json. Reason codes are the names of
colony.common.v1.ErrorReason without the ERROR_REASON_ prefix.
"""

from __future__ import annotations

from typing import ClassVar

import grpc

# Refusals: the service understood the call and declined it, so it changed nothing (a
# caller may treat the request as final; anything else may or may not have taken effect).
REFUSAL_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
    }
)


class DomainError(Exception):
    """A business or validation refusal with a gRPC code and a machine-readable reason."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    default_reason: ClassVar[str] = "UNSPECIFIED"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        code: grpc.StatusCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})
        if code is not None:
            self.code = code


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class FailedPrecondition(DomainError):
    """A business refusal: insufficient funds, an illegal state transition."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class Aborted(DomainError):
    """A concurrent request holds what this one needs; retrying with the same key is safe."""

    code = grpc.StatusCode.ABORTED
    default_reason = "REQUEST_IN_PROGRESS"


class IdempotencyKeyReused(AlreadyExists):
    default_reason = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used with a different request",
            metadata={"idempotency_key": key},
        )


class InsufficientFunds(FailedPrecondition):
    default_reason = "INSUFFICIENT_FUNDS"

    def __init__(self, account_id: str, needed_fen: int, available_fen: int) -> None:
        super().__init__(
            f"account {account_id} has {available_fen} fen available, {needed_fen} fen needed",
            metadata={
                "account_id": account_id,
                "needed_fen": str(needed_fen),
                "available_fen": str(available_fen),
            },
        )
