"""What each of a payer's payment methods pays for an amount (wallet pay, DOMAIN.md §6).

Reads what the methods can give now -- the available balance; Yu'e Bao shares up to
today's fast redemption allowance; what is available on the Huabei line, synced first
with the credit advice (gateway.loans.lines) -- and leaves the decision to the pure
gateway.payment.methods.plan_funding. Used by wallet pay (gateway.payment.routes.wallet_pay) and by
the merchant's charge of a payment code (gateway.payment.routes.merchant).
"""

from __future__ import annotations

from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import CreditClient, LoanClient, PaymentClient, WealthClient
from gateway.loans.ledger import LoanLedger
from gateway.loans.lines import synced_line
from gateway.payment.methods import Funding, PaymentMethod, plan_funding
from gateway.wealth.ledger import WealthLedger


class WalletFunding:
    """Decides what each of a payer's methods pays for an amount, from what they hold now."""

    def __init__(
        self,
        payment: PaymentClient,
        wealth: WealthClient,
        ledger: WealthLedger,
        *,
        credit: CreditClient,
        loan: LoanClient,
        loan_ledger: LoanLedger,
    ) -> None:
        self._payment = payment
        self._wealth = wealth
        self._ledger = ledger
        self._credit = credit
        self._loan = loan
        self._loan_ledger = loan_ledger

    async def plan(
        self, account_id: str, amount: Money, methods: tuple[PaymentMethod, ...], *, split: bool
    ) -> Funding:
        """Who pays what; INSUFFICIENT_FUNDS when the methods cannot.

        The methods are read in order and only until they cover the amount (plan_funding
        looks no further), so a balance that pays does not wait on the wealth service.
        """
        available: dict[PaymentMethod, int] = {}
        for method in methods:
            available[method] = await self._available_fen(account_id, method)
            covered = sum(available.values()) if split else available[method]
            if covered >= amount.fen:
                break
        funding = plan_funding(amount.fen, methods, available, split=split)
        if funding.fen_of(PaymentMethod.YUEBAO):
            await self._ledger.ensure_accounts()
        if funding.fen_of(PaymentMethod.HUABEI):
            await self._loan_ledger.ensure_accounts()
        return funding

    async def _available_fen(self, account_id: str, method: PaymentMethod) -> int:
        """What one method can pay now."""
        if method is PaymentMethod.BALANCE:
            account = await self._payment.get_account(account_id)
            return account.available.amount_fen
        if method is PaymentMethod.HUABEI:
            line = await synced_line(self._credit, self._loan, account_id)
            return 0 if line.frozen else max(line.available.amount_fen, 0)
        assert method is PaymentMethod.YUEBAO, method
        response = await self._wealth.get_yuebao_account(
            wpb.GetYuebaoAccountRequest(investor_id=account_id)
        )
        holding = response.account
        return min(holding.shares.amount_fen, holding.fast_redemption_allowance.amount_fen)
