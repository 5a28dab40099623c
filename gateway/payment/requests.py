"""What the payment routes read from requests and document alike: ids, memos, bills.

Transport bounds only (an id or text longer than this cannot be right); the payment
service holds the real limits and refuses the rest.
"""

from __future__ import annotations

from typing import Any

from chassis.errors import InvalidArgument
from gateway.edge.payloads import AMOUNT_PROPERTIES

PHONE_LENGTH_MAX = 32
ACCOUNT_ID_LENGTH_MAX = 64
MEMO_LENGTH_MAX = 64
BILLER_ID_LENGTH_MAX = 64
# The biller's own format is checked by the service.
BILL_REFERENCE_LENGTH_MAX = 64


def parse_memo(body: dict[str, Any]) -> str:
    """The optional memo of a payment: a string of at most MEMO_LENGTH_MAX characters."""
    memo = body.get("memo", "")
    if not isinstance(memo, str) or len(memo) > MEMO_LENGTH_MAX:
        raise InvalidArgument(
            f"memo must be a string of at most {MEMO_LENGTH_MAX} characters",
            metadata={"field": "memo"},
        )
    return memo


# OpenAPI: what says which bill is paid (here, and in wallet pay's bill).
BILL_PROPERTIES: dict[str, Any] = {
    "biller_id": {"type": "string", "maxLength": BILLER_ID_LENGTH_MAX},
    "reference": {
        "type": "string",
        "maxLength": BILL_REFERENCE_LENGTH_MAX,
        "description": "The customer number on the bill.",
    },
    **AMOUNT_PROPERTIES,
}
