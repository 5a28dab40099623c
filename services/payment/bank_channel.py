"""The bank channel (快捷支付) as an adapter: the one external party of the ledger.

FakeBankChannel is a stand-in for a real bank's quick-pay API, named as a fake because
it is one: a truly external party (the only kind of fake the project allows). It
validates card numbers with the Luhn check, declines the documented test cards, and
answers the same request id with the same answer, as real channels do for a repeated
out_trade_no. Money it moves is posted against the bank's clearing account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chassis.errors import FailedPrecondition, InvalidArgument

FAKE_BANK_CLEARING_ACCOUNT_ID = "external:fakebank:clearing"
# Cards the fake bank always declines (each passes Luhn, so the refusal is the bank's).
FAKE_BANK_DECLINED_CARDS = frozenset({"4000000000000002", "6222000000000000008"})
CARD_NUMBER_LENGTHS = range(12, 20)


@dataclass(frozen=True, slots=True)
class BankReceipt:
    """The bank's answer to a charge or payout."""

    bank_reference: str
    card_last4: str


class BankChannel(Protocol):
    clearing_account_id: str

    async def charge_card(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        """Take amount_fen from the card (a top-up); raise BankDeclined when refused."""
        ...

    async def pay_out(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        """Send amount_fen to the card (a withdrawal); raise BankDeclined when refused."""
        ...


class BankDeclined(FailedPrecondition):
    default_reason = "BANK_DECLINED"


def luhn_valid(card_number: str) -> bool:
    """True if card_number is all digits and passes the Luhn checksum."""
    if not card_number.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(card_number)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def validate_card_number(card_number: str) -> str:
    """Return the card number if it looks like a bank card, else refuse it."""
    if len(card_number) not in CARD_NUMBER_LENGTHS or not luhn_valid(card_number):
        raise InvalidArgument("bank_card_number is not a valid bank card number")
    return card_number


class FakeBankChannel:
    """An in-process fake of the bank's quick-pay API (see module docstring)."""

    clearing_account_id = FAKE_BANK_CLEARING_ACCOUNT_ID

    async def charge_card(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        return self._answer("charge", request_id, card_number)

    async def pay_out(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        return self._answer("payout", request_id, card_number)

    def _answer(self, operation: str, request_id: str, card_number: str) -> BankReceipt:
        validate_card_number(card_number)
        if card_number in FAKE_BANK_DECLINED_CARDS:
            raise BankDeclined(f"the bank declined the card ending {card_number[-4:]}")
        # Deterministic per request id: a retried request gets the same reference.
        return BankReceipt(
            bank_reference=f"fakebank:{operation}:{request_id}", card_last4=card_number[-4:]
        )
