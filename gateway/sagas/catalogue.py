"""Every saga the gateway runs, built once over the service clients (see gateway.sagas)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from gateway.clients import InsuranceClient, LoanClient, PaymentClient, WealthClient
from gateway.insurance.ledger import InsuranceLedger
from gateway.insurance.sagas.after_sales import after_sales_refund_saga
from gateway.insurance.sagas.funding import FundingSteps
from gateway.insurance.sagas.payout import claim_payout_saga
from gateway.insurance.sagas.premium import policy_premium_saga
from gateway.insurance.sagas.refund import policy_refund_saga
from gateway.loans.ledger import LoanLedger
from gateway.loans.sagas.cash_loan_disbursement import cash_loan_disbursement_saga
from gateway.loans.sagas.huabei_refund import huabei_refund_saga
from gateway.loans.sagas.repayment import loan_repayment_saga
from gateway.payment.sagas.merchant_payment import merchant_payment_saga
from gateway.payment.sagas.wallet_payment import wallet_payment_saga
from gateway.sagas.definition import SagaDefinition
from gateway.wealth.ledger import WealthLedger
from gateway.wealth.sagas.fund_purchase import fund_purchase_saga
from gateway.wealth.sagas.product_subscription import product_subscription_saga
from gateway.wealth.sagas.reservation_purchase import reservation_purchase_saga
from gateway.wealth.sagas.transfer_purchase import transfer_purchase_saga
from gateway.wealth.sagas.yuebao_redemption import yuebao_redemption_saga
from gateway.wealth.sagas.yuebao_subscription import yuebao_subscription_saga


@dataclass(frozen=True, slots=True)
class Sagas:
    """The definitions, one field per saga: routes start them by field, the engine by name."""

    merchant_payment: SagaDefinition
    yuebao_subscription: SagaDefinition
    yuebao_redemption: SagaDefinition
    wallet_payment: SagaDefinition
    product_subscription: SagaDefinition
    transfer_purchase: SagaDefinition
    fund_purchase: SagaDefinition
    reservation_purchase: SagaDefinition
    cash_loan_disbursement: SagaDefinition
    loan_repayment: SagaDefinition
    huabei_refund: SagaDefinition
    policy_premium: SagaDefinition
    policy_refund: SagaDefinition
    claim_payout: SagaDefinition
    after_sales_refund: SagaDefinition

    def all(self) -> tuple[SagaDefinition, ...]:
        return tuple(getattr(self, field.name) for field in fields(self))


def define_sagas(
    payment: PaymentClient,
    wealth: WealthClient,
    ledger: WealthLedger,
    *,
    hold_ttl_seconds: int,
    loan: LoanClient,
    loan_ledger: LoanLedger,
    insurance: InsuranceClient,
    insurance_ledger: InsuranceLedger,
) -> Sagas:
    funding = FundingSteps(wealth, ledger, loan, loan_ledger)
    return Sagas(
        merchant_payment=merchant_payment_saga(payment, hold_ttl_seconds),
        yuebao_subscription=yuebao_subscription_saga(payment, wealth, hold_ttl_seconds),
        yuebao_redemption=yuebao_redemption_saga(wealth, ledger),
        wallet_payment=wallet_payment_saga(
            payment, wealth, ledger, loan=loan, loan_ledger=loan_ledger
        ),
        product_subscription=product_subscription_saga(payment, wealth, hold_ttl_seconds),
        transfer_purchase=transfer_purchase_saga(payment, wealth, hold_ttl_seconds),
        fund_purchase=fund_purchase_saga(payment, wealth, hold_ttl_seconds),
        reservation_purchase=reservation_purchase_saga(payment, wealth, hold_ttl_seconds),
        cash_loan_disbursement=cash_loan_disbursement_saga(loan, loan_ledger),
        loan_repayment=loan_repayment_saga(payment, wealth, ledger, loan),
        huabei_refund=huabei_refund_saga(payment, loan),
        policy_premium=policy_premium_saga(payment, insurance, insurance_ledger, funding),
        policy_refund=policy_refund_saga(insurance, insurance_ledger),
        claim_payout=claim_payout_saga(insurance, insurance_ledger),
        after_sales_refund=after_sales_refund_saga(payment),
    )
