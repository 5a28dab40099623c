"""The wallet (DOMAIN.md §6): the caller's balance and statement, read from the ledger,
and the caller's wealth holdings, credit score, loans and insurance policies beside them.

Both read the caller's own account, taken from their identity; no route takes an
account id to read, so no user can read another's money. The wealth part of the overview
(Yu'e Bao, fixed-term holdings, fund positions) is left out when the wealth service cannot
answer, and so is the credit score when the credit service cannot, and the loans (the
Huabei line, its current bill, the cash loans) when the loan service cannot, and the
insurance policies when the insurance service cannot: the balance is shown regardless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from chassis.errors import DomainError, Unavailable
from chassis.money import Money
from chassis.paging import PAGE_SIZE_MAX
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import (
    CreditClient,
    InsuranceClient,
    LoanClient,
    PaymentClient,
    ServiceFault,
    WealthClient,
)
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.credit.overview import WALLET_CREDIT_SCHEMA, score_summary
from gateway.edge.authentication import CALLER
from gateway.edge.identities import AccountType
from gateway.edge.openapi import schema_ref
from gateway.edge.ownership import list_own
from gateway.edge.paging import PAGING_QUERY_PARAMETERS
from gateway.edge.representations import (
    json_response,
    money_json,
    money_proto_json,
    statement_entry_json,
    wallet_json,
)
from gateway.edge.routing import AuthScheme, Route
from gateway.insurance.overview import WALLET_INSURANCE_SCHEMA, insurance_summary
from gateway.loans.merchant.abs_overview import WALLET_ABS_SCHEMA, abs_summary
from gateway.loans.overview import WALLET_LOANS_SCHEMA, loans_summary
from gateway.loans.statement import SagaReader, statement_response
from gateway.wealth.positions import position_value_fen

log = logging.getLogger("colony.gateway.wallet")

# The overview sums at most this many pages of fixed-term holdings.
HOLDING_PAGES_MAX = 20
# Fund positions are valued from at most this many pages of the fund catalogue (one call
# each, however many positions), plus at most FUND_LOOKUPS_MAX funds looked up one by one.
FUND_CATALOGUE_PAGES_MAX = 5
FUND_LOOKUPS_MAX = 10
# Holdings whose principal the investor still has in the product.
_LIVE_HOLDING_STATES = (wpb.HOLDING_STATE_HELD, wpb.HOLDING_STATE_LISTED)

SCHEMAS: dict[str, dict[str, Any]] = {
    "Wallet": {
        "type": "object",
        "required": [
            "account_id",
            "balance",
            "available",
            "in_escrow",
            "kyc_level",
            "payment_password_set",
        ],
        "properties": {
            "account_id": {"type": "string"},
            "balance": {**schema_ref("Money"), "description": "Posted balance."},
            "available": {**schema_ref("Money"), "description": "Balance less open holds."},
            "in_escrow": {
                **schema_ref("Money"),
                "description": "Paid into escrow trades not yet settled or refunded; not "
                "part of the balance, which it already left.",
            },
            "kyc_level": {
                "type": "integer",
                "minimum": 1,
                "maximum": 3,
                "description": "1 phone verified, 2 real-name, 3 bank card verified.",
            },
            "payment_password_set": {
                "type": "boolean",
                "description": "Whether a 6-digit payment password has been set.",
            },
            "wealth": {
                **schema_ref("WalletWealth"),
                "description": "Absent when the wealth service cannot answer right now.",
            },
            "credit": schema_ref("WalletCredit"),
            "loans": schema_ref("WalletLoans"),
            "insurance": schema_ref("WalletInsurance"),
            "abs": schema_ref("WalletAbs"),
        },
    },
    "WalletCredit": WALLET_CREDIT_SCHEMA,
    "WalletLoans": WALLET_LOANS_SCHEMA,
    "WalletInsurance": WALLET_INSURANCE_SCHEMA,
    "WalletAbs": WALLET_ABS_SCHEMA,
    "WalletWealth": {
        "type": "object",
        "required": ["yuebao", "fixed_term_total", "fund_positions_value"],
        "properties": {
            "yuebao": {
                "type": "object",
                "required": [
                    "shares",
                    "yesterday_income",
                    "cumulative_income",
                    "seven_day_annualised_yield",
                ],
                "properties": {
                    "shares": schema_ref("Money"),
                    "yesterday_income": schema_ref("Money"),
                    "cumulative_income": schema_ref("Money"),
                    "seven_day_annualised_yield": {
                        "type": "string",
                        "description": 'A decimal fraction; "" before 7 days of income.',
                    },
                },
            },
            "fixed_term_total": {
                **schema_ref("Money"),
                "description": "Principal of the fixed-term holdings not yet matured.",
            },
            "fund_positions_value": {
                **schema_ref("Money"),
                "description": "Fund units at each fund's latest NAV, rounded down.",
            },
        },
    },
    "StatementEntry": {
        "type": "object",
        "required": [
            "entry_id",
            "posting_id",
            "kind",
            "amount",
            "counterpart_account_id",
            "counterpart_name",
            "memo",
            "reference",
            "posted_at",
        ],
        "properties": {
            "entry_id": {"type": "string"},
            "posting_id": {"type": "string"},
            "kind": {
                "type": "string",
                "example": "transfer",
                "description": "top_up, withdrawal, transfer, hold_capture, trade_payment, "
                "trade_settlement, trade_refund, code_payment or bill_payment.",
            },
            "amount": {**schema_ref("Money"), "description": "Signed: negative is money out."},
            "balance_after": {
                **schema_ref("Money"),
                "description": "The running balance right after this entry. Absent on a hot "
                "account's statement, whose sub-accounts move concurrently.",
            },
            "counterpart_account_id": {"type": "string"},
            "counterpart_name": {"type": "string"},
            "memo": {"type": "string"},
            "reference": {
                "type": "string",
                "description": "The trade, hold or bill reference the entry belongs to, if any.",
            },
            "posted_at": {"type": "string", "format": "date-time"},
            "label": {
                "type": "string",
                "description": 'What a loan line is (docs/loans.md "On the statement"): '
                "huabei_purchase, huabei_repayment, huabei_refund_to_line, huabei_funding, "
                "huabei_funding_undone, cash_loan_disbursement or cash_loan_repayment.",
            },
            "funding": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["method", "amount"],
                    "properties": {
                        "method": {"type": "string", "example": "huabei"},
                        "amount": schema_ref("Money"),
                    },
                },
                "description": "A huabei_purchase: how it was paid, in the payer's order.",
            },
            "balance_amount": {
                **schema_ref("Money"),
                "description": "A huabei_purchase: what the balance itself gave (signed; the "
                "amount less the Huabei part, whose funding line is not listed).",
            },
        },
    },
    "Statement": {
        "type": "object",
        "required": ["entries", "next_page_token"],
        "properties": {
            "entries": {
                "type": "array",
                "items": schema_ref("StatementEntry"),
                "description": "Newest first.",
            },
            "next_page_token": {
                "type": "string",
                "description": "Pass as page_token for the next page; empty "
                "when there are no more entries.",
            },
        },
    },
}


class WalletRoutes:
    """GET /v1/wallet, GET /v1/statement."""

    def __init__(
        self,
        payment: PaymentClient,
        wealth: WealthClient,
        credit: CreditClient,
        loan: LoanClient,
        insurance: InsuranceClient | None = None,
        *,
        saga_of: SagaReader | None = None,
        lending: MerchantLendingClient | None = None,
    ) -> None:
        self._payment = payment
        self._wealth = wealth
        self._credit = credit
        self._loan = loan
        self._insurance = insurance
        self._saga_of = saga_of
        self._lending = lending

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/v1/wallet",
                self.wallet,
                operation_id="getWallet",
                summary="The caller's balance, available balance, money in escrow, "
                "wealth holdings and credit score",
                tag="wallet",
                auth=(AuthScheme.BEARER,),
                response_schema="Wallet",
            ),
            Route(
                "GET",
                "/v1/statement",
                self.statement,
                operation_id="listStatement",
                summary="The caller's ledger entries, newest first, with running balances",
                tag="wallet",
                auth=(AuthScheme.BEARER,),
                response_schema="Statement",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={400: ("INVALID_PAGE_TOKEN",)},
            ),
        ]

    async def wallet(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        account_id = caller.account_id
        scored = caller.account_type is AccountType.PERSONAL  # merchants are never scored
        account, wealth, credit, loans, insurance, abs_units = await asyncio.gather(
            self._payment.get_account(account_id),
            _or_none("wealth holdings", self._wealth_holdings(account_id)),
            _or_none("credit score", score_summary(self._credit, account_id) if scored else None),
            _or_none("loans", loans_summary(self._loan, account_id) if scored else None),
            _or_none(
                "insurance",
                insurance_summary(self._insurance, account_id) if self._insurance else None,
            ),
            _or_none(
                "ABS holdings",
                abs_summary(self._lending, account_id)
                if scored and self._lending is not None
                else None,
            ),
        )
        overview = wallet_json(account)
        if wealth is not None:
            overview["wealth"] = wealth
        if credit is not None:
            overview["credit"] = credit
        if loans is not None:
            overview["loans"] = loans
        if insurance is not None:
            overview["insurance"] = insurance
        if abs_units is not None:
            overview["abs"] = abs_units
        return json_response(overview)

    async def _wealth_holdings(self, account_id: str) -> dict[str, Any]:
        yuebao = (
            await self._wealth.get_yuebao_account(
                wpb.GetYuebaoAccountRequest(investor_id=account_id)
            )
        ).account
        fixed_term_fen = 0
        page_token = ""
        for _ in range(HOLDING_PAGES_MAX):
            page = await self._wealth.list_holdings(
                wpb.ListHoldingsRequest(
                    investor_id=account_id,
                    page=paging_pb2.PageRequest(page_size=PAGE_SIZE_MAX, page_token=page_token),
                )
            )
            fixed_term_fen += sum(
                holding.principal.amount_fen
                for holding in page.holdings
                if holding.state in _LIVE_HOLDING_STATES
            )
            page_token = page.page.next_page_token
            if not page_token:
                break
        funds_fen = await self._fund_positions_value_fen(account_id)
        return {
            "yuebao": {
                "shares": money_proto_json(yuebao.shares),
                "yesterday_income": money_proto_json(yuebao.yesterday_income),
                "cumulative_income": money_proto_json(yuebao.cumulative_income),
                "seven_day_annualised_yield": yuebao.seven_day_annualised_yield,
            },
            "fixed_term_total": money_json(Money(fixed_term_fen)),
            "fund_positions_value": money_json(Money(funds_fen)),
        }

    async def _fund_positions_value_fen(self, account_id: str) -> int:
        """The positions at each fund's latest NAV, from the catalogue's pages (bounded calls).

        Not one call per position: a few pages of the fund catalogue give every NAV; a
        position beyond them is looked up on its own, at most FUND_LOOKUPS_MAX of them, and
        past that the overview leaves wealth out rather than show a partial sum.
        """
        positions = (
            await self._wealth.list_fund_positions(
                wpb.ListFundPositionsRequest(investor_id=account_id)
            )
        ).positions
        wanted = {position.fund_id for position in positions}
        navs: dict[str, str] = {}
        page_token = ""
        for _ in range(FUND_CATALOGUE_PAGES_MAX if wanted else 0):
            page = await self._wealth.list_funds(
                wpb.ListFundsRequest(
                    page=paging_pb2.PageRequest(page_size=PAGE_SIZE_MAX, page_token=page_token)
                )
            )
            navs.update(
                {fund.fund_id: fund.latest_nav for fund in page.funds if fund.fund_id in wanted}
            )
            page_token = page.page.next_page_token
            if not page_token or wanted <= navs.keys():
                break
        missing = sorted(wanted - navs.keys())
        if len(missing) > FUND_LOOKUPS_MAX:
            raise Unavailable(
                f"{len(missing)} fund positions are beyond what the overview values; "
                "see /v1/wealth/fund-positions"
            )
        for fund_id in missing:
            fund = (await self._wealth.get_fund(wpb.GetFundRequest(fund_id=fund_id))).fund
            navs[fund_id] = fund.latest_nav
        return sum(
            position_value_fen(position.units, navs[position.fund_id]) for position in positions
        )

    async def statement(self, request: web.Request) -> web.Response:
        if self._saga_of is not None:  # the loan lines made readable (gateway.loans.statement)
            return await statement_response(request, self._payment, self._saga_of)
        return await list_own(
            request,
            "entries",
            lambda account_id, page: self._payment.list_statement(
                pb.ListStatementRequest(account_id=account_id, page=page)
            ),
            statement_entry_json,
        )


async def _or_none(
    part: str, fetch: Coroutine[Any, Any, dict[str, Any]] | None
) -> dict[str, Any] | None:
    """A part of the overview another service gives, or None when it cannot answer now."""
    if fetch is None:
        return None
    try:
        return await fetch
    except (DomainError, ServiceFault) as error:
        log.warning("wallet shown without %s: %s", part, error)
        return None
