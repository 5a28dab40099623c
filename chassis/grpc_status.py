"""Error kinds ⇄ gRPC status codes: the one mapping, used by the server and its clients.

The server interceptor (chassis.grpc_server) turns a DomainError into a status with
google.rpc.ErrorInfo through ``status_code_of``; a client (the gateway) turns a failed call
back into a DomainError through ``kind_of``.
"""

from __future__ import annotations

import grpc

from chassis.errors import ErrorKind

_STATUS_OF_KIND = {kind: grpc.StatusCode[kind.name] for kind in ErrorKind}
_KIND_OF_STATUS = {status: kind for kind, status in _STATUS_OF_KIND.items()}


def status_code_of(kind: ErrorKind) -> grpc.StatusCode:
    """The gRPC status code for a kind of error (same canonical name)."""
    return _STATUS_OF_KIND[kind]


def kind_of(code: grpc.StatusCode) -> ErrorKind:
    """The kind of error a gRPC status code stands for (UNKNOWN for INTERNAL and the like)."""
    return _KIND_OF_STATUS.get(code, ErrorKind.UNKNOWN)
