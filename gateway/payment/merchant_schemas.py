"""The OpenAPI schemas of the merchant API (gateway.payment.routes.merchant): its request
bodies as their models render them (gateway.payment.merchant_bodies), and its answers."""

from __future__ import annotations

from typing import Any

from gateway.edge.api_keys import API_KEY_SCOPES
from gateway.edge.bodies import body_schemas
from gateway.edge.openapi import schema_ref
from gateway.edge.paging import NEXT_PAGE_TOKEN_PROPERTY
from gateway.payment.merchant_bodies import (
    API_KEY_SCOPES_DESCRIPTION,
    CreateApiKeyRequest,
    PaymentCodeChargeRequest,
    RefundDecisionRequest,
    TradeForAccount,
    TradeForPhone,
)

_API_KEY_SCOPES_SCHEMA = {
    "type": "array",
    "items": {"type": "string", "enum": list(API_KEY_SCOPES)},
    "minItems": 1,
    "uniqueItems": True,
    "description": API_KEY_SCOPES_DESCRIPTION,
}

MERCHANT_SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(
        CreateApiKeyRequest,
        TradeForPhone,
        TradeForAccount,
        RefundDecisionRequest,
        PaymentCodeChargeRequest,
    ),
    "CreateTradeRequest": {
        "description": "Exactly one of buyer_phone and buyer_account_id names the buyer.",
        "oneOf": [schema_ref("TradeForPhone"), schema_ref("TradeForAccount")],
    },
    "ApiKey": {
        "type": "object",
        "description": "A merchant API key as listed: never the secret.",
        "required": ["key_id", "prefix", "created_at"],
        "properties": {
            "key_id": {"type": "string"},
            "prefix": {
                "type": "string",
                "description": "The key's first characters, to tell keys apart.",
                "example": "ck_live_Ab3x",
            },
            "created_at": {"type": "string", "format": "date-time"},
            "scopes": _API_KEY_SCOPES_SCHEMA,
            "expires_at": {
                "type": "string",
                "format": "date-time",
                "description": "Refused from then on; absent only on keys from before expiry.",
            },
            "last_used_at": {
                "type": "string",
                "format": "date-time",
                "description": "Absent if never used; updated at most once a minute.",
            },
        },
    },
    "ApiKeyCreated": {
        "type": "object",
        "required": ["key_id", "api_key", "prefix", "created_at"],
        "properties": {
            "key_id": {"type": "string"},
            "api_key": {
                "type": "string",
                "description": "The secret, shown this once: send it as "
                "`Authorization: ApiKey <api_key>`. Only its hash is kept.",
                "example": "ck_live_0123456789abcdefghijklmnopqrstuv",
            },
            "prefix": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "scopes": _API_KEY_SCOPES_SCHEMA,
            "expires_at": {"type": "string", "format": "date-time"},
        },
    },
    "ApiKeyList": {
        "type": "object",
        "required": ["api_keys"],
        "properties": {"api_keys": {"type": "array", "items": schema_ref("ApiKey")}},
    },
    "MerchantTradeList": {
        "type": "object",
        "required": ["trades", "next_page_token"],
        "properties": {
            "trades": {"type": "array", "items": schema_ref("MerchantTrade")},
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    "PaymentCodeCharge": {
        "type": "object",
        "required": ["posting_id", "amount", "payer_name", "memo", "posted_at"],
        "properties": {
            "posting_id": {"type": "string"},
            "amount": schema_ref("Money"),
            "payer_name": {"type": "string", "description": "Masked, e.g. 张*."},
            "memo": {"type": "string"},
            "posted_at": {"type": "string", "format": "date-time"},
        },
    },
    "Settlement": {
        "type": "object",
        "required": [
            "trade_id",
            "buyer_account_id",
            "description",
            "amount",
            "refunded",
            "merchant_settled",
            "acquiring_fee",
            "settled_by",
            "finished_at",
        ],
        "properties": {
            "trade_id": {"type": "string"},
            "buyer_account_id": {"type": "string"},
            "description": {"type": "string"},
            "amount": {**schema_ref("Money"), "description": "What the buyer paid."},
            "refunded": {**schema_ref("Money"), "description": "Refunded before settling."},
            "merchant_settled": {**schema_ref("Money"), "description": "Paid to the merchant."},
            "acquiring_fee": {**schema_ref("Money"), "description": "0.6%, half-even."},
            "settled_by": {"type": "string", "enum": ["buyer", "auto_confirm"]},
            "finished_at": {"type": "string", "format": "date-time"},
        },
    },
    "SettlementList": {
        "type": "object",
        "required": ["settlements", "next_page_token"],
        "properties": {
            "settlements": {"type": "array", "items": schema_ref("Settlement")},
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
}
