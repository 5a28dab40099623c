"""The single statement (GET /v1/statement) with the loan lines made readable.

The statement is the buyer's ledger account, newest first. Money drawn on Huabei passes
through it: a Huabei purchase is a transfer from platform:loan:huabei into the balance
(keyed by the purchase's reservation, ``saga:<saga id>:reserve_huabei``) followed by the
ordinary payment from the balance (gateway.payment.sagas.wallet_payment). Shown as such,
it reads as an anonymous credit and a debit. Here:

- the payment of a completed wallet payment with a Huabei part is labelled
  ``huabei_purchase`` and carries its ``funding`` (method and amount, in the payer's order)
  and ``balance_amount``, what the balance itself gave (the amount less the Huabei part);
  the funding transfer behind it is not listed (it and the payment's Huabei part cancel
  out: ``balance_after`` stays the ledger's own). The funding transfer is found by its
  key, its saga in the saga log; when the payment is the oldest lines of a page, the next
  few entries are read to find its transfer, so no page boundary splits a purchase;
- a transfer of a Huabei payment still in flight or undone stays listed, labelled
  ``huabei_funding`` (and its undoing ``huabei_funding_undone``);
- repayments are labelled ``huabei_repayment`` or ``cash_loan_repayment``, a cash loan's
  disbursement ``cash_loan_disbursement``, and the Huabei share of a refund returned to the
  line ``huabei_refund_to_line`` (gateway.loans.sagas.huabei_refund).

Every other line is as the payment service lists it. A page may therefore hold fewer lines
than its page_size; next_page_token is the service's.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from chassis.money import Money
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.paging import page_request
from gateway.edge.representations import json_response, money_json, statement_entry_json
from gateway.loans.ledger import (
    CASH_LOAN_ACCOUNT_ID,
    HUABEI_ACCOUNT_ID,
    HUABEI_MEMO,
    REVERSAL_MEMO,
)
from gateway.loans.sagas import huabei_refund, repayment
from gateway.payment.sagas.wallet_payment import (
    PAY,
    RESERVE_HUABEI,
    WALLET_PAYMENT,
    WalletPaymentInput,
)
from gateway.sagas.definition import SagaState
from gateway.sagas.log import SagaRecord

PAYMENT_KINDS = frozenset({"trade_payment", "bill_payment", "code_payment"})
PLATFORM_TRANSFER = "platform_transfer"
HOLD_CAPTURE = "hold_capture"
# How many older entries are read past a page to find the funding of its oldest payments.
LOOKAHEAD_ENTRIES = 10
_FUNDING_KEY = re.compile(rf"saga:([0-9a-f]+):{RESERVE_HUABEI}")

SagaReader = Callable[[str], Awaitable[SagaRecord | None]]
NextEntries = Callable[[paging_pb2.PageRequest], Awaitable[pb.ListStatementResponse]]


@dataclass(frozen=True, slots=True)
class HuabeiPayment:
    """A completed wallet payment with a Huabei part: its payment and funding postings."""

    payment_posting_id: str
    funding_posting_id: str
    order: WalletPaymentInput


def _is_funding(entry: pb.StatementEntry) -> bool:
    return (
        entry.kind == PLATFORM_TRANSFER
        and entry.counterpart_account_id == HUABEI_ACCOUNT_ID
        and entry.amount.amount_fen > 0
        and entry.memo == HUABEI_MEMO
    )


def _label(entry: pb.StatementEntry) -> str:
    """The loan label of a line that is not a Huabei purchase ("" for none)."""
    counterpart, memo = entry.counterpart_account_id, entry.memo
    if counterpart == HUABEI_ACCOUNT_ID:
        labels = {
            (HOLD_CAPTURE, repayment.MEMO): "huabei_repayment",
            (HOLD_CAPTURE, huabei_refund.MEMO): "huabei_refund_to_line",
            (HOLD_CAPTURE, REVERSAL_MEMO): "huabei_funding_undone",
            (PLATFORM_TRANSFER, HUABEI_MEMO): "huabei_funding",
        }
        return labels.get((entry.kind, memo), "")
    if counterpart == CASH_LOAN_ACCOUNT_ID:
        if entry.kind == HOLD_CAPTURE and memo == repayment.MEMO:
            return "cash_loan_repayment"
        if entry.kind == PLATFORM_TRANSFER and entry.amount.amount_fen > 0:
            return "cash_loan_disbursement"
    return ""


class ReadableStatement:
    """Turns a page of the payment service's statement into the readable lines."""

    def __init__(self, saga_of: SagaReader) -> None:
        self._saga_of = saga_of

    async def lines(
        self,
        entries: Sequence[pb.StatementEntry],
        next_page_token: str,
        next_entries: NextEntries,
    ) -> list[dict[str, Any]]:
        purchases = await self._purchases(entries)
        if next_page_token and self._unmatched_at_the_end(entries, purchases):
            older = await next_entries(
                paging_pb2.PageRequest(page_size=LOOKAHEAD_ENTRIES, page_token=next_page_token)
            )
            purchases |= await self._purchases(older.entries)
        by_payment = {p.payment_posting_id: p for p in purchases.values()}
        lines = []
        for entry in entries:
            if entry.posting_id in purchases:
                continue  # the funding of a purchase, shown on its payment
            purchase = by_payment.get(entry.posting_id)
            if purchase is not None and entry.amount.amount_fen < 0:
                lines.append(_purchase_line(entry, purchase.order))
                continue
            line = statement_entry_json(entry)
            label = _label(entry)
            if label:
                line["label"] = label
            lines.append(line)
        return lines

    async def _purchases(self, entries: Sequence[pb.StatementEntry]) -> dict[str, HuabeiPayment]:
        """Completed Huabei payments by their funding posting id, for the fundings listed."""
        found: dict[str, HuabeiPayment] = {}
        for entry in entries:
            key = _FUNDING_KEY.fullmatch(entry.reference) if _is_funding(entry) else None
            if key is None:
                continue
            record = await self._saga_of(key.group(1))
            if (
                record is None
                or record.saga_name != WALLET_PAYMENT
                or record.state is not SagaState.COMPLETED
            ):
                continue
            found[entry.posting_id] = HuabeiPayment(
                payment_posting_id=str(record.results()[PAY]["posting_id"]),
                funding_posting_id=entry.posting_id,
                order=WalletPaymentInput.from_json(record.input),
            )
        return found

    @staticmethod
    def _unmatched_at_the_end(
        entries: Sequence[pb.StatementEntry], purchases: dict[str, HuabeiPayment]
    ) -> bool:
        """Whether one of the page's oldest lines is a payment whose funding may lie beyond."""
        paid = {p.payment_posting_id for p in purchases.values()}
        return any(
            entry.kind in PAYMENT_KINDS
            and entry.amount.amount_fen < 0
            and entry.posting_id not in paid
            for entry in entries[-LOOKAHEAD_ENTRIES:]
        )


def _purchase_line(entry: pb.StatementEntry, order: WalletPaymentInput) -> dict[str, Any]:
    line = statement_entry_json(entry)
    currency = order.amount.currency
    line["label"] = "huabei_purchase"
    line["funding"] = [
        {"method": method.value, "amount": money_json(Money(fen, currency))}
        for method, fen in order.funding
    ]
    line["balance_amount"] = money_json(Money(entry.amount.amount_fen + order.huabei.fen, currency))
    return line


async def statement_response(
    request: web.Request, payment: PaymentClient, saga_of: SagaReader
) -> web.Response:
    """GET /v1/statement: a page of the caller's statement, its loan lines made readable."""
    account_id = request[CALLER].account_id
    response = await payment.list_statement(
        pb.ListStatementRequest(account_id=account_id, page=page_request(request))
    )

    async def next_entries(page: paging_pb2.PageRequest) -> pb.ListStatementResponse:
        return await payment.list_statement(
            pb.ListStatementRequest(account_id=account_id, page=page)
        )

    token = response.page.next_page_token
    lines = await ReadableStatement(saga_of).lines(response.entries, token, next_entries)
    return json_response({"entries": lines, "next_page_token": token})
