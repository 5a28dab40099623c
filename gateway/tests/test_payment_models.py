"""The payment body models and their JSON Schemas agree on what is a valid body.

As test_wealth_credit_models.py does for the wealth and credit bodies (and with its
variations: each field replaced by an awkward value, left out, or an unknown field added),
for every body of the payment routes: a Draft 2020-12 validator against the schema the model
renders and the model itself judge each variation alike (issue 21 item 13). A request schema
that is one of two models is judged as that oneOf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from chassis.errors import InvalidArgument
from gateway.edge.bodies import Body, body_schemas
from gateway.payment.merchant_bodies import (
    CreateApiKeyRequest,
    PaymentCodeChargeRequest,
    RefundDecisionRequest,
    TradeForAccount,
    TradeForPhone,
    parse_create_trade,
)
from gateway.payment.requests import NoTradeOptions
from gateway.payment.routes.admin import BlacklistRequest, HotAccountRequest, TradeJobsRequest
from gateway.payment.routes.merchant_payments import MerchantPaymentRequest
from gateway.payment.routes.money_movement import (
    TopUpRequest,
    TransferToAccount,
    TransferToPhone,
    WithdrawalRequest,
    parse_transfer,
)
from gateway.payment.routes.payments import (
    AuthorizedPaymentCodeOptions,
    BillPaymentRequest,
    PaymentCodeOptions,
    PaymentPasswordRequest,
    parse_code_options,
)
from gateway.payment.routes.trades import PayTradeRequest, RefundRequest
from gateway.payment.routes.wallet_pay import (
    BillWalletPayment,
    TradeWalletPayment,
    parse_wallet_payment,
)
from gateway.tests.test_wealth_credit_models import _model_accepts, _variations

BILL = {"biller_id": "water", "reference": "0001", "amount_fen": 100}
# Values the payment bodies have that the wealth and credit ones do not. ("13900000000\n" is
# not among them: this validator's Python re lets $ match before a final newline, where
# ECMA-262, the document's regex dialect, and the model do not; test_payment_bodies sends it.)
PAYMENT_AWKWARD: list[Any] = [
    "135790",
    "1" * 33,
    "read",
    "money",
    ["read"],
    ["read", "read"],
    ["admin"],
    ["balance"],
    ["balance", "yuebao", "huabei"],
    ["yuebao", "yuebao"],
    ["cash"],
    64,
    65,
    365,
    366,
    2**31 - 1,
    2**31,
    "4000000000000002",
    "4000 0000 0000 0002",
    "40000000000",
    "4" * 20,
    BILL,
    {**BILL, "amount_fen": 0},
    {**BILL, "x": 1},
]

# (the model, or a request schema that is one of two models with its parser; a valid body)
VALID: list[tuple[type[Body], dict[str, Any]]] = [
    (PayTradeRequest, {"payment_password": "135790"}),
    (RefundRequest, {"amount_fen": 0, "currency": "CNY", "reason": "broken"}),
    (NoTradeOptions, {}),
    (BillPaymentRequest, {**BILL, "currency": "CNY", "payment_password": "135790"}),
    (
        PaymentPasswordRequest,
        {"login_password": "secret-1", "new_password": "135790", "current_password": "246801"},
    ),
    (MerchantPaymentRequest, {"to_account_id": "2188", "amount_fen": 100, "memo": "tea"}),
    (CreateApiKeyRequest, {"scopes": ["read", "money"], "expires_in_days": 30}),
    (RefundDecisionRequest, {"approve": True}),
    (PaymentCodeChargeRequest, {"code": "280000000000000000", "amount_fen": 100, "memo": ""}),
    (BlacklistRequest, {"blacklisted": True, "reason": "fraud"}),
    (HotAccountRequest, {"hot_shards": 16}),
    (TradeJobsRequest, {"business_date": "2025-03-11"}),
    (TopUpRequest, {"amount_fen": 100, "currency": "CNY", "bank_card_number": "4000000000000002"}),
    (
        WithdrawalRequest,
        {"amount_fen": 100, "bank_card_number": "622202020011223", "payment_password": "135790"},
    ),
]
TRANSFER = {"amount_fen": 100, "memo": "lunch", "payment_password": "135790"}
ONE_OF: list[tuple[tuple[type[Body], type[Body]], Callable[[object], Body], dict[str, Any]]] = [
    (
        (PaymentCodeOptions, AuthorizedPaymentCodeOptions),
        parse_code_options,
        {
            "methods": ["balance"],
            "split": True,
            "payment_password": "135790",
            "amount_limit_fen": 1,
        },
    ),
    (
        (PaymentCodeOptions, AuthorizedPaymentCodeOptions),
        parse_code_options,
        {"methods": ["yuebao", "balance"], "split": False},
    ),
    (
        (TradeWalletPayment, BillWalletPayment),
        parse_wallet_payment,
        {"trade_id": "T1", "methods": ["balance"], "return_shipping_quote_id": "q1"},
    ),
    (
        (TradeWalletPayment, BillWalletPayment),
        parse_wallet_payment,
        {"bill": BILL, "split": True, "payment_password": "135790"},
    ),
    (
        (TradeForPhone, TradeForAccount),
        parse_create_trade,
        {"buyer_phone": "13900000000", "amount_fen": 100, "description": "tea"},
    ),
    (
        (TradeForPhone, TradeForAccount),
        parse_create_trade,
        {
            "buyer_account_id": "2088",
            "amount_fen": 100,
            "description": "tea",
            "payment_window_seconds": 60,
        },
    ),
    (
        (TransferToPhone, TransferToAccount),
        parse_transfer,
        {**TRANSFER, "to_phone": "13900000000", "payee_name": "张三"},
    ),
    ((TransferToPhone, TransferToAccount), parse_transfer, {**TRANSFER, "to_account_id": "2088"}),
]


def _payment_variations(body: dict[str, Any]) -> list[dict[str, Any]]:
    variations = _variations(body)
    for field in body:
        variations.extend({**body, field: value} for value in PAYMENT_AWKWARD)
    return variations


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize(("model", "valid"), VALID, ids=[model.__name__ for model, _ in VALID])
def test_the_schema_and_the_model_agree(model: type[Body], valid: dict[str, Any]) -> None:
    validator = _validator(model.model_json_schema())
    assert validator.is_valid(valid) and _model_accepts(model, valid)
    disagreements = [
        (body, validator.is_valid(body))
        for body in _payment_variations(valid)
        if validator.is_valid(body) != _model_accepts(model, body)
    ]
    assert disagreements == []


@pytest.mark.parametrize(
    ("members", "parse", "valid"),
    ONE_OF,
    ids=[f"{members[0].__name__}-or-{members[1].__name__}" for members, _, _ in ONE_OF],
)
def test_one_of_two_models_agrees_with_its_parser(
    members: tuple[type[Body], type[Body]], parse: Callable[[object], Body], valid: dict[str, Any]
) -> None:
    components = body_schemas(*members)
    schema = {
        "oneOf": [{"$ref": f"#/$defs/{member.__name__}"} for member in members],
        "$defs": {name: _rebased(component) for name, component in components.items()},
    }
    validator = _validator(schema)

    def accepts(body: dict[str, Any]) -> bool:
        try:
            parse(body)
        except InvalidArgument:
            return False
        return True

    assert validator.is_valid(valid) and accepts(valid)
    disagreements = [
        (body, validator.is_valid(body))
        for body in _payment_variations(valid)
        if validator.is_valid(body) != accepts(body)
    ]
    assert disagreements == []


def _rebased(schema: Any) -> Any:
    """Component references (#/components/schemas/X) as references into $defs."""
    if isinstance(schema, dict):
        return {
            key: value.replace("#/components/schemas/", "#/$defs/")
            if key == "$ref" and isinstance(value, str)
            else _rebased(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_rebased(item) for item in schema]
    return schema
