"""The bank channel (快捷支付) as an adapter: the one external party of the ledger.

FakeBankChannel is a stand-in for a real bank's quick-pay API, named as a fake because
it is one: a truly external party (the only kind of fake the project allows). It
validates card numbers with the Luhn check, declines the documented test cards, and
answers the same request id with the same answer, as real channels do for a repeated
out_trade_no. Money it moves is posted against the bank's clearing account.

The fake is wired only with COLONY_ENV=dev (``bank_channel_from``): outside dev the payment
service refuses to start unless COLONY_BANK_CHANNEL names a real adapter,
``package.module:factory`` returning an object with this module's BankChannel methods.

Binding a card asks the bank whether the card is held by the account's real name
(``confirm_card_holder``). The fake bank's rule, deterministic and documented: it has
"issued" exactly the cards ``fake_bank_card_for(holder_name, serial)`` makes — 19 digits,
its BIN 623058, a two-digit serial, ten digits of the SHA-256 of the holder's name (trimmed,
UTF-8) and the Luhn digit — and confirms a card only for the name it was issued to. Any
other card (another name's, or not one of its own) is not confirmed.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, cast

from chassis.errors import FailedPrecondition, InvalidArgument

FAKE_BANK_CLEARING_ACCOUNT_ID = "external:fakebank:clearing"
# Cards the fake bank always declines (each passes Luhn, so the refusal is the bank's).
FAKE_BANK_DECLINED_CARDS = frozenset({"4000000000000002", "6222000000000000008"})
CARD_NUMBER_LENGTHS = range(12, 20)
# The fake bank's own cards: BIN, a 2-digit serial, 10 digits of the holder name's digest, Luhn.
FAKE_BANK_BIN = "623058"
FAKE_BANK_SERIALS = range(100)
_NAME_DIGITS = 10
FAKE_BANK_CHANNEL = "fake"


@dataclass(frozen=True, slots=True)
class BankReceipt:
    """The bank's answer to a charge or payout."""

    bank_reference: str
    card_last4: str


class BankChannel(Protocol):
    """The bank port. Its contract: charge_card and pay_out are idempotent by request_id —
    the same request id gets the same answer (the same receipt, or the same BankDeclined)
    however often and from whichever process it is asked, and moves money at most once.
    BankDeclined is a final answer; any other exception (the bank unreachable) is not, and
    the caller asks again with the same request id. A withdrawal relies on this: its payout
    is asked outside any transaction, by the withdrawal's key, and asked again after a crash
    (rpc_withdrawal_payouts.py)."""

    clearing_account_id: str

    async def charge_card(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        """Take amount_fen from the card (a top-up); raise BankDeclined when refused."""
        ...

    async def pay_out(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        """Send amount_fen to the card (a withdrawal); raise BankDeclined when refused.
        Idempotent by request_id (the class docstring)."""
        ...

    async def confirm_card_holder(
        self, card_number: str, holder_name: str, resident_id: str | None
    ) -> None:
        """Return if the bank confirms the card is held by holder_name with resident_id (the
        bank's check of card, name and identity number; None for a merchant, which declares
        none); raise CardHolderNotConfirmed (or BankDeclined) otherwise. Binding a card is what
        proves an account's resident id (issue 21 item 5), so a real adapter must check both."""
        ...


class BankDeclined(FailedPrecondition):
    default_reason = "BANK_DECLINED"


class CardHolderNotConfirmed(FailedPrecondition):
    """The bank does not confirm the card is held by the account's real name."""

    default_reason = "CARD_HOLDER_NOT_CONFIRMED"


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


def _name_digits(holder_name: str) -> str:
    digest = hashlib.sha256(holder_name.strip().encode()).digest()
    return str(int.from_bytes(digest, "big") % 10**_NAME_DIGITS).zfill(_NAME_DIGITS)


def _with_luhn_digit(stem: str) -> str:
    return next(stem + digit for digit in "0123456789" if luhn_valid(stem + digit))


def fake_bank_card_for(holder_name: str, serial: int = 0) -> str:
    """The card the fake bank issued to holder_name (serial 0-99: one name, many cards)."""
    if serial not in FAKE_BANK_SERIALS:
        raise ValueError("a fake bank card serial is 0 to 99")
    return _with_luhn_digit(f"{FAKE_BANK_BIN}{serial:02d}{_name_digits(holder_name)}")


def fake_bank_issued_to(card_number: str, holder_name: str) -> bool:
    """True if the fake bank issued this card to this name (its documented rule)."""
    serial = card_number[len(FAKE_BANK_BIN) : len(FAKE_BANK_BIN) + 2]
    return (
        len(card_number) == 19
        and card_number.startswith(FAKE_BANK_BIN)
        and serial.isdigit()
        and card_number == fake_bank_card_for(holder_name, int(serial))
    )


class FakeBankChannel:
    """An in-process fake of the bank's quick-pay API (see module docstring). It keeps the
    first answer to each request id (per operation) and gives it again for a repeated one,
    whatever card or amount the repeat names, as the port's contract says."""

    clearing_account_id = FAKE_BANK_CLEARING_ACCOUNT_ID

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], BankReceipt | BankDeclined] = {}

    async def confirm_card_holder(
        self, card_number: str, holder_name: str, resident_id: str | None
    ) -> None:
        # The FAKE bank "issued" its cards to names only (fake_bank_card_for): it cannot check
        # the resident id, so in dev a card in the same name proves any id (docs/security.md).
        validate_card_number(card_number)
        if card_number in FAKE_BANK_DECLINED_CARDS:
            raise BankDeclined(f"the bank declined the card ending {card_number[-4:]}")
        if not fake_bank_issued_to(card_number, holder_name):
            raise CardHolderNotConfirmed(
                f"the bank does not confirm that the card ending {card_number[-4:]} is held "
                "in the account's real name"
            )

    async def charge_card(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        return self._answer("charge", request_id, card_number)

    async def pay_out(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        return self._answer("payout", request_id, card_number)

    def _answer(self, operation: str, request_id: str, card_number: str) -> BankReceipt:
        answer = self._answers.get((operation, request_id))
        if answer is None:
            answer = self._decide(operation, request_id, card_number)
            self._answers[(operation, request_id)] = answer
        if isinstance(answer, BankDeclined):
            raise BankDeclined(answer.message, reason=answer.reason)
        return answer

    def _decide(
        self, operation: str, request_id: str, card_number: str
    ) -> BankReceipt | BankDeclined:
        """The first answer to a request id (deterministic: the same after a restart)."""
        validate_card_number(card_number)
        if card_number in FAKE_BANK_DECLINED_CARDS:
            return BankDeclined(f"the bank declined the card ending {card_number[-4:]}")
        return BankReceipt(
            bank_reference=f"fakebank:{operation}:{request_id}", card_last4=card_number[-4:]
        )


def bank_channel_from(environ: Mapping[str, str]) -> BankChannel:
    """The bank adapter COLONY_BANK_CHANNEL names: "fake" (the default, dev only) or
    "package.module:factory". Outside COLONY_ENV=dev there is no default and the fake is
    refused, so a production payment service never moves pretend money."""
    dev = environ.get("COLONY_ENV", "") == "dev"
    spec = environ.get("COLONY_BANK_CHANNEL", FAKE_BANK_CHANNEL if dev else "")
    if spec == FAKE_BANK_CHANNEL:
        if not dev:
            raise SystemExit(
                "COLONY_BANK_CHANNEL=fake moves no real money: only with COLONY_ENV=dev"
            )
        return FakeBankChannel()
    if not spec:
        raise SystemExit(
            "COLONY_BANK_CHANNEL is required outside dev: the import path of your bank "
            "channel's adapter, package.module:factory (docs/security.md)"
        )
    module_name, _, factory_name = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), factory_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise SystemExit(f"COLONY_BANK_CHANNEL={spec!r} cannot be loaded: {error}") from None
    channel = factory()
    needed = ("charge_card", "pay_out", "confirm_card_holder")
    if not all(callable(getattr(channel, name, None)) for name in needed) or not isinstance(
        getattr(channel, "clearing_account_id", None), str
    ):
        raise SystemExit(
            f"COLONY_BANK_CHANNEL={spec!r} made no bank channel (clearing_account_id, "
            + ", ".join(needed)
            + ")"
        )
    return cast(BankChannel, channel)
