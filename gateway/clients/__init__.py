"""Clients of the business-line services: one channel each, a deadline on every call.

One module per service (payment, wealth, credit, loan, insurance) over ``base`` (channels,
the shared call with its deadline, and the one translation of a failed call into a
DomainError).
"""

from gateway.clients.base import (
    SEED_DEADLINE_SECONDS,
    ServiceChannels,
    ServiceClient,
    ServiceFault,
    translate_rpc_error,
)
from gateway.clients.credit import CreditClient
from gateway.clients.insurance import InsuranceClient
from gateway.clients.loan import LoanClient
from gateway.clients.payment import PaymentClient
from gateway.clients.wealth import WealthClient

__all__ = [
    "SEED_DEADLINE_SECONDS",
    "CreditClient",
    "InsuranceClient",
    "LoanClient",
    "PaymentClient",
    "ServiceChannels",
    "ServiceClient",
    "ServiceFault",
    "WealthClient",
    "translate_rpc_error",
]
