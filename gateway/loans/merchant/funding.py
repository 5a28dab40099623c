"""The loan business's funding as money in the payment ledger (docs/loans.md "Funding").

Three accounts:
- ``platform:loan:capital`` (a platform account, never negative): the loan business's own
  cash, capital paid in plus bank borrowing outstanding;
- ``platform:loan:shareholders`` (external party): where capital comes from; its balance is
  minus the capital paid in;
- ``platform:loan:bank-lender:fake`` (external party): the FAKE bank lender (a dev adapter,
  like the fake bank channel); its balance is minus the borrowing outstanding.

loan_funding saga (the operator's capital and borrowing routes start it):
1. ``book`` (retried forward): PayInCapital / BorrowFromBank / RepayBankBorrowing in the loan
   service, keyed by the saga: the book's rules decide (BORROWING_LIMIT, more repaid than
   borrowed); a refusal ends the saga having moved nothing.
2. ``move`` (retried forward): PlatformTransfer shareholders → capital (capital), bank lender
   → capital (borrowing) or capital → bank lender (repayment), keyed "loan-funding:<saga>".
Both steps are keyed, so a gateway killed anywhere is finished by the recovery loop with the
book changed once and the money moved once. `colony audit` reconciles the three balances with
the loan service's funding book (infra/cli.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from chassis.money import Money
from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.edge.representations import money_to_proto
from gateway.loans.merchant.representations import capacity_json
from gateway.sagas.definition import RETRY_FORWARD, JsonObject, SagaDefinition, Step, StepContext

CAPITAL_ACCOUNT_ID = "platform:loan:capital"
CAPITAL_DISPLAY_NAME = "小贷 loan business capital"
SHAREHOLDERS_ACCOUNT_ID = "platform:loan:shareholders"
BANK_LENDER_ACCOUNT_ID = "platform:loan:bank-lender:fake"
FUNDING_ACCOUNTS = (
    # (account id, display name, external party)
    (CAPITAL_ACCOUNT_ID, CAPITAL_DISPLAY_NAME, False),
    (SHAREHOLDERS_ACCOUNT_ID, "小贷 shareholders (capital paid in)", True),
    (BANK_LENDER_ACCOUNT_ID, "FAKE bank lender (dev adapter)", True),
)
LOAN_FUNDING = "loan_funding"
BOOK = "book"
MOVE = "move"
CAPITAL = "capital"
BORROW = "borrow"
REPAY = "repay"
KINDS = (CAPITAL, BORROW, REPAY)
# kind → (from, to, memo)
MOVEMENTS = {
    CAPITAL: (SHAREHOLDERS_ACCOUNT_ID, CAPITAL_ACCOUNT_ID, "loan capital paid in"),
    BORROW: (BANK_LENDER_ACCOUNT_ID, CAPITAL_ACCOUNT_ID, "bank borrowing drawn"),
    REPAY: (CAPITAL_ACCOUNT_ID, BANK_LENDER_ACCOUNT_ID, "bank borrowing repaid"),
}
KEY_PREFIX = "loan-funding:"


def funding_input(*, kind: str, amount: Money) -> JsonObject:
    assert kind in KINDS, kind
    return {"kind": kind, "amount_fen": amount.fen}


class FundingAccounts:
    """Opens the three funding accounts once per process."""

    def __init__(self, payment: PaymentClient) -> None:
        self._payment = payment
        self._ready = False
        self._lock = asyncio.Lock()

    async def ensure(self) -> None:
        if self._ready:
            return
        async with self._lock:
            if not self._ready:
                for account_id, display_name, external in FUNDING_ACCOUNTS:
                    await self._payment.ensure_platform_account(
                        pb.EnsurePlatformAccountRequest(
                            account_id=account_id,
                            display_name=display_name,
                            external_party=external,
                        )
                    )
                self._ready = True


def funding_saga(
    lending: MerchantLendingClient, payment: PaymentClient, accounts: FundingAccounts
) -> SagaDefinition:
    async def book(context: StepContext) -> JsonObject:
        kind = context.input["kind"]
        amount = money_to_proto(Money(int(context.input["amount_fen"])))
        capacity: mpb.LendingCapacity
        if kind == CAPITAL:
            capacity = (
                await lending.pay_in_capital(
                    mpb.PayInCapitalRequest(idempotency_key=context.key, amount=amount)
                )
            ).capacity
        elif kind == BORROW:
            capacity = (
                await lending.borrow_from_bank(
                    mpb.BorrowFromBankRequest(idempotency_key=context.key, amount=amount)
                )
            ).capacity
        else:
            capacity = (
                await lending.repay_bank_borrowing(
                    mpb.RepayBankBorrowingRequest(idempotency_key=context.key, amount=amount)
                )
            ).capacity
        return {"capacity": capacity_json(capacity)}

    async def move(context: StepContext) -> JsonObject:
        await accounts.ensure()
        source, destination, memo = MOVEMENTS[context.input["kind"]]
        response = await payment.platform_transfer(
            pb.PlatformTransferRequest(
                idempotency_key=KEY_PREFIX + context.saga_id,
                from_account_id=source,
                to_account_id=destination,
                amount=money_to_proto(Money(int(context.input["amount_fen"]))),
                memo=memo,
                reference=context.saga_id,
            )
        )
        return {"posting_id": response.posting.posting_id}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        return {
            "kind": saga_input["kind"],
            "posting_id": results[MOVE]["posting_id"],
            "capacity": results[BOOK]["capacity"],
        }

    return SagaDefinition(
        name=LOAN_FUNDING,
        summary="Capital paid in, or bank borrowing drawn or repaid: the book, then the money",
        steps=(
            Step(BOOK, book, compensation=RETRY_FORWARD),
            Step(MOVE, move, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )
