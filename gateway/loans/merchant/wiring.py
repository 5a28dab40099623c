"""Merchant lending's parts the composition root (gateway.app) wires: its client (on the
loan service's channel), the ledger of platform:loan:merchant and the two sagas."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from gateway.clients import PaymentClient
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.loans.merchant.ledger import MerchantLoanLedger
from gateway.loans.merchant.sagas import MerchantSagas, merchant_lending_sagas


@dataclass(frozen=True, slots=True)
class MerchantLending:
    client: MerchantLendingClient
    ledger: MerchantLoanLedger
    sagas: MerchantSagas

    @classmethod
    def build(
        cls, loan_channel: grpc.aio.Channel, payment: PaymentClient, deadline_seconds: float
    ) -> MerchantLending:
        client = MerchantLendingClient(loan_channel, deadline_seconds)
        ledger = MerchantLoanLedger(payment)
        return cls(client, ledger, merchant_lending_sagas(client, ledger))
