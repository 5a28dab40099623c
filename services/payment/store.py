"""The payment service's collections: the only module that knows documents and queries.

Collections in the service's own database:
  accounts     one document per account: posted balance, held funds, entry sequence
  identities   the unmasked resident id of each real-name account (never leaves this store)
  postings     one document per posting with its entries
  entries      one document per (posting, account): the statement, with running balances
  idempotency  idempotency records (chassis.idempotency)
  outbox       domain events (chassis.outbox)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chassis.errors import AlreadyExists, InvalidArgument, NotFound
from chassis.mongo import Document, Session
from services.payment.identity import mask_name
from services.payment.ledger import (
    Account,
    AccountKind,
    AccountStatus,
    Posting,
    PostingKind,
    ledger_breaches,
    require_active,
    require_can_debit,
)

STATEMENT_PAGE_SIZE_DEFAULT = 20
STATEMENT_PAGE_SIZE_MAX = 100


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One line of an account's statement."""

    entry_id: str
    posting_id: str
    kind: PostingKind
    amount_fen: int
    balance_after_fen: int
    counterpart_account_id: str
    counterpart_name: str
    memo: str
    posted_at: datetime
    sequence: int


def _account_from_document(document: Document) -> Account:
    return Account(
        account_id=document["_id"],
        kind=AccountKind(document["kind"]),
        status=AccountStatus(document["status"]),
        display_name=document["display_name"],
        owner_ref=document.get("owner_ref", ""),
        phone=document.get("phone", ""),
        resident_id_masked=document.get("resident_id_masked", ""),
        balance_fen=document["balance_fen"],
        held_fen=document.get("held_fen", 0),
        opened_at=document.get("opened_at"),
    )


def _statement_entry_from_document(document: Document) -> StatementEntry:
    return StatementEntry(
        entry_id=document["_id"],
        posting_id=document["posting_id"],
        kind=PostingKind(document["kind"]),
        amount_fen=document["amount_fen"],
        balance_after_fen=document["balance_after_fen"],
        counterpart_account_id=document.get("counterpart_account_id", ""),
        counterpart_name=document.get("counterpart_name", ""),
        memo=document.get("memo", ""),
        posted_at=document["posted_at"],
        sequence=document["sequence"],
    )


def _public_name(account: Account) -> str:
    """How an account is named on someone else's statement: people masked, businesses not."""
    if account.kind is AccountKind.PERSONAL:
        return mask_name(account.display_name)
    return account.display_name


def encode_page_token(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{sequence}".encode()).decode()


def decode_page_token(token: str) -> int | None:
    """The sequence to continue below, or None for the first page; refuses a forged token."""
    if not token:
        return None
    try:
        prefix, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix != "seq":
            raise ValueError(token)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument("page_token is not valid", reason="INVALID_PAGE_TOKEN") from None


class PaymentStore:
    """Reads and writes the ledger's documents; every write takes the caller's session."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.database = database
        self.accounts = database["accounts"]
        self.identities = database["identities"]
        self.postings = database["postings"]
        self.entries = database["entries"]
        self.idempotency = database["idempotency"]
        self.outbox = database["outbox"]

    async def ensure_indexes(self) -> None:
        """Create the unique keys the ledger relies on (idempotent)."""
        await self.accounts.create_indexes(
            [
                # One personal (or merchant) account per owner and per phone.
                IndexModel([("owner_key", ASCENDING)], unique=True, sparse=True),
                IndexModel([("phone_key", ASCENDING)], unique=True, sparse=True),
                IndexModel([("phone", ASCENDING)]),
            ]
        )
        await self.identities.create_index("resident_id", unique=True)
        await self.entries.create_index(
            [("account_id", ASCENDING), ("sequence", DESCENDING)], unique=True
        )

    async def ensure_system_account(
        self, account_id: str, kind: AccountKind, display_name: str, opened_at: datetime
    ) -> None:
        """Create a platform or external account if it does not exist yet."""
        await self.accounts.update_one(
            {"_id": account_id},
            {
                "$setOnInsert": {
                    "kind": kind.value,
                    "status": AccountStatus.ACTIVE.value,
                    "display_name": display_name,
                    "balance_fen": 0,
                    "held_fen": 0,
                    "sequence": 0,
                    "opened_at": opened_at,
                }
            },
            upsert=True,
        )

    async def insert_account(
        self, session: Session, account: Account, resident_id: str | None
    ) -> None:
        """Open an account; a taken owner, phone or resident id is ALREADY_REGISTERED."""
        document: Document = {
            "_id": account.account_id,
            "kind": account.kind.value,
            "status": account.status.value,
            "display_name": account.display_name,
            "owner_ref": account.owner_ref,
            "owner_key": f"{account.kind.value}:{account.owner_ref}",
            "phone": account.phone,
            "phone_key": f"{account.kind.value}:{account.phone}",
            "resident_id_masked": account.resident_id_masked,
            "balance_fen": 0,
            "held_fen": 0,
            "sequence": 0,
            "opened_at": account.opened_at,
        }
        try:
            await self.accounts.insert_one(document, session=session)
            if resident_id is not None:
                await self.identities.insert_one(
                    {"_id": account.account_id, "resident_id": resident_id}, session=session
                )
        except DuplicateKeyError as duplicate:
            taken = _taken_key(duplicate)
            raise AlreadyExists(
                f"an account with this {taken} is already registered",
                reason="ALREADY_REGISTERED",
                metadata={"field": taken},
            ) from None

    async def get_account(self, account_id: str, session: Session | None = None) -> Account:
        """The account, or NOT_FOUND."""
        document = await self.accounts.find_one({"_id": account_id}, session=session)
        if document is None:
            raise NotFound(
                f"account {account_id} does not exist", metadata={"account_id": account_id}
            )
        return _account_from_document(document)

    async def find_account_by_phone(self, phone: str) -> Account:
        """The personal account on this phone, else its merchant account, else NOT_FOUND."""
        for kind in (AccountKind.PERSONAL, AccountKind.MERCHANT):
            document = await self.accounts.find_one({"phone_key": f"{kind.value}:{phone}"})
            if document is not None:
                return _account_from_document(document)
        raise NotFound("no account is registered to this phone")

    async def apply_posting(self, session: Session, posting: Posting) -> dict[str, Account]:
        """Apply every entry's balance change and write the posting and its statement lines.

        Debits are guarded in the update itself (available >= amount), so two concurrent
        postings can never both spend the same money; the loser conflicts and retries, or
        is refused with INSUFFICIENT_FUNDS. Returns each account as it is after the posting.
        """
        after: dict[str, Account] = {}
        sequences: dict[str, int] = {}
        for entry in posting.entries:
            after[entry.account_id], sequences[entry.account_id] = await self._apply_entry(
                session, entry.account_id, entry.amount_fen
            )
        for entry in posting.entries:
            account = after[entry.account_id]
            counterpart_id = posting.counterpart_of(entry.account_id)
            counterpart = after.get(counterpart_id)
            await self.entries.insert_one(
                {
                    "_id": f"{posting.posting_id}:{entry.account_id}",
                    "posting_id": posting.posting_id,
                    "account_id": entry.account_id,
                    "kind": posting.kind.value,
                    "amount_fen": entry.amount_fen,
                    "balance_after_fen": account.balance_fen,
                    "sequence": sequences[entry.account_id],
                    "counterpart_account_id": counterpart_id,
                    "counterpart_name": _public_name(counterpart) if counterpart else "",
                    "memo": posting.memo,
                    "posted_at": posting.posted_at,
                },
                session=session,
            )
        await self.postings.insert_one(
            {
                "_id": posting.posting_id,
                "kind": posting.kind.value,
                "entries": [
                    {"account_id": e.account_id, "amount_fen": e.amount_fen}
                    for e in posting.entries
                ],
                "memo": posting.memo,
                "metadata": dict(posting.metadata),
                "posted_at": posting.posted_at,
            },
            session=session,
        )
        return after

    async def _apply_entry(
        self, session: Session, account_id: str, amount_fen: int
    ) -> tuple[Account, int]:
        """Change one balance under its guard; returns the account after and its entry sequence."""
        guard: Document = {"_id": account_id, "status": AccountStatus.ACTIVE.value}
        if amount_fen < 0:
            guard["$or"] = [
                {"kind": AccountKind.EXTERNAL.value},
                {"$expr": {"$gte": [{"$subtract": ["$balance_fen", "$held_fen"]}, -amount_fen]}},
            ]
        document = await self.accounts.find_one_and_update(
            guard,
            {"$inc": {"balance_fen": amount_fen, "sequence": 1}},
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if document is None:
            # The guard refused: say why, from the account as this transaction sees it.
            current = await self.get_account(account_id, session)
            if amount_fen < 0:
                require_can_debit(current, -amount_fen)
            require_active(current)
            raise AssertionError(f"guarded update of {account_id} refused without a reason")
        account = _account_from_document(document)
        if account.balance_fen < 0 and not account.may_go_negative:
            raise AssertionError(f"account {account_id} would go negative")
        return account, int(document["sequence"])

    async def list_statement(
        self, account_id: str, page_size: int, before_sequence: int | None
    ) -> list[StatementEntry]:
        """Up to page_size entries of the account, newest first, below before_sequence."""
        query: Document = {"account_id": account_id}
        if before_sequence is not None:
            query["sequence"] = {"$lt": before_sequence}
        cursor = self.entries.find(query).sort("sequence", DESCENDING).limit(page_size)
        return [_statement_entry_from_document(document) async for document in cursor]

    async def audit_ledger(self) -> list[str]:
        """Check the ledger invariants over the whole database; returns every breach found."""
        balances_fen = {
            document["_id"]: document["balance_fen"]
            async for document in self.accounts.find({}, {"balance_fen": 1})
        }
        entry_sums_fen: dict[str, int] = {}
        pipeline = [{"$group": {"_id": "$account_id", "sum_fen": {"$sum": "$amount_fen"}}}]
        async for row in await self.entries.aggregate(pipeline):
            entry_sums_fen[row["_id"]] = row["sum_fen"]
        return ledger_breaches(balances_fen, entry_sums_fen)


def _taken_key(duplicate: DuplicateKeyError) -> str:
    details: Mapping[str, Any] = duplicate.details or {}
    pattern = details.get("keyPattern", {})
    if "resident_id" in pattern:
        return "resident id"
    if "phone_key" in pattern:
        return "phone"
    if "owner_key" in pattern:
        return "owner"
    return "identifier"
