"""Bank cards bound to an account (绑卡): pure rules.

A card is bound once the bank channel confirms it is held in the account's real name
(bank_channel.BankChannel.confirm_card_holder); that is what KYC level 3 ("a bank card in
the same name") means, so binding raises the account to it and nothing else does. Money
leaves an account for a bank card only to one of its bound cards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from chassis.errors import FailedPrecondition

# A person has a few cards; more bindings than this is a stolen-card tester.
CARDS_PER_ACCOUNT_MAX = 10
CARD_ID_PREFIX = "card_"


@dataclass(frozen=True, slots=True)
class BoundCard:
    """One binding: the card (its number stays in the store, for pay-outs), its account."""

    card_id: str
    account_id: str
    card_number: str
    bound_at: datetime

    @property
    def card_last4(self) -> str:
        return self.card_number[-4:]


def new_card_id() -> str:
    return CARD_ID_PREFIX + uuid.uuid4().hex


def card_not_bound(card_number: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"the card ending {card_number[-4:]} is not bound to this account: bind it first "
        "(the bank confirms it is in the account's real name)",
        reason="CARD_NOT_BOUND",
    )


def require_card_room(bound_count: int) -> None:
    """Refuse a new binding when the account already has the most cards allowed."""
    if bound_count >= CARDS_PER_ACCOUNT_MAX:
        raise FailedPrecondition(
            f"an account binds at most {CARDS_PER_ACCOUNT_MAX} cards: unbind one first",
            reason="CARD_LIMIT_REACHED",
        )
