"""Not-found answers for an investor's own objects, worded as the gateway words "not yours".

The gateway answers a holding or fund order that is someone else's with
gateway.edge.ownership.not_yours: 404 "there is no <what> '<id>' of yours", metadata
``<what>_id``. Whatever reaches a client from this service about an unknown holding or fund
order has exactly that shape, so the two cannot be told apart and ids cannot be probed
(issue 21, item 10; trades already answer so).
"""

from __future__ import annotations

from chassis.errors import NotFound


def holding_not_found(holding_id: str) -> NotFound:
    """No such holding, or another investor's: the same answer."""
    return NotFound(
        f"there is no holding {holding_id!r} of yours", metadata={"holding_id": holding_id}
    )


def fund_order_not_found(order_id: str) -> NotFound:
    """No such fund order (the gateway calls it an "order" in its paths and answers)."""
    return NotFound(f"there is no order {order_id!r} of yours", metadata={"order_id": order_id})
