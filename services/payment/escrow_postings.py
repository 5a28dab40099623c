"""The money each escrow trade transition moves (escrow.py decides the transition).

Pay = buyer → escrow; an approved refund = escrow → buyer; settlement = escrow → merchant
(less the acquiring fee) and escrow → fee income, in one posting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.payment.escrow import ESCROW_ACCOUNT_ID, Trade, settlement_split
from services.payment.ledger import (
    PLATFORM_FEE_INCOME_ACCOUNT_ID,
    Entry,
    Posting,
    PostingKind,
    plan_movement,
)

TRADE_MEMO_LENGTH_MAX = 64


def trade_payment_posting(trade: Trade, posting_id: str, now: datetime) -> Posting:
    """The buyer pays the trade's amount into escrow."""
    return plan_movement(
        posting_id=posting_id,
        kind=PostingKind.TRADE_PAYMENT,
        from_account_id=trade.buyer_account_id,
        to_account_id=ESCROW_ACCOUNT_ID,
        amount_fen=trade.amount_fen,
        posted_at=now,
        memo=trade.description[:TRADE_MEMO_LENGTH_MAX],
    )


def trade_refund_posting(
    before: Trade, decided: Trade, posting_id: str, now: datetime
) -> Posting | None:
    """Escrow pays back what a refund decision refunded (None when it refunded nothing)."""
    refunded_fen = decided.refund_fen - before.refund_fen
    if not refunded_fen:
        return None
    return plan_movement(
        posting_id=posting_id,
        kind=PostingKind.TRADE_REFUND,
        from_account_id=ESCROW_ACCOUNT_ID,
        to_account_id=before.buyer_account_id,
        amount_fen=refunded_fen,
        posted_at=now,
        memo=f"refund of trade {before.trade_id}",
    )


def settlement_posting(
    trade: Trade,
    posting_id: str,
    now: datetime,
    withheld: Sequence[tuple[str, int]] = (),
) -> Posting:
    """Escrow pays out a settled trade: merchant net of the fee, and the fee (one posting).

    withheld: (account, fen) legs taken from the merchant's part before it is paid
    (withholding.py), at most that part in all.
    """
    split = settlement_split(trade)
    withheld_fen = sum(fen for _, fen in withheld)
    if not 0 <= withheld_fen <= split.merchant_fen:
        raise AssertionError(f"withholding {withheld_fen} fen of {split.merchant_fen} fen")
    entries = [Entry(ESCROW_ACCOUNT_ID, -(split.merchant_fen + split.fee_fen))]
    entries.append(Entry(trade.merchant_account_id, split.merchant_fen - withheld_fen))
    by_account: dict[str, int] = {}
    for account_id, fen in withheld:  # one entry per account, in the order first named
        by_account[account_id] = by_account.get(account_id, 0) + fen
    entries.extend(Entry(account_id, fen) for account_id, fen in by_account.items())
    if split.fee_fen:
        entries.append(Entry(PLATFORM_FEE_INCOME_ACCOUNT_ID, split.fee_fen))
    return Posting(
        posting_id=posting_id,
        kind=PostingKind.TRADE_SETTLEMENT,
        entries=tuple(e for e in entries if e.amount_fen),
        posted_at=now,
        memo=f"settlement of trade {trade.trade_id}",
    )
