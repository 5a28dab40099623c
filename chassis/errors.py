"""The error model: domain errors with stable reason codes (DESIGN.md "Contracts").

A rule that fails raises one of these where it fails. Each carries a reason (the names of
colony.common.v1.ErrorReason without the ERROR_REASON_ prefix) and a kind of refusal. This
module imports no transport: the kind becomes a gRPC status code once, in chassis.grpc_status
(used by the server interceptor and by the gateway's client), and an HTTP status once, in the
gateway's problems module.
"""

from __future__ import annotations

import enum
from typing import ClassVar


class ErrorKind(enum.Enum):
    """How a request failed, in the canonical error space (google.rpc.Code).

    The member names are the canonical code names, so a kind stored by name (in a saga log
    or an idempotency record) reads back the same whichever transport produced it.
    """

    INVALID_ARGUMENT = "invalid"
    OUT_OF_RANGE = "out of range"
    NOT_FOUND = "not found"
    ALREADY_EXISTS = "already exists"
    FAILED_PRECONDITION = "precondition"
    PERMISSION_DENIED = "permission"
    UNAUTHENTICATED = "unauthenticated"
    ABORTED = "aborted"
    RESOURCE_EXHAUSTED = "exhausted"
    UNAVAILABLE = "unavailable"
    DEADLINE_EXCEEDED = "deadline"
    UNKNOWN = "unknown"


# Refusals: the service understood the call and declined it, so it changed nothing (a
# caller may treat the request as final; anything else may or may not have taken effect).
REFUSAL_KINDS = frozenset(
    {
        ErrorKind.INVALID_ARGUMENT,
        ErrorKind.OUT_OF_RANGE,
        ErrorKind.NOT_FOUND,
        ErrorKind.ALREADY_EXISTS,
        ErrorKind.FAILED_PRECONDITION,
        ErrorKind.PERMISSION_DENIED,
    }
)
# Worth retrying with the same idempotency key: the callee may never have seen the call.
TRANSIENT_KINDS = frozenset(
    {ErrorKind.UNAVAILABLE, ErrorKind.DEADLINE_EXCEEDED, ErrorKind.RESOURCE_EXHAUSTED}
)


class DomainError(Exception):
    """A business or validation refusal with a kind and a machine-readable reason."""

    kind: ErrorKind = ErrorKind.UNKNOWN
    default_reason: ClassVar[str] = "UNSPECIFIED"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        kind: ErrorKind | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})
        if kind is not None:
            self.kind = kind

    @property
    def is_refusal(self) -> bool:
        """Declined on purpose: nothing changed, and the same request gets the same answer."""
        return self.kind in REFUSAL_KINDS


class InvalidArgument(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    default_reason = "NOT_FOUND"


class FailedPrecondition(DomainError):
    """A business refusal: insufficient funds, an illegal state transition."""

    kind = ErrorKind.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class AlreadyExists(DomainError):
    kind = ErrorKind.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class PermissionDenied(DomainError):
    kind = ErrorKind.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    kind = ErrorKind.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class Unavailable(DomainError):
    kind = ErrorKind.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class Aborted(DomainError):
    """A concurrent request holds what this one needs; retrying with the same key is safe."""

    kind = ErrorKind.ABORTED
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
