"""Every saga the gateway runs, built once over the service clients (see gateway.sagas)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from gateway.clients import PaymentClient
from gateway.sagas.definition import SagaDefinition
from gateway.sagas.merchant_payment import merchant_payment_saga


@dataclass(frozen=True, slots=True)
class Sagas:
    """The definitions, one field per saga: routes start them by field, the engine by name."""

    merchant_payment: SagaDefinition

    def all(self) -> tuple[SagaDefinition, ...]:
        return tuple(getattr(self, field.name) for field in fields(self))


def define_sagas(payment: PaymentClient, *, hold_ttl_seconds: int) -> Sagas:
    return Sagas(merchant_payment=merchant_payment_saga(payment, hold_ttl_seconds))
