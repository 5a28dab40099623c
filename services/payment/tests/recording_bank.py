"""The fake bank, keeping a ledger of the payouts it made: for tests that kill the payment
service (COLONY_BANK_CHANNEL=services.payment.tests.recording_bank:recording_bank).

A real bank channel pays a request id once, however often it is asked (a repeated
out_trade_no is answered with the first answer); so does this one, as FakeBankChannel. It
appends every payout it is asked for, with the asking process's id, to the file
COLONY_TEST_BANK_LEDGER names (one JSON line each, written before it answers), so a test
can check which request ids the bank paid, for how much, and how often each process asked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from services.payment.bank_channel import BankReceipt, FakeBankChannel

LEDGER_ENV = "COLONY_TEST_BANK_LEDGER"


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as ledger:
        ledger.write(line + "\n")


class RecordingBank(FakeBankChannel):
    """FakeBankChannel, with every payout asked for kept in a ledger file."""

    def __init__(self, ledger: Path) -> None:
        self.ledger = ledger

    async def pay_out(self, request_id: str, card_number: str, amount_fen: int) -> BankReceipt:
        receipt = await super().pay_out(request_id, card_number, amount_fen)
        entry = {"request_id": request_id, "amount_fen": amount_fen, "pid": os.getpid()}
        _append(self.ledger, json.dumps(entry))
        return receipt


def recording_bank() -> RecordingBank:
    return RecordingBank(Path(os.environ[LEDGER_ENV]))


def payouts(ledger: Path) -> list[dict[str, object]]:
    """The payouts asked for, in order (none if the bank was never asked)."""
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text(encoding="utf-8").splitlines() if line]
