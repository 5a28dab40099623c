"""What the fixed-term rule tests share: a product on sale at T0 and a holding of it."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from services.wealth.fixed_term import Holding, Product, create_product, subscribe

# 2026-01-30 09:00 CST.
T0 = datetime(2026, 1, 30, 1, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)
SUBSCRIBED_ON = date(2026, 1, 30)
YUAN = 100


def new_product(**changes: object) -> Product:
    terms: dict[str, object] = {
        "product_id": "p1",
        "issuer": "Zhejiang Small Loans Co.",
        "insurer": "Zhong An Insurance",
        "term_days": 90,
        "expected_annual_yield": Decimal("0.0400"),
        "amount_fen_min": 1_000 * YUAN,
        "quota_fen": 1_000_000 * YUAN,
        "sale_starts_at": T0,
        "sale_ends_at": T0 + 3 * DAY,
    }
    terms.update(changes)
    return create_product(**terms)  # type: ignore[arg-type]


def held(principal_fen: int = 10_000 * YUAN) -> Holding:
    _, holding = subscribe(
        new_product(),
        holding_id="h1",
        holder_id="seller",
        amount_fen=principal_fen,
        now=T0,
        business_date=SUBSCRIBED_ON,
    )
    return holding
