"""Return-shipping insurance (退货运费险) woven into paying a trade.

When a buyer pays a trade, the platform offers the cover: ``POST
/v1/trades/{trade_id}/return-shipping-quote`` prices it for that trade (the merchant's refund
rate and the trade's amount; gateway.insurance.quoting), and ``POST /v1/wallet/payments``
accepts it with ``return_shipping_quote_id``: once the trade's payment has completed, the
same request buys the quote by the policy_premium saga, paid with the same methods. The
premium saga's id derives from the caller and the request's Idempotency-Key (with a suffix
of its own), so a retried request buys the cover at most once; a cover that cannot be bought
(the quote expired, the balance spent) leaves the paid trade as it is and says why.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from chassis.errors import DomainError, InvalidArgument
from gateway.edge.authentication import CALLER
from gateway.edge.idempotency import require_idempotency_key
from gateway.edge.representations import encode_json
from gateway.insurance.purchases import Purchases
from gateway.operations.answers import operation_json
from gateway.operations.start import Operations
from gateway.payment.methods import PaymentMethod
from gateway.sagas.definition import JsonObject, SagaState, derive_saga_id

RETURN_SHIPPING_QUOTE_FIELD = "return_shipping_quote_id"
QUOTE_ID_LENGTH_MAX = 64
KEY_SUFFIX = "#return-shipping-insurance"
OPERATION_BUY = "buyInsurancePolicy"
RETURN_SHIPPING_PRODUCT_ID = "return-shipping"

# OpenAPI: the property of POST /v1/wallet/payments that accepts the offered cover.
RETURN_SHIPPING_QUOTE_PROPERTY: dict[str, Any] = {
    "type": "string",
    "maxLength": QUOTE_ID_LENGTH_MAX,
    "description": "Buy the return-shipping insurance quoted for this trade (POST "
    "/v1/trades/{trade_id}/return-shipping-quote) once the trade is paid, with the same "
    "methods; the answer's return_shipping_insurance is that purchase's operation.",
}


class ReturnShippingCover:
    """Buys the offered cover after a trade's payment (the wallet pay route calls it)."""

    def __init__(self, operations: Operations, purchases: Purchases) -> None:
        self._operations = operations
        self._purchases = purchases

    async def after_payment(
        self,
        request: web.Request,
        paid: web.Response,
        quote_id: str,
        methods: tuple[PaymentMethod, ...],
        split: bool,
    ) -> web.Response:
        """The payment's answer, with the cover bought when the payment completed."""
        if paid.status != web.HTTPCreated.status_code or not isinstance(paid.body, bytes):
            return paid
        answer = json.loads(paid.body)
        if answer.get("state") != SagaState.COMPLETED.value:
            return paid
        caller = request[CALLER]
        key = require_idempotency_key(request) + KEY_SUFFIX

        trade_id = (answer.get("result") or {}).get("trade_id")

        async def saga_input() -> JsonObject:
            built = await self._purchases.premium_input(caller.account_id, quote_id, methods, split)
            if built["product_id"] != RETURN_SHIPPING_PRODUCT_ID or built["subject_id"] != trade_id:
                raise InvalidArgument(
                    f"quote {quote_id} is not return-shipping insurance for trade {trade_id}",
                    metadata={"field": RETURN_SHIPPING_QUOTE_FIELD},
                )
            return built

        try:
            record = await self._operations.run(
                self._operations.sagas.policy_premium,
                saga_id=derive_saga_id(caller.user_id, key),
                owner_user_id=caller.user_id,
                fingerprint=f"{OPERATION_BUY}:{quote_id}",
                saga_input=saga_input,
            )
        except DomainError as error:
            # Refused before anything moved (not the caller's quote, the premium not payable
            # now): the trade stays paid, and the answer says why there is no cover.
            answer["return_shipping_insurance"] = {
                "state": "refused",
                "error": {"reason": error.reason, "detail": error.message},
            }
        else:
            answer["return_shipping_insurance"] = operation_json(record)
        return web.Response(
            status=paid.status,
            body=encode_json(answer),
            content_type="application/json",
            headers={name: paid.headers[name] for name in ("Location",) if name in paid.headers},
        )
