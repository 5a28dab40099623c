"""What an outgoing payment tells real-time risk control (风控, DOMAIN.md §1).

The gateway only carries the signals; the payment service decides ALLOW / CHALLENGE / DENY
(services/payment/risk.py). The device id comes from the ``X-Device-Id`` header (absent:
empty), the payment password from the request body when the client answers a challenge or
confirms up front. The password is checked for shape only here: its rules (six digits,
lockout) belong to the service. It is never logged, fingerprinted or stored
(gateway.edge.idempotency.SECRET_BODY_FIELDS).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chassis.errors import InvalidArgument
from colony.payment.v1 import payment_pb2 as pb

DEVICE_ID_HEADER = "X-Device-Id"
DEVICE_ID_LENGTH_MAX = 128
PAYMENT_PASSWORD_FIELD = "payment_password"
# Generous next to the service's six digits: a longer value is refused before it travels.
PAYMENT_PASSWORD_LENGTH_MAX = 32

# The refusals a risk-checked route may answer (documented in OpenAPI, gateway.edge.openapi).
RISK_REFUSAL_REASONS = (
    "RISK_CHALLENGE_REQUIRED",
    "RISK_DENIED",
    "PAYMENT_PASSWORD_WRONG",
    "PAYMENT_PASSWORD_LOCKED",
    "PAYMENT_PASSWORD_NOT_SET",
    "PAYMENT_AUTHORIZATION_INVALID",
)


def device_id_of(request: web.Request) -> str:
    """The X-Device-Id header: printable ASCII up to 128 characters, empty when absent."""
    device_id = request.headers.get(DEVICE_ID_HEADER, "")
    if len(device_id) > DEVICE_ID_LENGTH_MAX or not (
        device_id.isascii() and device_id.isprintable()
    ):
        raise InvalidArgument(
            f"the {DEVICE_ID_HEADER} header must be at most {DEVICE_ID_LENGTH_MAX} printable "
            "ASCII characters",
            metadata={"field": DEVICE_ID_HEADER},
        )
    return device_id


def optional_payment_password(body: dict[str, Any]) -> str:
    """The body's payment_password (empty when absent); its value is never echoed back."""
    password = body.get(PAYMENT_PASSWORD_FIELD)
    if password is None:
        return ""
    if not isinstance(password, str) or len(password) > PAYMENT_PASSWORD_LENGTH_MAX:
        raise InvalidArgument(
            "payment_password must be a string of six digits",
            reason="INVALID_PAYMENT_PASSWORD",
            metadata={"field": PAYMENT_PASSWORD_FIELD},
        )
    return password


def risk_signals(request: web.Request, body: dict[str, Any]) -> pb.RiskSignals:
    """The RiskSignals of an outgoing payment request."""
    return pb.RiskSignals(
        device_id=device_id_of(request), payment_password=optional_payment_password(body)
    )


# OpenAPI: the payment_password property of every risk-checked request body.
PAYMENT_PASSWORD_PROPERTY: dict[str, Any] = {
    "type": "string",
    "format": "password",
    "maxLength": PAYMENT_PASSWORD_LENGTH_MAX,
    "description": (
        "The 6-digit payment password: send it when a previous attempt was refused with "
        "RISK_CHALLENGE_REQUIRED, retrying with the same Idempotency-Key (or up front)."
    ),
}
