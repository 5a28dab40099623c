"""The insurance catalogue: partner insurers' products, as data (DOMAIN.md §5).

The table is products.json beside this module, read once at start (load_catalogue): each
product names its kind (which pricing and adjudication rules apply), its partner insurer — a
named fake external party with its own payment account, platform:insurance:insurer:<id> —
the platform's commission rate (a Decimal share of the premium) and its largest cover.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from chassis.errors import NotFound

INSURANCE_OMNIBUS_ACCOUNT_ID = "platform:insurance:omnibus"
CATALOGUE_PATH = Path(__file__).with_name("products.json")
PRODUCTS_MAX = 100


class ProductKind(StrEnum):
    ACCOUNT_SECURITY = "account_security"
    RETURN_SHIPPING = "return_shipping"
    MERCHANT_DEPOSIT = "merchant_deposit"
    TRAVEL = "travel"
    HEALTH = "health"


def insurer_account_id(insurer_id: str) -> str:
    """The insurer's external-party payment account."""
    return f"platform:insurance:insurer:{insurer_id}"


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    kind: ProductKind
    name: str
    insurer_id: str
    commission_rate: Decimal
    cover_max_fen: int
    # 0: the duration is an input (travel, health); else fixed.
    term_days: int
    pricing_rule: str

    @property
    def insurer_account_id(self) -> str:
        return insurer_account_id(self.insurer_id)


@dataclass(frozen=True, slots=True)
class Catalogue:
    products: tuple[Product, ...]

    def product(self, product_id: str) -> Product:
        """The product, or NOT_FOUND."""
        for product in self.products:
            if product.product_id == product_id:
                return product
        raise NotFound(f"product {product_id} not found", metadata={"product_id": product_id})

    @property
    def insurer_account_ids(self) -> tuple[str, ...]:
        return tuple(sorted({product.insurer_account_id for product in self.products}))


def parse_catalogue(text: str) -> Catalogue:
    """The catalogue from its JSON table; a malformed table stops the service at start."""
    document = json.loads(text)
    insurers = document["insurers"]
    rows = document["products"]
    assert 0 < len(rows) <= PRODUCTS_MAX, "the catalogue holds 1..100 products"
    products = []
    for row in rows:
        assert row["insurer_id"] in insurers, f"{row['product_id']}: unknown insurer"
        rate = Decimal(row["commission_rate"])
        assert Decimal(0) <= rate < Decimal(1), f"{row['product_id']}: commission rate in [0, 1)"
        products.append(
            Product(
                product_id=row["product_id"],
                kind=ProductKind(row["kind"]),
                name=row["name"],
                insurer_id=row["insurer_id"],
                commission_rate=rate,
                cover_max_fen=int(row["cover_max_fen"]),
                term_days=int(row["term_days"]),
                pricing_rule=row["pricing_rule"],
            )
        )
    assert len({p.product_id for p in products}) == len(products), "duplicate product ids"
    return Catalogue(tuple(products))


def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    """Read the catalogue table (at start-up only)."""
    return parse_catalogue(path.read_text(encoding="utf-8"))
