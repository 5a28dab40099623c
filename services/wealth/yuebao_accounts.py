"""A Yu'e Bao (余额宝) holder's account: shares, income figures, redemptions (DOMAIN.md §2).

The fund's rules (income per 10,000 shares, the distribution, the fast-redemption cap and
the fast/normal split) are in yuebao.py; this module applies them to one holder's account
and says what each redemption owes as payouts.

- Shares are fen at NAV 1.00. Confirmed subscriptions and daily income add shares; a
  redemption removes them at once (redeemed shares stop earning), and what it owes is paid
  from the fund's omnibus account: the fast part now, by the saga that redeemed; the normal
  part on the next business date, by the payout job.
- The fast-redemption allowance is counted per business date: the account remembers the
  date of its last fast redemption and how much was redeemed fast that date.
- A redemption can be cancelled (a saga's compensation) until any of its payouts is paid:
  the shares come back, and so does the fast allowance if it is still the same date.
- The income of business date D is paid on the shares held at the end of D. The job for D
  runs after D has ended, when the holder may already have subscribed or redeemed on D+1;
  so the account also remembers its share movements of the latest business date that had
  any, and the income of an earlier date leaves them out of (redemptions: back into) its
  base. One date is remembered: the daily job runs the day after; a job days late pays a
  holder who moved on several dates since on the shares of the latest (never below zero).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount
from services.wealth.payouts import (
    YUEBAO_OMNIBUS_ACCOUNT_ID,
    Payout,
    PayoutKind,
    PayoutSettlement,
    PayoutState,
    cancel_payout,
    plan_payout,
)
from services.wealth.yuebao import (
    fast_redemption_allowance,
    normal_redemption_settles_on,
    require_fast_redemption,
    require_redeemable,
    split_redemption,
)

REDEMPTION_ID_LENGTH_MAX = 200


class RedemptionMode(StrEnum):
    FAST_THEN_NORMAL = "fast_then_normal"
    FAST_ONLY = "fast_only"  # paying with Yu'e Bao: all now, or refused
    NORMAL_ONLY = "normal_only"


class RedemptionState(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class YuebaoAccount:
    """One holder's Yu'e Bao account."""

    investor_id: str
    shares_fen: int = 0
    cumulative_income_fen: int = 0
    last_income_fen: int = 0
    last_income_date: date | None = None
    fast_redeemed_on: date | None = None
    fast_redeemed_fen: int = 0
    # Shares subscribed (confirmed) and redeemed on moved_on, the latest date with any.
    moved_on: date | None = None
    subscribed_on_date_fen: int = 0
    redeemed_on_date_fen: int = 0

    def __post_init__(self) -> None:
        # A holder never holds negative shares: asserted on every value, wherever made.
        if min(self.shares_fen, self.fast_redeemed_fen, self.redeemed_on_date_fen) < 0:
            raise AssertionError(f"Yu'e Bao account {self.investor_id} went negative")


@dataclass(frozen=True, slots=True)
class Redemption:
    """A redemption of amount_fen shares: fast_fen paid now, normal_fen on settles_on."""

    redemption_id: str
    investor_id: str
    amount_fen: int
    fast_fen: int
    normal_fen: int
    business_date: date
    settles_on: date
    created_at: datetime
    mode: RedemptionMode = RedemptionMode.FAST_THEN_NORMAL
    state: RedemptionState = RedemptionState.ACTIVE
    cancelled_before_created: bool = False

    def __post_init__(self) -> None:
        if self.fast_fen + self.normal_fen != self.amount_fen:
            raise AssertionError(f"redemption {self.redemption_id}: parts do not add up")


@dataclass(frozen=True, slots=True)
class RedemptionPlan:
    """The account after a redemption, the redemption, and the payouts it owes."""

    account: YuebaoAccount
    redemption: Redemption
    payouts: tuple[Payout, ...]


def fast_redeemed_fen_on(account: YuebaoAccount, business_date: date) -> int:
    """What the holder has redeemed fast on business_date (0 on a new date)."""
    return account.fast_redeemed_fen if account.fast_redeemed_on == business_date else 0


def fast_allowance_fen(account: YuebaoAccount, business_date: date) -> int:
    """What the holder may still redeem fast on business_date."""
    return fast_redemption_allowance(fast_redeemed_fen_on(account, business_date))


def yesterday_income_fen(account: YuebaoAccount, today: date) -> int:
    """The income credited for yesterday's business date (0 if that day was not credited)."""
    if account.last_income_date == today - timedelta(days=1):
        return account.last_income_fen
    return 0


def _moved(account: YuebaoAccount, business_date: date) -> YuebaoAccount:
    """The account with its movement counters on business_date (reset on a new date)."""
    if account.moved_on == business_date:
        return account
    return replace(
        account, moved_on=business_date, subscribed_on_date_fen=0, redeemed_on_date_fen=0
    )


def subscribe_shares(account: YuebaoAccount, shares_fen: int, business_date: date) -> YuebaoAccount:
    """The account after a confirmed subscription of shares_fen on business_date."""
    require_positive_amount(shares_fen, "subscription amount")
    moved = _moved(account, business_date)
    return replace(
        moved,
        shares_fen=moved.shares_fen + shares_fen,
        subscribed_on_date_fen=moved.subscribed_on_date_fen + shares_fen,
    )


def income_base_fen(account: YuebaoAccount, business_date: date) -> int:
    """The shares the income of business_date is paid on: those held when that date ended."""
    if account.moved_on is None or account.moved_on <= business_date:
        return account.shares_fen
    later_fen = account.subscribed_on_date_fen - account.redeemed_on_date_fen
    return max(account.shares_fen - later_fen, 0)


def credit_income(account: YuebaoAccount, income_fen: int, business_date: date) -> YuebaoAccount:
    """The account after the daily income for business_date is credited as shares.

    Income is not a movement of the date it is credited on: it belongs to business_date.
    A date credited after a later one (an operator's catch-up) leaves "yesterday" alone.
    """
    if income_fen < 0:
        raise ValueError("income cannot be negative")
    credited = replace(
        account,
        shares_fen=account.shares_fen + income_fen,
        cumulative_income_fen=account.cumulative_income_fen + income_fen,
    )
    if account.last_income_date is not None and business_date < account.last_income_date:
        return credited
    return replace(credited, last_income_fen=income_fen, last_income_date=business_date)


def require_redemption_id(redemption_id: str) -> str:
    if not redemption_id or len(redemption_id) > REDEMPTION_ID_LENGTH_MAX:
        raise InvalidArgument(
            f"redemption_id is required (at most {REDEMPTION_ID_LENGTH_MAX} characters)",
            metadata={"field": "redemption_id"},
        )
    return redemption_id


def redemption_payout_ids(redemption_id: str) -> tuple[str, str]:
    """The ids of a redemption's fast and normal payouts (as plan_redemption names them)."""
    return f"{redemption_id}:fast", f"{redemption_id}:normal"


def plan_redemption(
    account: YuebaoAccount,
    *,
    redemption_id: str,
    amount_fen: int,
    mode: RedemptionMode,
    business_date: date,
    now: datetime,
) -> RedemptionPlan:
    """Redeem amount_fen shares: split fast/normal by the mode and today's allowance."""
    require_redemption_id(redemption_id)
    require_redeemable(account.investor_id, account.shares_fen, amount_fen)
    already_fen = fast_redeemed_fen_on(account, business_date)
    if mode is RedemptionMode.FAST_ONLY:
        require_fast_redemption(amount_fen, already_fen)
        fast_fen, normal_fen = amount_fen, 0
    elif mode is RedemptionMode.NORMAL_ONLY:
        fast_fen, normal_fen = 0, amount_fen
    else:
        fast_fen, normal_fen = split_redemption(amount_fen, fast_redemption_allowance(already_fen))
    settles_on = normal_redemption_settles_on(business_date)
    redemption = Redemption(
        redemption_id=redemption_id,
        investor_id=account.investor_id,
        amount_fen=amount_fen,
        fast_fen=fast_fen,
        normal_fen=normal_fen,
        business_date=business_date,
        settles_on=settles_on,
        created_at=now,
        mode=mode,
    )
    payouts: list[Payout] = []
    for part_fen, part, kind, due_on, settlement in (
        (
            fast_fen,
            "fast",
            PayoutKind.YUEBAO_FAST_REDEMPTION,
            business_date,
            PayoutSettlement.SAGA,
        ),
        (
            normal_fen,
            "normal",
            PayoutKind.YUEBAO_NORMAL_REDEMPTION,
            settles_on,
            PayoutSettlement.SCHEDULED,
        ),
    ):
        if part_fen:
            payouts.append(
                plan_payout(
                    payout_id=f"{redemption_id}:{part}",
                    kind=kind,
                    from_account_id=YUEBAO_OMNIBUS_ACCOUNT_ID,
                    to_account_id=account.investor_id,
                    amount_fen=part_fen,
                    due_on=due_on,
                    settlement=settlement,
                    investor_id=account.investor_id,
                    reference=redemption_id,
                    now=now,
                )
            )
    moved = _moved(account, business_date)
    after = replace(
        moved,
        shares_fen=moved.shares_fen - amount_fen,
        fast_redeemed_on=business_date,
        fast_redeemed_fen=already_fen + fast_fen,
        redeemed_on_date_fen=moved.redeemed_on_date_fen + amount_fen,
    )
    return RedemptionPlan(account=after, redemption=redemption, payouts=tuple(payouts))


def cancel_redemption(
    account: YuebaoAccount, redemption: Redemption, payouts: tuple[Payout, ...]
) -> RedemptionPlan:
    """Undo an unpaid redemption: shares back, fast allowance back if the same date."""
    if redemption.state is RedemptionState.CANCELLED:
        return RedemptionPlan(account=account, redemption=redemption, payouts=payouts)
    if any(payout.state is PayoutState.PAID for payout in payouts):
        raise FailedPrecondition(
            f"redemption {redemption.redemption_id} is already (partly) paid",
            reason="REDEMPTION_ALREADY_PAID",
            metadata={"redemption_id": redemption.redemption_id},
        )
    same_date = account.fast_redeemed_on == redemption.business_date
    restored_fast_fen = redemption.fast_fen if same_date else 0
    moved_fen = redemption.amount_fen if account.moved_on == redemption.business_date else 0
    after = replace(
        account,
        shares_fen=account.shares_fen + redemption.amount_fen,
        fast_redeemed_fen=account.fast_redeemed_fen - restored_fast_fen,
        redeemed_on_date_fen=account.redeemed_on_date_fen - moved_fen,
    )
    return RedemptionPlan(
        account=after,
        redemption=replace(redemption, state=RedemptionState.CANCELLED),
        payouts=tuple(cancel_payout(payout) for payout in payouts),
    )


def cancel_before_created(redemption_id: str, now: datetime) -> Redemption:
    """The tombstone of a redemption cancelled before it arrived: the id is burnt."""
    today = now.date()
    return Redemption(
        redemption_id=require_redemption_id(redemption_id),
        investor_id="",
        amount_fen=0,
        fast_fen=0,
        normal_fen=0,
        business_date=today,
        settles_on=today,
        created_at=now,
        state=RedemptionState.CANCELLED,
        cancelled_before_created=True,
    )


def check_repeated_redemption(
    existing: Redemption, *, investor_id: str, amount_fen: int, mode: RedemptionMode
) -> Redemption:
    """The stored redemption if a repeated RedeemShares asks the same; else refuse."""
    if existing.state is RedemptionState.CANCELLED:
        raise FailedPrecondition(
            f"redemption {existing.redemption_id} was cancelled",
            reason="REDEMPTION_CANCELLED",
            metadata={"redemption_id": existing.redemption_id},
        )
    if (existing.investor_id, existing.amount_fen, existing.mode) != (
        investor_id,
        amount_fen,
        mode,
    ):
        raise FailedPrecondition(
            f"redemption {existing.redemption_id} exists with different terms",
            reason="REDEMPTION_MISMATCH",
            metadata={"redemption_id": existing.redemption_id},
        )
    return existing
