"""Merchant lending's parts the composition root (gateway.app) wires: its client (on the
loan service's channel), the withholding client (on the payment service's), the ledger
(platform:loan:capital, which merchant loans are lent from), the sagas (the funding saga's accounts
among them) and the order-loan job."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.clients import PaymentClient, ServiceChannels
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.clients.withholding import WithholdingClient
from gateway.loans.merchant.funding import FundingAccounts
from gateway.loans.merchant.ledger import MerchantLoanLedger
from gateway.loans.merchant.order_loans import OrderLoanJobs
from gateway.loans.merchant.sagas import MerchantSagas, merchant_lending_sagas


@dataclass(frozen=True, slots=True)
class MerchantLending:
    client: MerchantLendingClient
    withholding: WithholdingClient
    ledger: MerchantLoanLedger
    sagas: MerchantSagas
    order_jobs: OrderLoanJobs

    @classmethod
    def build(
        cls, channels: ServiceChannels, payment: PaymentClient, deadline_seconds: float
    ) -> MerchantLending:
        client = MerchantLendingClient(channels.loan, deadline_seconds)
        withholding = WithholdingClient(channels.payment, deadline_seconds)
        ledger = MerchantLoanLedger(payment)
        return cls(
            client,
            withholding,
            ledger,
            merchant_lending_sagas(client, ledger, withholding, FundingAccounts(payment)),
            OrderLoanJobs(client, withholding, payment, ledger),
        )
