"""Postings and the statement: applying a posting's entries under the balance guard.

The ledger (ledger.py) decides what a posting is and whether a debit may happen; this
module writes it so that two concurrent postings can never both spend the same money:
each debit's guard sits in the update's filter, and a refused guard is explained by the
ledger's rule read from the account as the transaction sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from chassis.errors import NotFound
from chassis.mongo import Document, Session
from chassis.paging import decode_page_token, encode_page_token, invalid_page_token
from services.payment.batch_model import time_statement_key
from services.payment.holds import HoldState
from services.payment.ledger import (
    Account,
    AccountKind,
    AccountStatus,
    Posting,
    ledger_breaches,
    plan_draw_from_shards,
    require_active,
    require_can_debit,
)
from services.payment.statement import StatementEntry, has_lines_before, public_name
from services.payment.store.accounts import AccountStore, shard_id
from services.payment.store.mapping import (
    account_from_document,
    posting_from_document,
    posting_to_document,
    statement_entry_from_document,
)


@dataclass(frozen=True, slots=True)
class _Movement:
    """One ledger document's balance change within a posting.

    ``account`` is the account as the caller should see it afterwards; for a hot account
    it is the account as read before the movement (its total moves concurrently).
    """

    account: Account
    ledger_account_id: str
    amount_fen: int
    balance_after_fen: int | None
    sequence: int
    statement_key: int


# A statement key orders an account's lines newest first. For an ordinary account it is
# the account's entry sequence (exact commit order). A hot account's sub-accounts are
# credited concurrently, so once an account has been hot its lines are ordered by posting
# time (microseconds, with the moving document's sequence as a tie-breaker); such keys are
# far above any sequence, so older sequence-keyed lines still sort below them.
_time_statement_key = time_statement_key


def _movement(
    account: Account, document: Document, amount_fen: int, posted_at: datetime
) -> _Movement:
    """Describe the change of one document (the account's own, or a sub-account's)."""
    sequence = int(document["sequence"])
    by_time = "shard_of" in document or document.get("statement_by_time", False)
    return _Movement(
        account=account,
        ledger_account_id=document["_id"],
        amount_fen=amount_fen,
        balance_after_fen=None if by_time else document["balance_fen"],
        sequence=sequence,
        statement_key=_time_statement_key(posted_at, sequence) if by_time else sequence,
    )


def _statement_query(account_id: str) -> str:
    return f"statement:{account_id}"


def statement_page_token(account_id: str, last: StatementEntry) -> str:
    """The cursor after this line: its (statement key, entry id), bound to the account."""
    return encode_page_token(_statement_query(account_id), str(last.sequence), last.entry_id)


def _statement_position(account_id: str, page_token: str) -> tuple[int, str] | None:
    position = decode_page_token(page_token, _statement_query(account_id), parts=2)
    if position is None:
        return None
    statement_key, entry_id = position
    try:
        return int(statement_key), entry_id
    except ValueError:
        raise invalid_page_token() from None


class PostingStore(AccountStore):
    """The postings and entries collections, and the balances a posting moves."""

    async def ensure_posting_indexes(self) -> None:
        await self.entries.create_indexes(
            [
                IndexModel(
                    [("account_id", ASCENDING), ("statement_key", DESCENDING), ("_id", DESCENDING)]
                ),
                IndexModel(
                    [("ledger_account_id", ASCENDING), ("sequence", ASCENDING)], unique=True
                ),
            ]
        )

    async def apply_posting(
        self,
        session: Session,
        posting: Posting,
        reference: str = "",
        known: Mapping[str, Account] | None = None,
    ) -> dict[str, Account]:
        """Apply every entry's balance change and write the posting and its statement lines.

        Debits are guarded in the update itself (available >= amount), so two concurrent
        postings can never both spend the same money; the loser conflicts and retries, or
        is refused with INSUFFICIENT_FUNDS. ``known`` holds accounts the caller has read in
        this transaction, so a hot one goes straight to its sub-accounts. Returns each
        account as it is after the posting (for a hot account, as read before it).
        """
        moved: dict[str, list[_Movement]] = {}
        for entry in posting.entries:
            account = (known or {}).get(entry.account_id)
            if account is not None and account.is_hot:
                require_active(account)
                moved[entry.account_id] = await self._apply_hot_entry(
                    session, account, entry.amount_fen, posting.posted_at
                )
                continue
            moved[entry.account_id] = await self._apply_entry(
                session, entry.account_id, entry.amount_fen, posting.posted_at
            )
        after = {account_id: movements[-1].account for account_id, movements in moved.items()}
        for entry in posting.entries:
            for movement in moved[entry.account_id]:
                await self._insert_statement_line(
                    session,
                    posting,
                    reference=reference,
                    account_id=entry.account_id,
                    movement=movement,
                    after=after,
                )
        await self.postings.insert_one(posting_to_document(posting, reference), session=session)
        return after

    async def _insert_statement_line(
        self,
        session: Session,
        posting: Posting,
        *,
        reference: str,
        account_id: str,
        movement: _Movement,
        after: Mapping[str, Account],
    ) -> None:
        """One line of account_id's statement for one document's movement."""
        counterpart_id = posting.counterpart_of(account_id)
        counterpart = after.get(counterpart_id)
        await self.entries.insert_one(
            {
                "_id": f"{posting.posting_id}:{movement.ledger_account_id}",
                "posting_id": posting.posting_id,
                "account_id": account_id,
                "ledger_account_id": movement.ledger_account_id,
                "kind": posting.kind.value,
                "amount_fen": movement.amount_fen,
                "balance_after_fen": movement.balance_after_fen,
                "sequence": movement.sequence,
                "statement_key": movement.statement_key,
                "counterpart_account_id": counterpart_id,
                "counterpart_name": public_name(counterpart) if counterpart else "",
                "memo": posting.memo,
                "reference": reference,
                "posted_at": posting.posted_at,
            },
            session=session,
        )

    async def _apply_entry(
        self, session: Session, account_id: str, amount_fen: int, posted_at: datetime
    ) -> list[_Movement]:
        """Change one account's balance under its guard; returns the documents that moved."""
        guard: Document = {
            "_id": account_id,
            "status": AccountStatus.ACTIVE.value,
            "hot_shards": {"$in": [0, None]},
        }
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
        if document is not None:
            return [_movement(account_from_document(document), document, amount_fen, posted_at)]
        # The guard refused: the ledger says why, from the account as this transaction sees it.
        current = await self.get_account(account_id, session)
        require_active(current)
        if current.is_hot:
            return await self._apply_hot_entry(session, current, amount_fen, posted_at)
        require_can_debit(current, -amount_fen)
        raise AssertionError(f"guarded update of {account_id} refused without a reason")

    async def _apply_hot_entry(
        self, session: Session, account: Account, amount_fen: int, posted_at: datetime
    ) -> list[_Movement]:
        """Credit one random sub-account; debit from sub-accounts that can cover the amount.

        Spreading credits over sub-accounts is what keeps a flood of payments into one
        merchant or omnibus account from conflicting on a single document.
        """
        if amount_fen > 0 or account.may_go_negative:
            shard = shard_id(account.account_id, self._pick_shard(account))
            document = await self.accounts.find_one_and_update(
                {"_id": shard},
                {
                    "$inc": {"balance_fen": amount_fen, "sequence": 1},
                    "$setOnInsert": {"shard_of": account.account_id, "held_fen": 0},
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            assert document is not None
            return [_movement(account, document, amount_fen, posted_at)]
        return await self._draw_from_shards(session, account, -amount_fen, posted_at)

    async def _draw_from_shards(
        self, session: Session, account: Account, needed_fen: int, posted_at: datetime
    ) -> list[_Movement]:
        """Debit needed_fen from a hot account as the ledger plans it (bounded by N + 1)."""
        available_fen = await self._shard_balances_fen(account.account_id, session)
        main = await self.accounts.find_one({"_id": account.account_id}, session=session)
        assert main is not None
        available_fen[account.account_id] = main["balance_fen"] - main.get("held_fen", 0)
        movements: list[_Movement] = []
        for ledger_id, take_fen in plan_draw_from_shards(
            account.account_id, available_fen, needed_fen
        ):
            document = await self.accounts.find_one_and_update(
                {"_id": ledger_id, "balance_fen": {"$gte": take_fen}},
                {"$inc": {"balance_fen": -take_fen, "sequence": 1}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            assert document is not None, "snapshot read and guarded update disagree"
            movements.append(_movement(account, document, -take_fen, posted_at))
        return movements

    async def list_statement(
        self, account_id: str, page_size: int, page_token: str
    ) -> tuple[list[StatementEntry], str]:
        """Up to page_size lines of the account, newest first, and the next page's token.

        The cursor is the last line's (statement key, entry id): lines posted between two
        pages land above it and never shift the next page.
        """
        query: Document = {"account_id": account_id}
        position = _statement_position(account_id, page_token)
        if position is not None:
            statement_key, entry_id = position
            query["$or"] = [
                {"statement_key": {"$lt": statement_key}},
                {"statement_key": statement_key, "_id": {"$lt": entry_id}},
            ]
        cursor = (
            self.entries.find(query)
            .sort([("statement_key", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        entries = [statement_entry_from_document(document) async for document in cursor]
        more = len(entries) == page_size and has_lines_before(entries[-1])
        return entries, statement_page_token(account_id, entries[-1]) if more else ""

    async def get_posting(self, posting_id: str, session: Session | None = None) -> Posting:
        """A stored posting, or NOT_FOUND."""
        document = await self.postings.find_one({"_id": posting_id}, session=session)
        if document is None:
            raise NotFound(f"posting {posting_id} does not exist")
        return posting_from_document(document)

    async def audit_ledger(self) -> list[str]:
        """Check the ledger invariants over the whole database; returns every breach found."""
        balances_fen = {
            document["_id"]: document["balance_fen"]
            async for document in self.accounts.find({}, {"balance_fen": 1})
        }
        entry_sums_fen: dict[str, int] = {}
        pipeline: list[Document] = [
            {"$group": {"_id": "$ledger_account_id", "sum_fen": {"$sum": "$amount_fen"}}}
        ]
        async for row in await self.entries.aggregate(pipeline):
            entry_sums_fen[row["_id"]] = row["sum_fen"]
        breaches = ledger_breaches(balances_fen, entry_sums_fen)
        held_pipeline: list[Document] = [
            {"$match": {"state": HoldState.HELD.value}},
            {"$group": {"_id": "$account_id", "held_fen": {"$sum": "$amount_fen"}}},
        ]
        open_holds_fen = {
            row["_id"]: row["held_fen"] async for row in await self.holds.aggregate(held_pipeline)
        }
        async for document in self.accounts.find({}, {"held_fen": 1}):
            held_fen = document.get("held_fen", 0)
            if held_fen != open_holds_fen.get(document["_id"], 0):
                breaches.append(
                    f"account {document['_id']}: held {held_fen} fen, open holds sum to "
                    f"{open_holds_fen.get(document['_id'], 0)} fen"
                )
        return breaches
