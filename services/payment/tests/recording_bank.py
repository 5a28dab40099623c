"""The fake bank, keeping a ledger of the payouts it made: for tests that kill the payment
service (COLONY_BANK_CHANNEL=services.payment.tests.recording_bank:recording_bank).

As the bank port's contract says (bank_channel.BankChannel), it pays a request id once,
however often and from whichever process it is asked: the first answer (paid, or declined)
is kept in the ledger file COLONY_TEST_BANK_LEDGER names and given again for a repeat, by
any process. Every ask is one JSON line, written before it answers: request_id, amount_fen,
the asking process's pid, and outcome — "paid" or "declined" (the first answer), "repeat"
(answered from the ledger, nothing moved), or "asked" (a hang point, below).

For crash tests, COLONY_TEST_BANK_HANG makes it stop answering at a point, so the test can
kill the service there: "before-paying" writes an "asked" line and hangs before deciding
(nothing paid), "after-paying" records the payout and then hangs (paid, never answered).
COLONY_TEST_BANK_DECLINE_FEN (amounts in fen, comma-separated) declines payouts of those
amounts.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from services.payment.bank_channel import BankDeclined, BankReceipt, FakeBankChannel

LEDGER_ENV = "COLONY_TEST_BANK_LEDGER"
HANG_ENV = "COLONY_TEST_BANK_HANG"
DECLINE_ENV = "COLONY_TEST_BANK_DECLINE_FEN"
HANG_BEFORE_PAYING = "before-paying"
HANG_AFTER_PAYING = "after-paying"


def _append(path: Path, entry: dict[str, object]) -> None:
    with path.open("a", encoding="utf-8") as ledger:
        ledger.write(json.dumps(entry) + "\n")


class RecordingBank(FakeBankChannel):
    """FakeBankChannel, with every payout asked for kept in a ledger file."""

    def __init__(self, ledger: Path, hang: str = "", decline_fen: frozenset[int] = frozenset()):
        super().__init__()
        self.ledger = ledger
        self.hang = hang
        self.decline_fen = decline_fen

    async def pay_out(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        entry: dict[str, object] = {
            "request_id": request_id,
            "amount_fen": amount_fen,
            "pid": os.getpid(),
        }
        first = first_answers(self.ledger).get(request_id)
        if first is not None:
            _append(self.ledger, entry | {"outcome": "repeat"})
            return self._receipt(request_id, card_number, first)
        if self.hang == HANG_BEFORE_PAYING:
            _append(self.ledger, entry | {"outcome": "asked"})
            await asyncio.Event().wait()  # killed here: nothing paid
        outcome = "declined" if amount_fen in self.decline_fen else "paid"
        _append(self.ledger, entry | {"outcome": outcome})
        if self.hang == HANG_AFTER_PAYING:
            await asyncio.Event().wait()  # killed here: paid, never answered
        return self._receipt(request_id, card_number, outcome)

    @staticmethod
    def _receipt(request_id: str, card_number: str, outcome: str) -> BankReceipt:
        if outcome == "declined":
            raise BankDeclined(f"the bank declined a payout to the card ending {card_number[-4:]}")
        return BankReceipt(f"fakebank:payout:{request_id}", card_number[-4:])


def recording_bank() -> RecordingBank:
    declined = os.environ.get(DECLINE_ENV, "")
    return RecordingBank(
        Path(os.environ[LEDGER_ENV]),
        os.environ.get(HANG_ENV, ""),
        frozenset(int(fen) for fen in declined.split(",") if fen),
    )


def payouts(ledger: Path) -> list[dict[str, object]]:
    """Every ask, in order (none if the bank was never asked)."""
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text(encoding="utf-8").splitlines() if line]


def first_answers(ledger: Path) -> dict[str, str]:
    """The bank's answer to each request id it decided: "paid" or "declined"."""
    answers: dict[str, str] = {}
    for ask in payouts(ledger):
        if ask["outcome"] in ("paid", "declined"):
            answers.setdefault(str(ask["request_id"]), str(ask["outcome"]))
    return answers


def paid(ledger: Path) -> dict[str, int]:
    """What the bank paid out, by request id: each id's amount, once."""
    money: dict[str, int] = {}
    for ask in payouts(ledger):
        if ask["outcome"] == "paid":
            key = str(ask["request_id"])
            assert key not in money, f"the bank paid {key} twice"
            money[key] = int(str(ask["amount_fen"]))
    return money
