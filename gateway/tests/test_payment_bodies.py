"""The payment request bodies are declared once (issue 21 item 13).

Each body of the payment routes (trades, payment codes, bills, the payment password, wallet
pay, the merchant's and the operator's payment routes) is a strict pydantic model
(gateway.edge.bodies): the OpenAPI document's request schema of every such route is exactly
what its model renders, and through the real gateway a schema-valid body gets past the body
check (whatever the business then says) while a schema-violating one is a 400 naming the
field, with the field's reason. The models and their schemas agree on generated bodies
(test_payment_models.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.edge.bodies import Body, body_schemas
from gateway.payment.merchant_bodies import (
    CreateApiKeyRequest,
    PaymentCodeChargeRequest,
    RefundDecisionRequest,
    TradeForAccount,
    TradeForPhone,
)
from gateway.payment.routes.admin import BlacklistRequest, HotAccountRequest, TradeJobsRequest
from gateway.payment.routes.merchant_payments import MerchantPaymentRequest
from gateway.payment.routes.money_movement import (
    TopUpRequest,
    TransferToAccount,
    TransferToPhone,
    WithdrawalRequest,
)
from gateway.payment.routes.payments import (
    AuthorizedPaymentCodeOptions,
    BillPaymentRequest,
    PaymentCodeOptions,
    PaymentPasswordRequest,
)
from gateway.payment.routes.trades import NoTradeOptions, PayTradeRequest, RefundRequest
from gateway.payment.routes.wallet_pay import BillWalletPayment, TradeWalletPayment
from gateway.settings import GatewaySettings
from gateway.tests.conftest import User, gateway_settings
from gateway.tests.saga_support import new_key
from gateway.tests.test_wealth_credit_bodies import _refused_for_the_body

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]

MODELS: tuple[type[Body], ...] = (
    PayTradeRequest,
    RefundRequest,
    NoTradeOptions,
    PaymentCodeOptions,
    AuthorizedPaymentCodeOptions,
    BillPaymentRequest,
    PaymentPasswordRequest,
    TradeWalletPayment,
    BillWalletPayment,
    MerchantPaymentRequest,
    CreateApiKeyRequest,
    TradeForPhone,
    TradeForAccount,
    RefundDecisionRequest,
    PaymentCodeChargeRequest,
    BlacklistRequest,
    HotAccountRequest,
    TradeJobsRequest,
    TopUpRequest,
    WithdrawalRequest,
    TransferToPhone,
    TransferToAccount,
)
# Request schemas that are one of two models.
ONE_OF = {
    "PaymentCodeRequest": ("PaymentCodeOptions", "AuthorizedPaymentCodeOptions"),
    "WalletPaymentRequest": ("TradeWalletPayment", "BillWalletPayment"),
    "CreateTradeRequest": ("TradeForPhone", "TradeForAccount"),
    "TransferRequest": ("TransferToPhone", "TransferToAccount"),
}
HOISTED = {"BillRequest"}  # wallet pay's bill, nested in its model
# The payment routes' operations that take a body (the document's paths and methods).
OPERATIONS = {
    ("post", "/v1/trades/{trade_id}/pay"),
    ("post", "/v1/trades/{trade_id}/confirm-receipt"),
    ("post", "/v1/trades/{trade_id}/refund-request"),
    ("post", "/v1/trades/{trade_id}/cancel"),
    ("post", "/v1/payment-codes"),
    ("post", "/v1/bill-payments"),
    ("put", "/v1/payment-password"),
    ("post", "/v1/wallet/payments"),
    ("post", "/v1/merchant-payments"),
    ("post", "/v1/merchant/api-keys"),
    ("post", "/v1/merchant/trades"),
    ("post", "/v1/merchant/trades/{trade_id}/ship"),
    ("post", "/v1/merchant/trades/{trade_id}/refund-decision"),
    ("post", "/v1/merchant/trades/{trade_id}/cancel"),
    ("post", "/v1/merchant/payment-code-charges"),
    ("put", "/v1/admin/blacklist/{account_id}"),
    ("put", "/v1/admin/accounts/{account_id}/hot"),
    ("post", "/v1/admin/trades/{trade_id}/refund-decision"),
    ("post", "/v1/admin/jobs/trade-jobs"),
    ("post", "/v1/topups"),
    ("post", "/v1/withdrawals"),
    ("post", "/v1/transfers"),
}
DECLINED = "4000000000000002"  # the fake bank's declined card: a valid body, a 422
NOBODY = "2088000000000000"
MISSING_MERCHANT_TRADE = "/v1/merchant/trades/T0000000000000000000000"
MISSING_TRADE = "/v1/trades/T0000000000000000000000"


@pytest.fixture(scope="module")
def service_addresses(credit_service_addresses: dict[str, str]) -> dict[str, str]:
    return credit_service_addresses


@pytest.fixture(scope="module")
def settings(
    database_name: str, service_addresses: dict[str, str], operator_phone: str
) -> GatewaySettings:
    # Every case is a money request of one of three callers: no per-minute budget here.
    return gateway_settings(
        database_name,
        service_addresses,
        COLONY_OPERATOR_PHONES=operator_phone,
        COLONY_RATE_LIMIT_MONEY_PER_MINUTE="0",
        COLONY_RATE_LIMIT_WRITE_PER_MINUTE="0",
    )


Violations = list[tuple[dict[str, Any], str, str]]
# (who, method, path, a schema-valid body, [(a schema-violating body, its field, its reason)])
CASES: list[tuple[str, str, str, dict[str, Any], Violations]] = [
    (
        "user",
        "POST",
        f"{MISSING_TRADE}/pay",
        {"payment_password": "135790"},
        [
            ({"payment_password": 135790}, "payment_password", "INVALID_PAYMENT_PASSWORD"),
            ({"payment_password": "1" * 33}, "payment_password", "INVALID_PAYMENT_PASSWORD"),
            ({"pin": "135790"}, "pin", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "user",
        "POST",
        f"{MISSING_TRADE}/refund-request",
        {"amount_fen": 0, "reason": "broken"},
        [
            ({"amount_fen": -1, "reason": "broken"}, "amount_fen", "INVALID_AMOUNT"),
            ({"amount_fen": 1.5, "reason": "broken"}, "amount_fen", "INVALID_AMOUNT"),
            ({"reason": "broken", "currency": "USD"}, "currency", "UNSUPPORTED_CURRENCY"),
            ({"reason": "  "}, "reason", "INVALID_ARGUMENT"),
            ({"reason": "x" * 513}, "reason", "INVALID_ARGUMENT"),
            ({}, "reason", "INVALID_ARGUMENT"),
        ],
    ),
    ("user", "POST", f"{MISSING_TRADE}/cancel", {}, [({"why": "x"}, "why", "INVALID_ARGUMENT")]),
    (
        "user",
        "POST",
        f"{MISSING_TRADE}/confirm-receipt",
        {},
        [({"now": True}, "now", "INVALID_ARGUMENT")],
    ),
    (
        "user",
        "POST",
        "/v1/payment-codes",
        {"methods": ["yuebao", "balance"], "split": True},
        [
            ({"methods": []}, "methods", "INVALID_ARGUMENT"),
            ({"methods": ["balance", "balance"]}, "methods", "INVALID_ARGUMENT"),
            ({"methods": ["bitcoin"]}, "methods.0", "INVALID_ARGUMENT"),
            ({"split": "yes"}, "split", "INVALID_ARGUMENT"),
            # The schema-violating body schemathesis found accepted (issue 21 item 13).
            ({"amount_limit_fen": None}, "payment_password", "INVALID_PAYMENT_PASSWORD"),
            (
                {"payment_password": "135790", "amount_limit_fen": None},
                "amount_limit_fen",
                "INVALID_AMOUNT",
            ),
            ({"amount_limit_fen": 100}, "payment_password", "INVALID_PAYMENT_PASSWORD"),
            ({"payment_password": "135790"}, "amount_limit_fen", "INVALID_AMOUNT"),
            (
                {"payment_password": "", "amount_limit_fen": 100},
                "payment_password",
                "INVALID_PAYMENT_PASSWORD",
            ),
        ],
    ),
    (
        "user",
        "POST",
        "/v1/bill-payments",
        {"biller_id": "no-such-biller", "reference": "0001", "amount_fen": 100},
        [
            ({"biller_id": "b", "reference": "r", "amount_fen": 0}, "amount_fen", "INVALID_AMOUNT"),
            ({"biller_id": "", "reference": "r", "amount_fen": 1}, "biller_id", "INVALID_ARGUMENT"),
            ({"biller_id": "b", "amount_fen": 1}, "reference", "INVALID_ARGUMENT"),
            (
                {"biller_id": "b", "reference": "r" * 65, "amount_fen": 1},
                "reference",
                "INVALID_ARGUMENT",
            ),
        ],
    ),
    (
        "user",
        "PUT",
        "/v1/payment-password",
        # Valid as a body; a wrong log-in password is a 403 (LOGIN_PASSWORD_WRONG).
        {"login_password": "not-the-password", "new_password": "135790"},
        [
            ({"new_password": "135790"}, "login_password", "INVALID_ARGUMENT"),
            (
                {"login_password": "", "new_password": "135790"},
                "login_password",
                "INVALID_ARGUMENT",
            ),
            ({"login_password": "p", "new_password": " "}, "new_password", "INVALID_ARGUMENT"),
            (
                {"login_password": "p", "new_password": "135790", "current_password": 1},
                "current_password",
                "INVALID_ARGUMENT",
            ),
        ],
    ),
    (
        "user",
        "POST",
        "/v1/wallet/payments",
        {"trade_id": "T0000000000000000000000", "methods": ["balance"], "split": False},
        [
            ({}, "trade_id", "INVALID_ARGUMENT"),
            ({"trade_id": "t", "bill": {}}, "bill", "INVALID_ARGUMENT"),
            ({"trade_id": ""}, "trade_id", "INVALID_ARGUMENT"),
            ({"trade_id": "t", "methods": ["huabei", "huabei"]}, "methods", "INVALID_ARGUMENT"),
            (
                {"trade_id": "t", "return_shipping_quote_id": " "},
                "return_shipping_quote_id",
                "INVALID_ARGUMENT",
            ),
            ({"bill": "water"}, "bill", "INVALID_ARGUMENT"),
            (
                {"bill": {"biller_id": "b", "reference": "r", "amount_fen": 1.5}},
                "bill.amount_fen",
                "INVALID_AMOUNT",
            ),
            (
                {"bill": {"biller_id": "b", "reference": "r", "amount_fen": 1, "x": 1}},
                "bill.x",
                "INVALID_ARGUMENT",
            ),
            (
                {
                    "bill": {"biller_id": "b", "reference": "r", "amount_fen": 1},
                    "return_shipping_quote_id": "q",
                },
                "return_shipping_quote_id",
                "INVALID_ARGUMENT",
            ),
        ],
    ),
    (
        "user",
        "POST",
        "/v1/merchant-payments",
        # Valid as a body; a merchant that is not there is a 404.
        {"to_account_id": "2188000000000000", "amount_fen": 100, "memo": ""},
        [
            ({"to_account_id": " ", "amount_fen": 100}, "to_account_id", "INVALID_ARGUMENT"),
            ({"to_account_id": "2188", "amount_fen": "100"}, "amount_fen", "INVALID_AMOUNT"),
            (
                {"to_account_id": "2188", "amount_fen": 1, "memo": "m" * 65},
                "memo",
                "INVALID_ARGUMENT",
            ),
            (
                {"to_account_id": "2188", "amount_fen": 1, "payment_password": None},
                "payment_password",
                "INVALID_PAYMENT_PASSWORD",
            ),
        ],
    ),
    (
        "merchant",
        "POST",
        "/v1/merchant/api-keys",
        {"scopes": ["read", "money"], "expires_in_days": 30},
        [
            ({"scopes": []}, "scopes", "INVALID_ARGUMENT"),
            ({"scopes": ["read", "read"]}, "scopes", "INVALID_ARGUMENT"),
            ({"scopes": ["admin"]}, "scopes.0", "INVALID_ARGUMENT"),
            ({"expires_in_days": 0}, "expires_in_days", "INVALID_ARGUMENT"),
            ({"expires_in_days": 30.5}, "expires_in_days", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "merchant",
        "POST",
        "/v1/merchant/trades",
        # Valid as a body; no account has that phone (404).
        {"buyer_phone": "13000000000", "amount_fen": 100, "description": "tea"},
        [
            ({"amount_fen": 100, "description": "tea"}, "buyer_account_id", "INVALID_ARGUMENT"),
            (
                {"buyer_phone": "139", "amount_fen": 100, "description": "tea"},
                "buyer_phone",
                "INVALID_PHONE",
            ),
            (
                {"buyer_phone": "13900000000\n", "amount_fen": 100, "description": "tea"},
                "buyer_phone",
                "INVALID_PHONE",
            ),
            (
                {
                    "buyer_phone": "13900000000",
                    "buyer_account_id": "2088",
                    "amount_fen": 100,
                    "description": "tea",
                },
                "buyer_account_id",
                "INVALID_ARGUMENT",
            ),
            (
                {"buyer_account_id": "2088", "amount_fen": 100, "description": " "},
                "description",
                "INVALID_ARGUMENT",
            ),
            (
                {"buyer_account_id": "2088", "amount_fen": 1, "description": "t", "currency": "X"},
                "currency",
                "UNSUPPORTED_CURRENCY",
            ),
            (
                {
                    "buyer_account_id": "2088",
                    "amount_fen": 100,
                    "description": "tea",
                    "payment_window_seconds": 0,
                },
                "payment_window_seconds",
                "INVALID_ARGUMENT",
            ),
        ],
    ),
    (
        "merchant",
        "POST",
        f"{MISSING_MERCHANT_TRADE}/refund-decision",
        {"approve": False},
        [({"approve": "no"}, "approve", "INVALID_ARGUMENT"), ({}, "approve", "INVALID_ARGUMENT")],
    ),
    (
        "merchant",
        "POST",
        f"{MISSING_MERCHANT_TRADE}/ship",
        {},
        [({"x": 1}, "x", "INVALID_ARGUMENT")],
    ),
    (
        "merchant",
        "POST",
        f"{MISSING_MERCHANT_TRADE}/cancel",
        {},
        [({"x": 1}, "x", "INVALID_ARGUMENT")],
    ),
    (
        "merchant",
        "POST",
        "/v1/merchant/payment-code-charges",
        # Valid as a body; no such code (INVALID_PAYMENT_CODE).
        {"code": "280000000000000000", "amount_fen": 100, "memo": "tea"},
        [
            ({"code": "", "amount_fen": 100}, "code", "INVALID_PAYMENT_CODE"),
            (
                {"code": "280000000000000000", "amount_fen": 10**12 + 1},
                "amount_fen",
                "INVALID_AMOUNT",
            ),
            (
                {"code": "280000000000000000", "amount_fen": 1, "memo": 7},
                "memo",
                "INVALID_ARGUMENT",
            ),
        ],
    ),
    (
        "operator",
        "PUT",
        f"/v1/admin/blacklist/{NOBODY}",
        {"blacklisted": False, "reason": ""},
        [
            ({"blacklisted": 0}, "blacklisted", "INVALID_ARGUMENT"),
            ({"blacklisted": True, "reason": "r" * 201}, "reason", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "operator",
        "PUT",
        f"/v1/admin/accounts/{NOBODY}/hot",
        # Valid as a body; no such account (404).
        {"hot_shards": 0},
        [
            ({"hot_shards": 65}, "hot_shards", "INVALID_ARGUMENT"),
            ({"hot_shards": -1}, "hot_shards", "INVALID_ARGUMENT"),
            ({"hot_shards": True}, "hot_shards", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "operator",
        "POST",
        "/v1/admin/trades/T0000000000000000000000/refund-decision",
        {"approve": True},
        [({"approve": 1}, "approve", "INVALID_ARGUMENT")],
    ),
    (
        "operator",
        "POST",
        "/v1/admin/jobs/trade-jobs",
        {"business_date": "2025-03-11"},
        [
            ({"business_date": "2025-02-30"}, "business_date", "INVALID_BUSINESS_DATE"),
            ({"business_date": "2025-3-11"}, "business_date", "INVALID_BUSINESS_DATE"),
            ({}, "business_date", "INVALID_BUSINESS_DATE"),
        ],
    ),
    (
        "user",
        "POST",
        "/v1/topups",
        {"amount_fen": 100, "currency": "CNY", "bank_card_number": DECLINED},
        [
            (
                {"amount_fen": 100, "bank_card_number": "4000 0000 0000 0002"},
                "bank_card_number",
                "INVALID_ARGUMENT",
            ),
            (
                {"amount_fen": 100, "bank_card_number": "40000000000"},
                "bank_card_number",
                "INVALID_ARGUMENT",
            ),
            (
                {"amount_fen": 100, "bank_card_number": "4" * 20},
                "bank_card_number",
                "INVALID_ARGUMENT",
            ),
            (
                {"amount_fen": 100, "bank_card_number": DECLINED, "payment_password": "1"},
                "payment_password",
                "INVALID_ARGUMENT",
            ),
        ],
    ),
    (
        "user",
        "POST",
        "/v1/withdrawals",
        # Valid as a body; the caller has nothing to withdraw (422).
        {"amount_fen": 100, "bank_card_number": DECLINED, "payment_password": "135790"},
        [
            (
                {"amount_fen": 100, "bank_card_number": DECLINED, "payment_password": 1},
                "payment_password",
                "INVALID_PAYMENT_PASSWORD",
            ),
            ({"amount_fen": 100}, "bank_card_number", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "user",
        "POST",
        "/v1/transfers",
        # Valid as a body; nobody has that phone and name (422 PAYEE_NOT_CONFIRMED).
        {"amount_fen": 100, "to_phone": "13000000001", "payee_name": "张三", "memo": "lunch"},
        [
            ({"amount_fen": 100, "to_phone": "13000000001"}, "payee_name", "INVALID_ARGUMENT"),
            ({"amount_fen": 100, "to_phone": "12345"}, "to_phone", "INVALID_PHONE"),
            ({"amount_fen": 100, "to_phone": "13900000000\n"}, "to_phone", "INVALID_PHONE"),
            ({"amount_fen": 100, "to_phone": 13900000000}, "to_phone", "INVALID_ARGUMENT"),
            ({"amount_fen": 100}, "to_account_id", "INVALID_ARGUMENT"),
            ({"amount_fen": 100, "to_account_id": ""}, "to_account_id", "INVALID_ARGUMENT"),
            (
                {
                    "amount_fen": 100,
                    "to_phone": "13900000000",
                    "payee_name": "张三",
                    "to_account_id": "2088",
                },
                "to_account_id",
                "INVALID_ARGUMENT",
            ),
        ],
    ),
]


async def test_every_request_schema_of_the_payment_routes_is_its_model(gateway: Client) -> None:
    document = await (await gateway.get("/openapi.json")).json()
    components = document["components"]["schemas"]
    referenced = {
        operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/")[-1]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if (method, path) in OPERATIONS
    }
    generated = body_schemas(*MODELS)
    one_of_members = {member for members in ONE_OF.values() for member in members}
    assert referenced == (set(generated) - one_of_members - HOISTED) | set(ONE_OF)
    for name in referenced:
        for member in ONE_OF.get(name, (name,)):
            assert components[member] == generated[member], member
            assert components[member]["additionalProperties"] is False, member
    for name, members in ONE_OF.items():
        refs = [schema["$ref"].rsplit("/")[-1] for schema in components[name]["oneOf"]]
        assert refs == list(members)
    for name in HOISTED:
        assert components[name] == generated[name], name


async def test_a_valid_body_passes_and_a_violating_one_is_a_400_naming_its_field(
    gateway: Client, new_user: NewUser, new_merchant: NewUser, operator: User
) -> None:
    callers = {"user": await new_user(), "merchant": await new_merchant(), "operator": operator}
    for who, method, path, valid, violations in CASES:
        caller = callers[who]
        response = await gateway.request(method, path, json=valid, headers=caller.keyed(new_key()))
        text = await response.text()
        assert response.status < 500, (path, text)
        problem = await response.json() if response.status >= 400 else {}
        assert not _refused_for_the_body(response.status, problem), (path, valid, text)
        for body, field, reason in violations:
            refused = await gateway.request(
                method, path, json=body, headers=caller.keyed(new_key())
            )
            problem = await refused.json()
            assert refused.status == 400, (path, body, problem)
            assert problem["metadata"]["field"] == field, (path, body, problem)
            assert problem["reason"] == reason, (path, body, problem)
