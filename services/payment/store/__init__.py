"""The payment service's store: the only package that knows collections and queries.

One module per aggregate, each a class over the shared collection handles
(collections.py), with the document ⇄ domain mapping in mapping.py:

  accounts.py       accounts, identities, hot-account sub-accounts (AccountStore)
  postings.py       postings, statement lines, the balance guard, the ledger audit (PostingStore)
  batches.py        a batch of movements: read once, written in bulk (BatchStore, group commit)
  holds.py          TCC holds and the funds they reserve (HoldStore)
  trades.py         escrow trades, the trade job's runs, the escrow audit (TradeStore)
  risk.py           blacklist, risk rules, risk decisions (RiskStore)
  credentials.py    payment password, payment authorizations (CredentialStore)
  payment_codes.py  payment codes (PaymentCodeStore)
  credit_listings.py  the credit blacklist's entries on accounts, the feed position
  cards.py          bank cards bound to accounts (CardStore)
  withdrawals.py    withdrawal records: reserved, then paid or declined (WithdrawalStore)
  top_ups.py        top-up records: reserved, then credited or declined (TopUpStore)
  bank_requests.py  what those two share: pending records settled once

PaymentStore puts them together, so the servicer, the tools and the tests hold one object.
"""

from __future__ import annotations

from services.payment.store.batches import BatchStore
from services.payment.store.cards import CardStore
from services.payment.store.credentials import CredentialStore
from services.payment.store.credit_listings import CreditListingStore
from services.payment.store.holds import HoldStore
from services.payment.store.payment_codes import PaymentCodeStore
from services.payment.store.postings import PostingStore
from services.payment.store.risk import RiskStore
from services.payment.store.top_ups import TopUpStore
from services.payment.store.trades import TradeStore
from services.payment.store.withdrawals import WithdrawalStore
from services.payment.store.withholdings import WithholdingStore


class PaymentStore(
    PostingStore,
    BatchStore,
    HoldStore,
    TradeStore,
    RiskStore,
    CredentialStore,
    PaymentCodeStore,
    CreditListingStore,
    WithholdingStore,
    CardStore,
    WithdrawalStore,
    TopUpStore,
):
    """Reads and writes the payment service's documents; every write takes the caller's session."""

    async def ensure_indexes(self) -> None:
        """Create the indexes and unique keys the store relies on (idempotent)."""
        await self.ensure_account_indexes()
        await self.ensure_posting_indexes()
        await self.ensure_hold_indexes()
        await self.ensure_trade_indexes()
        await self.ensure_risk_indexes()
        await self.ensure_credential_indexes()
        await self.ensure_payment_code_indexes()
        await self.ensure_withholding_indexes()
        await self.ensure_card_indexes()
        await self.ensure_withdrawal_indexes()
        await self.ensure_top_up_indexes()


__all__ = ["PaymentStore"]
