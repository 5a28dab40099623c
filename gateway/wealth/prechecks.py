"""What a wealth purchase can be refused for before anything is held (issue 21 item 13).

A purchase saga holds the investor's money first and only then asks the wealth service to
take what is bought; a refusal there undoes the hold and leaves an undone operation behind.
What can be known beforehand is asked first here, with read-only calls to the wealth
service: the product, fund or listing exists; the product is on sale, the amount is at least
its minimum and within the quota left; the investor's risk profile is valid and suits the
fund; the listing is listed, someone else's, not reserved and at the price the buyer saw.
A refusal here is answered at once (the same status and reason the try would give) and
changes nothing: no hold, no operation.

The wealth service stays the judge: these are the same rules read from its answers, and the
try checks them again under its own guard (quota can run out between the two, a NAV day can
turn), so a purchase that passes here may still be refused and undone as before.
"""

from __future__ import annotations

from chassis.errors import DomainError, ErrorKind, FailedPrecondition, InvalidArgument
from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import WealthClient

# The wealth service's least fund purchase (services.wealth.marketplace.FUND_PURCHASE_FEN_MIN,
# DOMAIN.md §2): 1 yuan.
FUND_PURCHASE_FEN_MIN = 100
_RISK_LEVELS = ("", "R1", "R2", "R3", "R4", "R5")
_INVESTOR_LEVELS = ("", "C1", "C2", "C3", "C4", "C5")


async def check_subscription(wealth: WealthClient, product_id: str, amount: Money) -> None:
    """A Zhaocaibao subscription the product would refuse: NOT_FOUND, PRODUCT_NOT_ON_SALE,
    BELOW_MINIMUM, QUOTA_EXCEEDED."""
    product = (await wealth.get_product(wpb.GetProductRequest(product_id=product_id))).product
    if not product.on_sale:
        raise FailedPrecondition(
            f"product {product_id} is not on sale",
            reason="PRODUCT_NOT_ON_SALE",
            metadata={"product_id": product_id},
        )
    if amount.fen < product.amount_min.amount_fen:
        raise FailedPrecondition(
            f"{amount.fen} fen is below the product's minimum of "
            f"{product.amount_min.amount_fen} fen",
            reason="BELOW_MINIMUM",
            metadata={
                "product_id": product_id,
                "amount_fen_min": str(product.amount_min.amount_fen),
            },
        )
    if amount.fen > product.remaining_quota.amount_fen:
        raise FailedPrecondition(
            f"{amount.fen} fen exceeds the {product.remaining_quota.amount_fen} fen left of "
            f"product {product_id}'s quota",
            reason="QUOTA_EXCEEDED",
            metadata={
                "product_id": product_id,
                "remaining_quota_fen": str(product.remaining_quota.amount_fen),
            },
        )


async def check_fund_purchase(
    wealth: WealthClient,
    investor_id: str,
    fund_id: str,
    amount: Money,
    *,
    risk_acknowledged: bool,
) -> None:
    """A fund buy BuyFund would refuse: NOT_FOUND, BELOW_MINIMUM, RISK_PROFILE_REQUIRED,
    RISK_PROFILE_EXPIRED, SUITABILITY."""
    fund = (await wealth.get_fund(wpb.GetFundRequest(fund_id=fund_id))).fund
    if amount.fen < FUND_PURCHASE_FEN_MIN:
        raise FailedPrecondition(
            f"a fund purchase is at least {FUND_PURCHASE_FEN_MIN} fen",
            reason="BELOW_MINIMUM",
            metadata={"amount_fen_min": str(FUND_PURCHASE_FEN_MIN)},
        )
    try:
        answer = await wealth.get_risk_profile(wpb.GetRiskProfileRequest(investor_id=investor_id))
    except DomainError as error:
        if error.kind is ErrorKind.NOT_FOUND:
            raise FailedPrecondition(
                "answer the risk questionnaire before buying funds",
                reason="RISK_PROFILE_REQUIRED",
            ) from None
        raise
    if not answer.valid:
        expires_at = answer.profile.expires_at.ToDatetime().isoformat()
        raise FailedPrecondition(
            f"the risk profile expired at {expires_at}; answer the questionnaire again",
            reason="RISK_PROFILE_EXPIRED",
            metadata={"expires_at": expires_at},
        )
    if fund.risk_level > answer.profile.level and not risk_acknowledged:
        fund_level = _RISK_LEVELS[fund.risk_level]
        investor_level = _INVESTOR_LEVELS[answer.profile.level]
        raise FailedPrecondition(
            f"fund {fund_id} is {fund_level}, above the investor's {investor_level}; "
            "acknowledge the risk to buy it",
            reason="SUITABILITY",
            metadata={
                "fund_id": fund_id,
                "risk_level": fund_level,
                "investor_level": investor_level,
            },
        )


async def check_listing_purchase(
    wealth: WealthClient, buyer_id: str, holding_id: str, price: Money
) -> None:
    """A listing BuyTransferListing would refuse: NOT_FOUND, ILLEGAL_TRANSITION (not listed),
    SAME_ACCOUNT, LISTING_RESERVED, LISTING_CHANGED."""
    holding = (await wealth.get_holding(wpb.GetHoldingRequest(holding_id=holding_id))).holding
    if holding.state != wpb.HOLDING_STATE_LISTED:
        state = wpb.HoldingState.Name(holding.state).removeprefix("HOLDING_STATE_").lower()
        raise FailedPrecondition(
            f"holding {holding_id} is {state}; cannot buy",
            reason="ILLEGAL_TRANSITION",
            metadata={"holding_id": holding_id, "state": state, "action": "buy"},
        )
    if holding.investor_id == buyer_id:
        raise InvalidArgument("an investor cannot buy their own listing", reason="SAME_ACCOUNT")
    if holding.pending_purchase_id:
        raise FailedPrecondition(
            f"holding {holding_id} is being bought by another investor",
            reason="LISTING_RESERVED",
            metadata={"holding_id": holding_id},
        )
    if holding.listing_price.amount_fen != price.fen:
        raise FailedPrecondition(
            f"holding {holding_id} is listed at {holding.listing_price.amount_fen} fen",
            reason="LISTING_CHANGED",
            metadata={"price_fen": str(holding.listing_price.amount_fen)},
        )
