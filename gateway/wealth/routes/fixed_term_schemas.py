"""The OpenAPI schemas of the Zhaocaibao (招财宝) routes' answers, and their request bodies.

The bodies are declared once as models (gateway.wealth.bodies) and rendered here; the answers
are what gateway.wealth.representations writes.
"""

from __future__ import annotations

from typing import Any

from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.edge.bodies import body_schemas
from gateway.edge.openapi import schema_ref
from gateway.edge.paging import NEXT_PAGE_TOKEN_PROPERTY
from gateway.wealth.bodies import PriceRequest, ProductSubscriptionRequest, ReservationRequest
from gateway.wealth.representations import enum_names

_MONEY = schema_ref("Money")
_DATE = {"type": "string", "format": "date"}
_TIME = {"type": "string", "format": "date-time"}
_YIELD = {"type": "string", "description": 'A decimal fraction a year: "0.0420" is 4.20%.'}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Product": {
        "type": "object",
        "description": "A fixed-term product (招财宝): sold until its quota is taken.",
        "required": [
            "product_id",
            "issuer",
            "insurer",
            "term_days",
            "expected_annual_yield",
            "amount_min",
            "quota",
            "sold",
            "remaining_quota",
            "state",
            "on_sale",
        ],
        "properties": {
            "product_id": {"type": "string"},
            "issuer": {"type": "string"},
            "insurer": {"type": "string", "description": "The insurer guaranteeing it."},
            "term_days": {"type": "integer"},
            "expected_annual_yield": _YIELD,
            "amount_min": _MONEY,
            "quota": _MONEY,
            "sold": {**_MONEY, "description": "Taken so far, purchases being paid included."},
            "remaining_quota": _MONEY,
            "sale_starts_at": _TIME,
            "sale_ends_at": _TIME,
            "state": {"type": "string", "enum": enum_names(wpb.ProductState, "PRODUCT_STATE_")},
            "on_sale": {"type": "boolean"},
        },
    },
    "ProductList": {
        "type": "object",
        "required": ["products", "next_page_token"],
        "properties": {
            "products": {"type": "array", "items": schema_ref("Product")},
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    "Holding": {
        "type": "object",
        "required": [
            "holding_id",
            "product_id",
            "principal",
            "annual_yield",
            "term_days",
            "value_date",
            "maturity_date",
            "cost",
            "state",
            "maturity_payout",
            "acquired_from_holding_id",
        ],
        "properties": {
            "holding_id": {"type": "string"},
            "product_id": {"type": "string"},
            "principal": _MONEY,
            "annual_yield": _YIELD,
            "term_days": {"type": "integer"},
            "value_date": {**_DATE, "description": "起息日: interest runs from this date."},
            "maturity_date": {**_DATE, "description": "到期日: paid to the balance then."},
            "cost": {**_MONEY, "description": "What the holder paid (a transfer's price)."},
            "state": {"type": "string", "enum": enum_names(wpb.HoldingState, "HOLDING_STATE_")},
            "maturity_payout": {**_MONEY, "description": "Principal + interest (Actual/365)."},
            "acquired_from_holding_id": {"type": "string"},
            "listing_price": _MONEY,
            "listed_on": _DATE,
        },
    },
    "HoldingList": {
        "type": "object",
        "required": ["holdings", "next_page_token"],
        "properties": {
            "holdings": {"type": "array", "items": schema_ref("Holding")},
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    "TransferListing": {
        "type": "object",
        "description": "A holding offered for early liquidation, with what a buyer gets.",
        "required": [
            "holding_id",
            "product_id",
            "principal",
            "annual_yield",
            "maturity_date",
            "reserved",
            "terms",
        ],
        "properties": {
            "holding_id": {"type": "string"},
            "product_id": {"type": "string"},
            "principal": _MONEY,
            "annual_yield": _YIELD,
            "maturity_date": _DATE,
            "reserved": {"type": "boolean", "description": "A buyer's purchase is in flight."},
            "terms": {
                "type": "object",
                "required": [
                    "price",
                    "fee",
                    "seller_proceeds",
                    "buyer_payout",
                    "maturity_date",
                    "remaining_days",
                    "buyer_annual_yield",
                ],
                "properties": {
                    "price": _MONEY,
                    "fee": {**_MONEY, "description": "0.2% of principal, paid by the seller."},
                    "seller_proceeds": _MONEY,
                    "buyer_payout": {**_MONEY, "description": "Paid to the buyer at maturity."},
                    "maturity_date": _DATE,
                    "remaining_days": {"type": "integer"},
                    "buyer_annual_yield": _YIELD,
                },
            },
        },
    },
    "TransferListingList": {
        "type": "object",
        "required": ["listings", "next_page_token"],
        "properties": {
            "listings": {"type": "array", "items": schema_ref("TransferListing")},
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    "Reservation": {
        "type": "object",
        "description": "预约: for 30 days, matching new products are bought automatically.",
        "required": [
            "reservation_id",
            "amount",
            "annual_yield_min",
            "term_days_max",
            "state",
            "filled",
            "purchases",
        ],
        "properties": {
            "reservation_id": {"type": "string"},
            "amount": _MONEY,
            "annual_yield_min": _YIELD,
            "term_days_max": {"type": "integer"},
            "created_at": _TIME,
            "expires_at": _TIME,
            "state": {
                "type": "string",
                "enum": enum_names(wpb.ReservationState, "RESERVATION_STATE_"),
            },
            "filled": {**_MONEY, "description": "Bought so far."},
            "purchases": {
                "type": "array",
                "description": "What the reservation bought.",
                "items": {
                    "type": "object",
                    "required": ["product_id", "amount"],
                    "properties": {
                        "product_id": {"type": "string"},
                        "amount": _MONEY,
                        "purchased_at": _TIME,
                    },
                },
            },
        },
    },
    "ReservationList": {
        "type": "object",
        "required": ["reservations", "next_page_token"],
        "properties": {
            "reservations": {"type": "array", "items": schema_ref("Reservation")},
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    **body_schemas(ProductSubscriptionRequest, PriceRequest, ReservationRequest),
}
