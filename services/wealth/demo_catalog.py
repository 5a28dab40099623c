"""The demo catalog: a few Zhaocaibao products and marketplace funds with a NAV history.

Fixed ids, so loading it twice creates nothing the second time. The NAV histories are a
deterministic random walk per fund (seeded by the fund id), one NAV per trading day, long
enough for a 1-year return, so recommendations have figures to rank by.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from services.wealth.fixed_term import Product, create_product
from services.wealth.marketplace import (
    NAV_QUANTUM,
    ONE_YEAR_DAYS,
    Fund,
    FundCategory,
    RiskLevel,
    is_trading_day,
)

YUAN = 100
# A year and a month of NAVs: a 1-year return is defined from the first day shown.
NAV_HISTORY_DAYS = ONE_YEAR_DAYS + 30
DEMO_SALE_DAYS = 365


@dataclass(frozen=True, slots=True)
class DemoProduct:
    product_id: str
    issuer: str
    insurer: str
    term_days: int
    expected_annual_yield: Decimal
    amount_fen_min: int
    quota_fen: int


@dataclass(frozen=True, slots=True)
class DemoFund:
    fund: Fund
    # The walk's daily drift and spread, as fractions of the NAV.
    daily_drift: Decimal
    daily_spread: Decimal


DEMO_PRODUCTS = (
    DemoProduct(
        "ztb-demo-91d",
        "浙商小贷 Zheshang Microcredit",
        "国泰财险 Guotai Property Insurance",
        91,
        Decimal("0.0420"),
        1_000 * YUAN,
        1_000_000 * YUAN,
    ),
    DemoProduct(
        "ztb-demo-182d",
        "招商银行 China Merchants Bank",
        "众安保险 ZhongAn Insurance",
        182,
        Decimal("0.0455"),
        1_000 * YUAN,
        2_000_000 * YUAN,
    ),
    DemoProduct(
        "ztb-demo-365d",
        "蚂蚁小贷 Ant Microcredit",
        "中国人保 PICC",
        365,
        Decimal("0.0480"),
        5_000 * YUAN,
        5_000_000 * YUAN,
    ),
)

DEMO_FUNDS = (
    DemoFund(
        Fund("cf-money-001", "Colony 货币 A", FundCategory.MONEY_MARKET, RiskLevel.R1),
        Decimal("0.00007"),
        Decimal("0"),
    ),
    DemoFund(
        Fund("cf-bond-002", "Colony 纯债 Pure Bond", FundCategory.BOND, RiskLevel.R2),
        Decimal("0.00012"),
        Decimal("0.0008"),
    ),
    DemoFund(
        Fund("cf-mixed-003", "Colony 平衡混合 Balanced", FundCategory.MIXED, RiskLevel.R3),
        Decimal("0.00025"),
        Decimal("0.006"),
    ),
    DemoFund(
        Fund("cf-index-004", "沪深300 指数 CSI 300 Index", FundCategory.INDEX, RiskLevel.R4),
        Decimal("0.00030"),
        Decimal("0.012"),
    ),
    DemoFund(
        Fund("cf-green-005", "Colony 绿色能源 Green Energy", FundCategory.GREEN, RiskLevel.R4),
        Decimal("0.00040"),
        Decimal("0.014"),
    ),
    DemoFund(
        Fund("cf-equity-006", "Colony 成长股票 Growth Equity", FundCategory.EQUITY, RiskLevel.R5),
        Decimal("0.00045"),
        Decimal("0.018"),
    ),
)


def demo_products(now: datetime) -> list[Product]:
    """The demo products, on sale from now for a year."""
    return [
        create_product(
            product_id=demo.product_id,
            issuer=demo.issuer,
            insurer=demo.insurer,
            term_days=demo.term_days,
            expected_annual_yield=demo.expected_annual_yield,
            amount_fen_min=demo.amount_fen_min,
            quota_fen=demo.quota_fen,
            sale_starts_at=now,
            sale_ends_at=now + timedelta(days=DEMO_SALE_DAYS),
        )
        for demo in DEMO_PRODUCTS
    ]


def demo_nav_history(demo: DemoFund, last_day: date) -> list[tuple[date, Decimal]]:
    """One NAV per trading day up to last_day, from 1.0000, oldest first (deterministic)."""
    walk = random.Random(demo.fund.fund_id)
    nav_per_unit = Decimal(1)
    history: list[tuple[date, Decimal]] = []
    for offset in range(NAV_HISTORY_DAYS, -1, -1):
        day = last_day - timedelta(days=offset)
        if not is_trading_day(day):
            continue
        shock = Decimal(str(round(walk.gauss(0, 1), 6)))
        nav_per_unit *= 1 + demo.daily_drift + demo.daily_spread * shock
        nav_per_unit = max(
            nav_per_unit.quantize(NAV_QUANTUM, rounding=ROUND_HALF_EVEN), NAV_QUANTUM
        )
        history.append((day, nav_per_unit))
    return history
