"""The fake bank, keeping a ledger of the payouts it made and the cards it charged: for
tests that kill the payment service
(COLONY_BANK_CHANNEL=services.payment.tests.recording_bank:recording_bank).

As the bank port's contract says (bank_channel.BankChannel), it pays (or charges) a request
id once, however often and from whichever process it is asked: the first answer (paid, or
declined) is kept in the ledger file COLONY_TEST_BANK_LEDGER names and given again for a
repeat, by any process. Every ask is one JSON line, written before it answers: operation
("payout" or "charge"), request_id, amount_fen, the asking process's pid, and outcome —
"paid" or "declined" (the first answer; "paid" for a charge means the card was charged),
"repeat" (answered from the ledger, nothing moved), or "asked" (a hang point, below).

For crash tests, COLONY_TEST_BANK_HANG makes it stop answering at a point, so the test can
kill the service there: "before-paying" writes an "asked" line and hangs before deciding
(nothing paid), "after-paying" records the payout and then hangs (paid, never answered).
COLONY_TEST_BANK_HANG_ON ("payout", the default, or "charge") says which operation hangs.
COLONY_TEST_BANK_DECLINE_FEN (amounts in fen, comma-separated) declines payouts and charges
of those amounts.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from services.payment.bank_channel import BankDeclined, BankReceipt, FakeBankChannel

LEDGER_ENV = "COLONY_TEST_BANK_LEDGER"
HANG_ENV = "COLONY_TEST_BANK_HANG"
HANG_ON_ENV = "COLONY_TEST_BANK_HANG_ON"
PAYOUT, CHARGE = "payout", "charge"
DECLINE_ENV = "COLONY_TEST_BANK_DECLINE_FEN"
HANG_BEFORE_PAYING = "before-paying"
HANG_AFTER_PAYING = "after-paying"


def _append(path: Path, entry: dict[str, object]) -> None:
    with path.open("a", encoding="utf-8") as ledger:
        ledger.write(json.dumps(entry) + "\n")


class RecordingBank(FakeBankChannel):
    """FakeBankChannel, with every payout and card charge asked for kept in a ledger file."""

    def __init__(
        self,
        ledger: Path,
        hang: str = "",
        decline_fen: frozenset[int] = frozenset(),
        hang_on: str = PAYOUT,
    ):
        super().__init__()
        self.ledger = ledger
        self.hang = hang
        self.hang_on = hang_on
        self.decline_fen = decline_fen

    async def pay_out(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        return await self._ask(PAYOUT, request_id, card_number, amount_fen)

    async def charge_card(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        return await self._ask(CHARGE, request_id, card_number, amount_fen)

    async def _ask(
        self, operation: str, request_id: str, card_number: str, amount_fen: int
    ) -> BankReceipt:
        entry: dict[str, object] = {
            "operation": operation,
            "request_id": request_id,
            "amount_fen": amount_fen,
            "pid": os.getpid(),
        }
        first = first_answers(self.ledger, operation).get(request_id)
        if first is not None:
            _append(self.ledger, entry | {"outcome": "repeat"})
            return self._receipt(operation, request_id, card_number, first)
        hang = self.hang if operation == self.hang_on else ""
        if hang == HANG_BEFORE_PAYING:
            _append(self.ledger, entry | {"outcome": "asked"})
            await asyncio.Event().wait()  # killed here: nothing paid
        outcome = "declined" if amount_fen in self.decline_fen else "paid"
        _append(self.ledger, entry | {"outcome": outcome})
        if hang == HANG_AFTER_PAYING:
            await asyncio.Event().wait()  # killed here: paid, never answered
        return self._receipt(operation, request_id, card_number, outcome)

    @staticmethod
    def _receipt(operation: str, request_id: str, card_number: str, outcome: str) -> BankReceipt:
        if outcome == "declined":
            raise BankDeclined(
                f"the bank declined a {operation} of the card ending {card_number[-4:]}"
            )
        return BankReceipt(f"fakebank:{operation}:{request_id}", card_number[-4:])


def recording_bank() -> RecordingBank:
    declined = os.environ.get(DECLINE_ENV, "")
    return RecordingBank(
        Path(os.environ[LEDGER_ENV]),
        os.environ.get(HANG_ENV, ""),
        frozenset(int(fen) for fen in declined.split(",") if fen),
        os.environ.get(HANG_ON_ENV, PAYOUT),
    )


def payouts(ledger: Path, operation: str = PAYOUT) -> list[dict[str, object]]:
    """Every ask of the operation (payouts by default), in order (none if never asked)."""
    if not ledger.exists():
        return []
    lines = ledger.read_text(encoding="utf-8").splitlines()
    asks = [json.loads(line) for line in lines if line]
    return [ask for ask in asks if ask.get("operation", PAYOUT) == operation]


def charges(ledger: Path) -> list[dict[str, object]]:
    """Every card charge asked, in order."""
    return payouts(ledger, CHARGE)


def first_answers(ledger: Path, operation: str = PAYOUT) -> dict[str, str]:
    """The bank's answer to each request id it decided: "paid" or "declined"."""
    answers: dict[str, str] = {}
    for ask in payouts(ledger, operation):
        if ask["outcome"] in ("paid", "declined"):
            answers.setdefault(str(ask["request_id"]), str(ask["outcome"]))
    return answers


def paid(ledger: Path, operation: str = PAYOUT) -> dict[str, int]:
    """What the bank paid out (or charged), by request id: each id's amount, once."""
    money: dict[str, int] = {}
    for ask in payouts(ledger, operation):
        if ask["outcome"] == "paid":
            key = str(ask["request_id"])
            assert key not in money, f"the bank paid {key} twice"
            money[key] = int(str(ask["amount_fen"]))
    return money
