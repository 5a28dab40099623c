"""An investor's fund positions (蚂蚁聚宝, DOMAIN.md §2), valued at each fund's latest NAV.

Shown on the fund routes and in the wallet overview. The valuation rounds down to the fen,
so a position is never shown above what it is worth.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import WealthClient
from gateway.edge.representations import money_json
from gateway.wealth.representations import fund_position_json


def position_value_fen(units: str, nav_per_unit: str) -> int:
    """What units are worth at a NAV, in fen, rounded down (never shown above its worth)."""
    if not nav_per_unit:
        return 0
    value_yuan = Decimal(units) * Decimal(nav_per_unit)
    return int((value_yuan * 100).to_integral_value(rounding=ROUND_DOWN))


async def fund_positions(
    wealth: WealthClient, investor_id: str
) -> tuple[list[dict[str, Any]], int]:
    """The investor's positions valued at each fund's latest NAV, and their total in fen."""
    response = await wealth.list_fund_positions(
        wpb.ListFundPositionsRequest(investor_id=investor_id)
    )
    lines: list[dict[str, Any]] = []
    total_fen = 0
    for position in response.positions:
        fund = (await wealth.get_fund(wpb.GetFundRequest(fund_id=position.fund_id))).fund
        value_fen = position_value_fen(position.units, fund.latest_nav)
        total_fen += value_fen
        lines.append({**fund_position_json(position, fund), "value": money_json(Money(value_fen))})
    return lines, total_fen
