"""The merchant API (DOMAIN.md §1 and §6): API keys, escrow trades, payment codes, settlements.

The acting merchant account is always the authenticated principal's (an access token or an
API key of a merchant user), never a field of the body. A personal user is refused with 403
before any handler runs (Route.required_role). Keys are managed with an access token only:
a leaked API key must not be able to mint more keys or revoke the merchant's others.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.clock import Clock
from chassis.errors import DomainError, NotFound, Unavailable
from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.api_keys import ApiKey, ApiKeyStore
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import read_body, read_optional_body
from gateway.edge.idempotency import (
    IdempotentRequests,
    StoredResponse,
    fingerprint_request,
    require_idempotency_key,
)
from gateway.edge.identities import Role
from gateway.edge.paging import PAGING_QUERY_PARAMETERS
from gateway.edge.payloads import read_json
from gateway.edge.representations import (
    encode_json,
    json_response,
    money_json,
    money_to_proto,
    settlement_json,
    timestamp_json,
    trade_json,
)
from gateway.edge.routing import AuthScheme, Route
from gateway.operations.answers import refusal_of
from gateway.operations.start import Operations
from gateway.payment.code_wallets import CodeWallet, PaymentCodeWallets, require_chargeable
from gateway.payment.merchant_bodies import (
    CreateApiKeyRequest,
    PaymentCodeChargeRequest,
    RefundDecisionRequest,
    TradeForAccount,
    TradeForPhone,
    parse_create_trade,
)
from gateway.payment.merchant_schemas import MERCHANT_SCHEMAS
from gateway.payment.methods import PaymentMethod
from gateway.payment.requests import NoTradeOptions
from gateway.payment.sagas.wallet_payment import PaymentCodeTarget, WalletPaymentInput
from gateway.payment.trade_access import (
    TRADE_PROBLEMS,
    TRADE_STATE_QUERY,
    TradeParty,
    list_trades_as,
    require_own_trade,
    trade_id_of,
)
from gateway.payment.wallet_funding import WalletFunding
from gateway.sagas.definition import JsonObject, SagaState, derive_saga_id

log = logging.getLogger("colony.gateway.merchant")

KEY_ID_LENGTH_MAX = 64

OPERATION_CREATE_TRADE = "createMerchantTrade"
OPERATION_CHARGE_PAYMENT_CODE = "chargePaymentCode"


def _api_key_json(api_key: ApiKey) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "key_id": api_key.key_id,
        "prefix": api_key.prefix,
        "created_at": api_key.created_at.isoformat(timespec="milliseconds"),
        "scopes": list(api_key.scopes),
    }
    if api_key.expires_at is not None:
        payload["expires_at"] = api_key.expires_at.isoformat(timespec="milliseconds")
    if api_key.last_used_at is not None:
        payload["last_used_at"] = api_key.last_used_at.isoformat(timespec="milliseconds")
    return payload


def _merchant_route(
    method: str, path: str, handler: Any, operation_id: str, summary: str, **options: Any
) -> Route:
    """A merchant route: a merchant's access token or API key."""
    settings: dict[str, Any] = {
        "auth": (AuthScheme.BEARER, AuthScheme.API_KEY),
        "response_schema": "MerchantTrade",
        "problems": TRADE_PROBLEMS,
        **options,
    }
    return Route(
        method,
        path,
        handler,
        operation_id=operation_id,
        summary=summary,
        tag="merchant",
        required_role=Role.MERCHANT,
        **settings,
    )


# The app's OpenAPI document takes every route module's SCHEMAS.
SCHEMAS = MERCHANT_SCHEMAS


class MerchantRoutes:
    """Everything under /v1/merchant/."""

    def __init__(
        self,
        payment: PaymentClient,
        idempotency: IdempotentRequests,
        api_keys: ApiKeyStore,
        *,
        code_wallets: PaymentCodeWallets,
        wallet_funding: WalletFunding,
        operations: Operations,
        clock: Clock,
    ) -> None:
        self._payment = payment
        self._idempotency = idempotency
        self._api_keys = api_keys
        self._code_wallets = code_wallets
        self._wallet_funding = wallet_funding
        self._operations = operations
        self._clock = clock

    def routes(self) -> list[Route]:
        trade_path = "/v1/merchant/trades/{trade_id}"
        return [
            _merchant_route(
                "POST",
                "/v1/merchant/api-keys",
                self.create_api_key,
                "createMerchantApiKey",
                "Create an API key for the merchant's servers (the secret is shown once)",
                auth=(AuthScheme.BEARER,),
                request_schema="CreateApiKeyRequest",
                request_body_required=False,
                response_schema="ApiKeyCreated",
                response_status=HTTPStatus.CREATED,
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT",),
                    HTTPStatus.FORBIDDEN: ("PERMISSION_DENIED",),
                },
            ),
            _merchant_route(
                "GET",
                "/v1/merchant/api-keys",
                self.list_api_keys,
                "listMerchantApiKeys",
                "The merchant's active API keys (never the secrets)",
                auth=(AuthScheme.BEARER,),
                response_schema="ApiKeyList",
                problems={},
            ),
            _merchant_route(
                "DELETE",
                "/v1/merchant/api-keys/{key_id}",
                self.revoke_api_key,
                "revokeMerchantApiKey",
                "Revoke an API key: requests with it are refused from now on",
                auth=(AuthScheme.BEARER,),
                response_schema=None,
                response_status=HTTPStatus.NO_CONTENT,
                response_description="Revoked.",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",)},
            ),
            _merchant_route(
                "POST",
                "/v1/merchant/trades",
                self.create_trade,
                OPERATION_CREATE_TRADE,
                "Create an escrow trade for a buyer to pay (担保交易)",
                idempotency_key_required=True,
                request_schema="CreateTradeRequest",
                response_status=HTTPStatus.CREATED,
                response_description="Created; a replay of the same key returns this answer.",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT", "INVALID_PHONE", "SAME_ACCOUNT"),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "ACCOUNT_NOT_ACTIVE",
                        "ACCOUNT_KIND_NOT_ALLOWED",
                        "MERCHANT_NOT_APPROVED",
                    ),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
            ),
            _merchant_route(
                "GET",
                "/v1/merchant/trades",
                self.list_trades,
                "listMerchantTrades",
                "The merchant's trades, newest first",
                response_schema="MerchantTradeList",
                query_parameters=(TRADE_STATE_QUERY, *PAGING_QUERY_PARAMETERS),
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",)},
            ),
            _merchant_route(
                "GET",
                trade_path,
                self.get_trade,
                "getMerchantTrade",
                "One of the merchant's trades",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",)},
            ),
            _merchant_route(
                "POST",
                f"{trade_path}/ship",
                self.ship,
                "shipMerchantTrade",
                "Mark a paid trade shipped (starts the 10-day auto-confirm clock)",
                request_schema="NoTradeOptions",
                request_body_required=False,
            ),
            _merchant_route(
                "POST",
                f"{trade_path}/refund-decision",
                self.decide_refund,
                "decideMerchantTradeRefund",
                "Approve or reject the buyer's open refund request",
                request_schema="RefundDecisionRequest",
            ),
            _merchant_route(
                "POST",
                f"{trade_path}/cancel",
                self.cancel,
                "cancelMerchantTrade",
                "Cancel an unpaid trade",
                request_schema="NoTradeOptions",
                request_body_required=False,
            ),
            _merchant_route(
                "POST",
                "/v1/merchant/payment-code-charges",
                self.charge_payment_code,
                OPERATION_CHARGE_PAYMENT_CODE,
                "Charge the payment code a payer shows (付款码, face to face)",
                idempotency_key_required=True,
                request_schema="PaymentCodeChargeRequest",
                response_schema="PaymentCodeCharge",
                response_status=HTTPStatus.CREATED,
                response_description="Charged; a replay of the same key returns this answer.",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT", "INVALID_PAYMENT_CODE"),
                    HTTPStatus.NOT_FOUND: ("INVALID_PAYMENT_CODE",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "PAYMENT_CODE_USED",
                        "PAYMENT_CODE_EXPIRED",
                        "INSUFFICIENT_FUNDS",
                        "RISK_DENIED",
                        "RISK_CHALLENGE_REQUIRED",
                        "PAYMENT_AUTHORIZATION_INVALID",
                        "FAST_REDEMPTION_LIMIT_EXCEEDED",
                        "MERCHANT_NOT_APPROVED",
                    ),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
            ),
            _merchant_route(
                "GET",
                "/v1/merchant/settlements",
                self.list_settlements,
                "listMerchantSettlements",
                "The merchant's settled trades: paid, refunded, received and fee, newest first",
                response_schema="SettlementList",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",)},
            ),
        ]

    async def create_api_key(self, request: web.Request) -> web.Response:
        body = await read_optional_body(request, CreateApiKeyRequest)
        scopes, lifetime_days = body.scopes_in_order(), body.expires_in_days
        caller = request[CALLER]
        issued = await self._api_keys.create(
            caller.user_id, caller.account_id, scopes=scopes, lifetime_days=lifetime_days
        )
        log.info(
            "merchant API key created",
            extra={"user_id": caller.user_id, "key_id": issued.record.key_id},
        )
        return json_response(
            {**_api_key_json(issued.record), "api_key": issued.api_key},
            status=HTTPStatus.CREATED,
        )

    async def list_api_keys(self, request: web.Request) -> web.Response:
        keys = await self._api_keys.list_active(request[CALLER].user_id)
        return json_response({"api_keys": [_api_key_json(key) for key in keys]})

    async def revoke_api_key(self, request: web.Request) -> web.Response:
        key_id = request.match_info["key_id"]
        caller = request[CALLER]
        if len(key_id) > KEY_ID_LENGTH_MAX:
            raise NotFound("no active API key with that id")
        await self._api_keys.revoke(caller.user_id, key_id)
        log.info("merchant API key revoked", extra={"user_id": caller.user_id, "key_id": key_id})
        return web.Response(status=HTTPStatus.NO_CONTENT)

    async def create_trade(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = parse_create_trade(await read_json(request))
        buyer_phone = body.buyer_phone if isinstance(body, TradeForPhone) else None
        buyer_account_id = body.buyer_account_id if isinstance(body, TradeForAccount) else None
        amount, description = Money(body.amount_fen, body.currency), body.description
        window_seconds = body.payment_window_seconds
        caller = request[CALLER]

        async def create(grpc_key: str) -> StoredResponse:
            buyer_id = buyer_account_id or ""
            if buyer_phone is not None:
                buyer_id = (await self._payment.find_account_by_phone(buyer_phone)).account_id
            trade = await self._payment.create_trade(
                pb.CreateTradeRequest(
                    idempotency_key=grpc_key,
                    merchant_account_id=caller.account_id,
                    buyer_account_id=buyer_id,
                    amount=money_to_proto(amount),
                    description=description,
                    payment_window_seconds=window_seconds or 0,
                )
            )
            return StoredResponse(
                status=HTTPStatus.CREATED, body=encode_json(trade_json(trade, merchant_view=True))
            )

        return await self._idempotency.respond(
            user_id=caller.user_id,
            key=key,
            operation_id=OPERATION_CREATE_TRADE,
            body=body.fields_sent(),
            operation=create,
        )

    async def list_trades(self, request: web.Request) -> web.Response:
        return await list_trades_as(self._payment, request, TradeParty.MERCHANT)

    async def _own_trade(self, request: web.Request) -> pb.Trade:
        return await require_own_trade(
            self._payment, trade_id_of(request), request[CALLER].account_id, TradeParty.MERCHANT
        )

    async def get_trade(self, request: web.Request) -> web.Response:
        return json_response(trade_json(await self._own_trade(request), merchant_view=True))

    async def ship(self, request: web.Request) -> web.Response:
        await read_optional_body(request, NoTradeOptions)
        trade = await self._own_trade(request)
        shipped = await self._payment.mark_trade_shipped(trade.trade_id, request[CALLER].account_id)
        return json_response(trade_json(shipped, merchant_view=True))

    async def decide_refund(self, request: web.Request) -> web.Response:
        approve = (await read_body(request, RefundDecisionRequest)).approve
        trade = await self._own_trade(request)
        decided = await self._payment.decide_trade_refund(
            pb.DecideTradeRefundRequest(
                trade_id=trade.trade_id,
                merchant_account_id=request[CALLER].account_id,
                approve=approve,
            )
        )
        return json_response(trade_json(decided, merchant_view=True))

    async def cancel(self, request: web.Request) -> web.Response:
        await read_optional_body(request, NoTradeOptions)
        trade = await self._own_trade(request)
        cancelled = await self._payment.cancel_trade(trade.trade_id, request[CALLER].account_id)
        return json_response(trade_json(cancelled, merchant_view=True))

    async def charge_payment_code(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, PaymentCodeChargeRequest)
        code, memo = body.code, body.memo
        amount = Money(body.amount_fen, body.currency)
        sent = body.fields_sent()
        caller = request[CALLER]
        # The payer's wallet payment for this charge, if one was ever started: a retry
        # follows it whatever became of the code since (never a second path).
        saga_id = derive_saga_id(caller.user_id, key)

        async def charge(grpc_key: str, wallet: CodeWallet | None) -> StoredResponse:
            response = await self._payment.charge_payment_code(
                pb.ChargePaymentCodeRequest(
                    idempotency_key=grpc_key,
                    merchant_account_id=caller.account_id,
                    code=code,
                    amount=money_to_proto(amount),
                    memo=memo,
                    payment_authorization=wallet.payment_authorization if wallet else "",
                )
            )
            if wallet is not None:
                await self._code_wallets.mark_used(code, self._clock.now())
            return _charge_answer(
                posting_id=response.posting.posting_id,
                amount=amount,
                payer_name=response.payer_name,
                memo=response.posting.memo,
                posted_at=timestamp_json(response.posting.posted_at),
            )

        async def charge_with_wallet(
            owner_user_id: str, wallet: CodeWallet | None
        ) -> StoredResponse:
            # The payer's methods pay (a Yu'e Bao part is redeemed into the balance first):
            # the wallet payment saga, named by the merchant's key, owned by the payer.
            async def saga_input() -> JsonObject:
                assert wallet is not None  # a new saga: the route looked the wallet up
                funding = await self._wallet_funding.plan(
                    wallet.account_id, amount, wallet.methods, split=wallet.split
                )
                return WalletPaymentInput.planned(
                    payer_account_id=wallet.account_id,
                    target=PaymentCodeTarget(caller.account_id, code, memo),
                    amount=amount,
                    funding=funding,
                    payment_authorization=wallet.payment_authorization,
                ).to_json()

            record = await self._operations.run(
                self._operations.sagas.wallet_payment,
                saga_id=saga_id,
                owner_user_id=owner_user_id,
                fingerprint=fingerprint_request(OPERATION_CHARGE_PAYMENT_CODE, sent),
                saga_input=saga_input,
            )
            if record.state is SagaState.COMPENSATED:
                raise refusal_of(record)
            if record.state is not SagaState.COMPLETED or record.result is None:
                # Not an answer to keep: the key stays free and a retry follows the saga.
                raise Unavailable(
                    "the charge is still being processed; retry with the same Idempotency-Key"
                )
            await self._code_wallets.mark_used(code, self._clock.now())
            paid = record.result
            return _charge_answer(
                posting_id=paid["posting_id"],
                amount=amount,
                payer_name=paid["payer_name"],
                memo=paid["memo"],
                posted_at=paid["paid_at"],
            )

        async def operation(grpc_key: str) -> StoredResponse:
            try:
                existing = await self._operations.engine.get(saga_id)
                if existing is not None:
                    return await charge_with_wallet(existing.owner_user_id, None)
                wallet = await self._code_wallets.find(code)
                if wallet is None or wallet.methods == (PaymentMethod.BALANCE,):
                    return await charge(grpc_key, wallet)
                # Refused before any Yu'e Bao is redeemed for a code that cannot be charged.
                require_chargeable(wallet, self._clock.now())
                return await charge_with_wallet(wallet.user_id, wallet)
            except DomainError as error:
                raise _as_merchant_sees_it(error) from None

        return await self._idempotency.respond(
            user_id=caller.user_id,
            key=key,
            operation_id=OPERATION_CHARGE_PAYMENT_CODE,
            body=sent,
            operation=operation,
        )

    async def list_settlements(self, request: web.Request) -> web.Response:
        return await list_trades_as(
            self._payment,
            request,
            TradeParty.MERCHANT,
            settlement_json,
            state=pb.TRADE_STATE_SETTLED,
            items_name="settlements",
        )


def _charge_answer(
    *, posting_id: str, amount: Money, payer_name: str, memo: str, posted_at: str
) -> StoredResponse:
    payload = {
        "posting_id": posting_id,
        "amount": money_json(amount),
        "payer_name": payer_name,
        "memo": memo,
        "posted_at": posted_at,
    }
    return StoredResponse(status=HTTPStatus.CREATED, body=encode_json(payload))


def _as_merchant_sees_it(error: DomainError) -> DomainError:
    """A refusal of a code charge as the merchant may see it: the reason, not the payer's
    figures (how much they have, which risk rules fired) nor the payer's operation."""
    if error.reason == "INSUFFICIENT_FUNDS":
        return DomainError("the payer cannot pay this amount", reason=error.reason, kind=error.kind)
    return DomainError(error.message, reason=error.reason, kind=error.kind)
