"""The payment service's collections: the only module that knows documents and queries.

Collections in the service's own database:
  accounts     one document per account: posted balance, held funds, entry sequence; a hot
               account also has sub-account documents "<id>~<n>" (shard_of: <id>)
  identities   the unmasked resident id of each real-name account (never leaves this store)
  postings     one document per posting with its entries
  entries      one document per (posting, account): the statement, with running balances;
               account_id is the account the statement belongs to, ledger_account_id the
               document whose balance moved (the account itself, or one of its sub-accounts)
  holds        TCC reservations (holds.py)
  payment_authorizations  single-use stand-ins for the payment password (digests only)
  idempotency  idempotency records (chassis.idempotency)
  outbox       domain events (chassis.outbox)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import secrets
from collections import Counter
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chassis.errors import AlreadyExists, InsufficientFunds, InvalidArgument, NotFound
from chassis.mongo import Document, Session
from services.payment.activity import Activity
from services.payment.escrow import RefundDecider, SettledBy, Trade, TradeState
from services.payment.holds import Hold, HoldState
from services.payment.identity import mask_name
from services.payment.ledger import (
    Account,
    AccountKind,
    AccountStatus,
    Entry,
    Posting,
    PostingKind,
    ledger_breaches,
    require_active,
    require_can_debit,
)
from services.payment.payment_code import PaymentCode
from services.payment.payment_password import PasswordState

# The sub-accounts the current request has leased, by account (see PaymentStore._pick_shard).
_SHARD_LEASES: ContextVar[dict[str, int]] = ContextVar("shard_leases")

STATEMENT_PAGE_SIZE_DEFAULT = 20
STATEMENT_PAGE_SIZE_MAX = 100
AUTHORIZATION_RETENTION_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One line of an account's statement."""

    entry_id: str
    posting_id: str
    kind: PostingKind
    amount_fen: int
    balance_after_fen: int | None
    counterpart_account_id: str
    counterpart_name: str
    memo: str
    posted_at: datetime
    sequence: int
    reference: str = ""


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
        hot_shards=document.get("hot_shards", 0),
        kyc_level=document.get("kyc_level", 1),
        payment_password_set=document.get("payment_password_set", False),
        activity=_activity_from_document(document.get("activity")),
    )


def _activity_from_document(document: Document | None) -> Activity:
    if not document:
        return Activity()
    day = document.get("business_date")
    return Activity(
        window_started_at=document.get("window_started_at"),
        window_count=document.get("window_count", 0),
        window_amount_fen=document.get("window_amount_fen", 0),
        business_date=date.fromisoformat(day) if day else None,
        day_amount_fen=document.get("day_amount_fen", 0),
        payees=tuple(document.get("payees", ())),
        devices=tuple(document.get("devices", ())),
    )


def _activity_to_document(activity: Activity) -> Document:
    return {
        "window_started_at": activity.window_started_at,
        "window_count": activity.window_count,
        "window_amount_fen": activity.window_amount_fen,
        "business_date": activity.business_date.isoformat() if activity.business_date else None,
        "day_amount_fen": activity.day_amount_fen,
        "payees": list(activity.payees),
        "devices": list(activity.devices),
    }


def _trade_from_document(document: Document) -> Trade:
    return Trade(
        trade_id=document["_id"],
        merchant_account_id=document["merchant_account_id"],
        buyer_account_id=document["buyer_account_id"],
        amount_fen=document["amount_fen"],
        description=document["description"],
        state=TradeState(document["state"]),
        created_at=document["created_at"],
        updated_at=document["updated_at"],
        pay_by=document["pay_by"],
        paid_at=document.get("paid_at"),
        shipped_at=document.get("shipped_at"),
        auto_confirm_at=document.get("auto_confirm_at"),
        refund_fen=document.get("refund_fen", 0),
        refund_requests_count=document.get("refund_requests_count", 0),
        refund_requested_fen=document.get("refund_requested_fen", 0),
        refund_reason=document.get("refund_reason", ""),
        refund_requested_at=document.get("refund_requested_at"),
        state_before_refund=_optional(TradeState, document.get("state_before_refund")),
        refund_decided_by=_optional(RefundDecider, document.get("refund_decided_by")),
        settled_by=_optional(SettledBy, document.get("settled_by")),
        finished_at=document.get("finished_at"),
    )


def _optional(enum: Any, value: str | None) -> Any:
    return enum(value) if value else None


def _trade_to_document(trade: Trade) -> Document:
    return {
        "_id": trade.trade_id,
        "merchant_account_id": trade.merchant_account_id,
        "buyer_account_id": trade.buyer_account_id,
        "amount_fen": trade.amount_fen,
        "description": trade.description,
        "state": trade.state.value,
        "created_at": trade.created_at,
        "updated_at": trade.updated_at,
        "pay_by": trade.pay_by,
        "paid_at": trade.paid_at,
        "shipped_at": trade.shipped_at,
        "auto_confirm_at": trade.auto_confirm_at,
        "refund_fen": trade.refund_fen,
        "refund_requests_count": trade.refund_requests_count,
        "refund_requested_fen": trade.refund_requested_fen,
        "refund_reason": trade.refund_reason,
        "refund_requested_at": trade.refund_requested_at,
        "state_before_refund": trade.state_before_refund.value
        if trade.state_before_refund
        else None,
        "refund_decided_by": trade.refund_decided_by.value if trade.refund_decided_by else None,
        "settled_by": trade.settled_by.value if trade.settled_by else None,
        "finished_at": trade.finished_at,
        # What the trade holds in escrow now: the reconciliation figure of `make audit`.
        "escrow_held_fen": trade.escrow_held_fen,
    }


def _statement_entry_from_document(document: Document) -> StatementEntry:
    return StatementEntry(
        entry_id=document["_id"],
        posting_id=document["posting_id"],
        kind=PostingKind(document["kind"]),
        amount_fen=document["amount_fen"],
        balance_after_fen=document.get("balance_after_fen"),
        counterpart_account_id=document.get("counterpart_account_id", ""),
        counterpart_name=document.get("counterpart_name", ""),
        memo=document.get("memo", ""),
        posted_at=document["posted_at"],
        sequence=document["statement_key"],
        reference=document.get("reference", ""),
    )


def _public_name(account: Account) -> str:
    """How an account is named on someone else's statement: people masked, businesses not."""
    if account.kind is AccountKind.PERSONAL:
        return mask_name(account.display_name)
    return account.display_name


def encode_page_token(statement_key: int) -> str:
    return base64.urlsafe_b64encode(f"key:{statement_key}".encode()).decode()


def decode_page_token(token: str) -> int | None:
    """The statement key to continue below, or None for the first page; refuses a forged one."""
    if not token:
        return None
    try:
        prefix, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix != "key":
            raise ValueError(token)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument("page_token is not valid", reason="INVALID_PAGE_TOKEN") from None


def _hold_from_document(document: Document) -> Hold:
    return Hold(
        hold_id=document["_id"],
        account_id=document["account_id"],
        amount_fen=document["amount_fen"],
        state=HoldState(document["state"]),
        created_at=document["created_at"],
        expires_at=document["expires_at"],
        memo=document.get("memo", ""),
        captured_fen=document.get("captured_fen", 0),
        credit_account_id=document.get("credit_account_id", ""),
        posting_id=document.get("posting_id", ""),
        voided_before_created=document.get("voided_before_created", False),
        closed_at=document.get("closed_at"),
    )


def _hold_to_document(hold: Hold) -> Document:
    return {
        "_id": hold.hold_id,
        "account_id": hold.account_id,
        "amount_fen": hold.amount_fen,
        "state": hold.state.value,
        "created_at": hold.created_at,
        "expires_at": hold.expires_at,
        "memo": hold.memo,
        "captured_fen": hold.captured_fen,
        "credit_account_id": hold.credit_account_id,
        "posting_id": hold.posting_id,
        "voided_before_created": hold.voided_before_created,
        "closed_at": hold.closed_at,
    }


def shard_id(account_id: str, shard: int) -> str:
    """The document id of a hot account's sub-account."""
    return f"{account_id}~{shard}"


# A statement key orders an account's lines newest first. For an ordinary account it is
# the account's entry sequence (exact commit order). A hot account's sub-accounts are
# credited concurrently, so once an account has been hot its lines are ordered by posting
# time (microseconds, with the moving document's sequence as a tie-breaker); such keys are
# far above any sequence, so older sequence-keyed lines still sort below them.
def _time_statement_key(moment: datetime, sequence: int) -> int:
    return int(moment.timestamp() * 1_000_000) * 1_000 + sequence % 1_000


class PaymentStore:
    """Reads and writes the ledger's documents; every write takes the caller's session."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.database = database
        self.accounts = database["accounts"]
        self.identities = database["identities"]
        self.postings = database["postings"]
        self.entries = database["entries"]
        self.holds = database["holds"]
        self.trades = database["trades"]
        self.payment_passwords = database["payment_passwords"]
        self.payment_codes = database["payment_codes"]
        self.payment_authorizations = database["payment_authorizations"]
        self.blacklist = database["blacklist"]
        self.risk_rules = database["risk_rules"]
        self.risk_decisions = database["risk_decisions"]
        self.job_runs = database["job_runs"]
        self.idempotency = database["idempotency"]
        self.outbox = database["outbox"]
        # Per hot account: how many in-flight requests of this process lease each sub-account.
        self._shards_in_use: dict[str, Counter[int]] = {}

    async def ensure_indexes(self) -> None:
        """Create the unique keys the ledger relies on (idempotent)."""
        await self.accounts.create_indexes(
            [
                # One personal (or merchant) account per owner and per phone.
                IndexModel([("owner_key", ASCENDING)], unique=True, sparse=True),
                IndexModel([("phone_key", ASCENDING)], unique=True, sparse=True),
                IndexModel([("phone", ASCENDING)]),
                IndexModel([("shard_of", ASCENDING)], sparse=True),
            ]
        )
        await self.identities.create_index("resident_id", unique=True)
        await self.entries.create_indexes(
            [
                IndexModel([("account_id", ASCENDING), ("statement_key", DESCENDING)]),
                IndexModel(
                    [("ledger_account_id", ASCENDING), ("sequence", ASCENDING)], unique=True
                ),
            ]
        )
        await self.holds.create_index([("state", ASCENDING), ("expires_at", ASCENDING)])
        await self.trades.create_indexes(
            [
                IndexModel([("buyer_account_id", ASCENDING), ("created_at", DESCENDING)]),
                IndexModel([("merchant_account_id", ASCENDING), ("created_at", DESCENDING)]),
                IndexModel([("state", ASCENDING), ("auto_confirm_at", ASCENDING)]),
                IndexModel([("state", ASCENDING), ("pay_by", ASCENDING)]),
            ]
        )
        await self.risk_decisions.create_index(
            [("payer_account_id", ASCENDING), ("decided_at", DESCENDING)]
        )
        # Spent or lapsed authorizations are kept a day for the record, then dropped.
        await self.payment_authorizations.create_index(
            "expires_at", expireAfterSeconds=AUTHORIZATION_RETENTION_SECONDS
        )

    async def ensure_system_account(
        self,
        account_id: str,
        kind: AccountKind,
        display_name: str,
        opened_at: datetime,
        hot_shards: int = 0,
    ) -> Account:
        """Create a platform or external account if it does not exist yet; return it."""
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
                    "hot_shards": hot_shards,
                    "opened_at": opened_at,
                }
            },
            upsert=True,
        )
        return await self.get_account(account_id)

    async def set_hot_shards(self, account_id: str, hot_shards: int) -> Account:
        """Turn hot mode on (N sub-accounts for credits) or off for future credits."""
        account = await self.get_account(account_id)
        if hot_shards and account.held_fen:
            raise InvalidArgument("an account with open holds cannot be made hot")
        update: Document = {"hot_shards": hot_shards}
        if hot_shards:
            update["statement_by_time"] = True
        await self.accounts.update_one({"_id": account_id}, {"$set": update})
        return await self.get_account(account_id)

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
            "hot_shards": 0,
            "kyc_level": account.kyc_level,
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

    async def get_account(
        self, account_id: str, session: Session | None = None, *, with_balance: bool = True
    ) -> Account:
        """The account and its balance (a hot one's includes its sub-accounts), or NOT_FOUND.

        with_balance=False skips summing a hot account's sub-accounts, for callers that
        only check its kind and status; its balance_fen is then the main document's alone.
        """
        document = await self.accounts.find_one({"_id": account_id}, session=session)
        if document is None or "shard_of" in document:
            raise NotFound(
                f"account {account_id} does not exist", metadata={"account_id": account_id}
            )
        account = _account_from_document(document)
        if not with_balance or not (
            document.get("hot_shards") or document.get("statement_by_time")
        ):
            return account
        shards_fen = await self._shard_balances_fen(account_id, session)
        if shards_fen:
            account = replace(account, balance_fen=account.balance_fen + sum(shards_fen.values()))
        return account

    async def _shard_balances_fen(self, account_id: str, session: Session | None) -> dict[str, int]:
        cursor = self.accounts.find({"shard_of": account_id}, {"balance_fen": 1}, session=session)
        return {document["_id"]: document["balance_fen"] async for document in cursor}

    async def find_account_by_phone(self, phone: str) -> Account:
        """The personal account on this phone, else its merchant account, else NOT_FOUND."""
        for kind in (AccountKind.PERSONAL, AccountKind.MERCHANT):
            document = await self.accounts.find_one({"phone_key": f"{kind.value}:{phone}"})
            if document is not None:
                return await self.get_account(document["_id"])
        raise NotFound("no account is registered to this phone")

    @contextlib.contextmanager
    def shard_leases(self) -> Iterator[None]:
        """Scope (one request, around its transaction) for the sub-accounts it credits."""
        leases: dict[str, int] = {}
        token = _SHARD_LEASES.set(leases)
        try:
            yield
        finally:
            _SHARD_LEASES.reset(token)
            for account_id, shard in leases.items():
                in_use = self._shards_in_use[account_id]
                in_use[shard] -= 1
                if in_use[shard] == 0:
                    del in_use[shard]
                if not in_use:
                    del self._shards_in_use[account_id]

    def _pick_shard(self, account: Account) -> int:
        """A sub-account of a hot account that no other request of this process is using.

        Two transactions crediting the same sub-account conflict and one retries; handing
        each in-flight request its own sub-account avoids that within a process (across
        processes, random choice keeps collisions rare). The lease lasts until the
        request's scope ends, after its commit, and is reused if the transaction retries.
        """
        leases = _SHARD_LEASES.get(None)
        if leases is not None and account.account_id in leases:
            return leases[account.account_id]
        in_use = self._shards_in_use.setdefault(account.account_id, Counter())
        free = [s for s in range(account.hot_shards) if s not in in_use]
        shard = secrets.choice(free) if free else secrets.randbelow(account.hot_shards)
        if leases is not None:
            leases[account.account_id] = shard
            in_use[shard] += 1
        elif not in_use:
            del self._shards_in_use[account.account_id]
        return shard

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
            counterpart_id = posting.counterpart_of(entry.account_id)
            counterpart = after.get(counterpart_id)
            for movement in moved[entry.account_id]:
                await self.entries.insert_one(
                    {
                        "_id": f"{posting.posting_id}:{movement.ledger_account_id}",
                        "posting_id": posting.posting_id,
                        "account_id": entry.account_id,
                        "ledger_account_id": movement.ledger_account_id,
                        "kind": posting.kind.value,
                        "amount_fen": movement.amount_fen,
                        "balance_after_fen": movement.balance_after_fen,
                        "sequence": movement.sequence,
                        "statement_key": movement.statement_key,
                        "counterpart_account_id": counterpart_id,
                        "counterpart_name": _public_name(counterpart) if counterpart else "",
                        "memo": posting.memo,
                        "reference": reference,
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
                "reference": reference,
                "metadata": dict(posting.metadata),
                "posted_at": posting.posted_at,
            },
            session=session,
        )
        return after

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
            return [_movement(_account_from_document(document), document, amount_fen, posted_at)]
        # The guard refused: say why, from the account as this transaction sees it.
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
        """Debit needed_fen from a hot account, largest sub-accounts first (bounded by N + 1)."""
        balances_fen = await self._shard_balances_fen(account.account_id, session)
        main = await self.accounts.find_one({"_id": account.account_id}, session=session)
        assert main is not None
        balances_fen[account.account_id] = main["balance_fen"] - main.get("held_fen", 0)
        if sum(balances_fen.values()) < needed_fen:
            raise InsufficientFunds(account.account_id, needed_fen, sum(balances_fen.values()))
        movements: list[_Movement] = []
        remaining_fen = needed_fen
        for ledger_id, balance_fen in sorted(balances_fen.items(), key=lambda kv: -kv[1]):
            if remaining_fen == 0:
                break
            take_fen = min(balance_fen, remaining_fen)
            if take_fen <= 0:
                continue
            document = await self.accounts.find_one_and_update(
                {"_id": ledger_id, "balance_fen": {"$gte": take_fen}},
                {"$inc": {"balance_fen": -take_fen, "sequence": 1}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            assert document is not None, "snapshot read and guarded update disagree"
            movements.append(_movement(account, document, -take_fen, posted_at))
            remaining_fen -= take_fen
        assert remaining_fen == 0
        return movements

    async def list_statement(
        self, account_id: str, page_size: int, before_key: int | None
    ) -> list[StatementEntry]:
        """Up to page_size lines of the account, newest first, below before_key."""
        query: Document = {"account_id": account_id}
        if before_key is not None:
            query["statement_key"] = {"$lt": before_key}
        cursor = self.entries.find(query).sort("statement_key", DESCENDING).limit(page_size)
        return [_statement_entry_from_document(document) async for document in cursor]

    async def get_posting(self, posting_id: str, session: Session | None = None) -> Posting:
        """A stored posting, or NOT_FOUND."""
        document = await self.postings.find_one({"_id": posting_id}, session=session)
        if document is None:
            raise NotFound(f"posting {posting_id} does not exist")
        return Posting(
            posting_id=document["_id"],
            kind=PostingKind(document["kind"]),
            entries=tuple(Entry(e["account_id"], e["amount_fen"]) for e in document["entries"]),
            posted_at=document["posted_at"],
            memo=document.get("memo", ""),
            metadata=document.get("metadata", {}),
        )

    async def get_hold(self, hold_id: str, session: Session | None = None) -> Hold | None:
        document = await self.holds.find_one({"_id": hold_id}, session=session)
        return _hold_from_document(document) if document else None

    async def insert_hold(self, session: Session, hold: Hold) -> Account:
        """Record a hold and reserve its amount (guarded: available >= amount)."""
        if hold.is_open:
            document = await self.accounts.find_one_and_update(
                {
                    "_id": hold.account_id,
                    "status": AccountStatus.ACTIVE.value,
                    "hot_shards": {"$in": [0, None]},
                    "$expr": {
                        "$gte": [{"$subtract": ["$balance_fen", "$held_fen"]}, hold.amount_fen]
                    },
                },
                {"$inc": {"held_fen": hold.amount_fen}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if document is None:
                current = await self.get_account(hold.account_id, session)
                if current.is_hot:
                    raise InvalidArgument("holds cannot be placed on a hot account")
                require_can_debit(current, hold.amount_fen)
                if current.may_go_negative:
                    # A hold reserves money the account has, even on one that may go
                    # negative (an external party's): it pays beyond that by a movement.
                    raise InsufficientFunds(
                        current.account_id, hold.amount_fen, current.available_fen
                    )
                raise AssertionError(f"hold on {hold.account_id} refused without a reason")
        await self.holds.insert_one(_hold_to_document(hold), session=session)
        return await self.get_account(hold.account_id, session) if hold.account_id else _NO_ACCOUNT

    async def close_hold(self, session: Session, before: Hold, after: Hold) -> None:
        """Store a hold's new state; release its reservation if it was open and is no longer."""
        if before.is_open and not after.is_open:
            await self.accounts.update_one(
                {"_id": before.account_id},
                {"$inc": {"held_fen": -before.amount_fen}},
                session=session,
            )
        result = await self.holds.replace_one(
            {"_id": before.hold_id, "state": before.state.value},
            _hold_to_document(after),
            session=session,
        )
        assert result.matched_count == 1, f"hold {before.hold_id} changed under this transaction"

    async def holds_due_to_expire(self, now: datetime, limit: int) -> list[Hold]:
        """Open holds whose TTL has passed, oldest first, at most limit."""
        cursor = (
            self.holds.find({"state": HoldState.HELD.value, "expires_at": {"$lte": now}})
            .sort("expires_at", ASCENDING)
            .limit(limit)
        )
        return [_hold_from_document(document) async for document in cursor]

    async def record_outgoing_activity(
        self, session: Session, account_id: str, activity: Activity
    ) -> None:
        """Save the payer's activity after a payment (in the payment's transaction)."""
        await self.accounts.update_one(
            {"_id": account_id},
            {"$set": {"activity": _activity_to_document(activity)}},
            session=session,
        )

    async def raise_kyc_level(self, session: Session, account_id: str, kyc_level: int) -> None:
        """Record a better-identified payer (a bank card proven by a top-up)."""
        await self.accounts.update_one(
            {"_id": account_id, "kyc_level": {"$lt": kyc_level}},
            {"$set": {"kyc_level": kyc_level}},
            session=session,
        )

    async def blacklisted_among(self, account_ids: list[str], session: Session | None) -> set[str]:
        """Which of these accounts are on the blacklist."""
        cursor = self.blacklist.find({"_id": {"$in": account_ids}}, {"_id": 1}, session=session)
        return {document["_id"] async for document in cursor}

    async def set_blacklisted(
        self, account_id: str, blacklisted: bool, reason: str, now: datetime
    ) -> None:
        if blacklisted:
            await self.blacklist.update_one(
                {"_id": account_id},
                {"$set": {"reason": reason, "listed_at": now}},
                upsert=True,
            )
        else:
            await self.blacklist.delete_one({"_id": account_id})

    async def load_risk_rules(self) -> list[dict[str, Any]] | None:
        """The configured rule data, or None when the defaults apply."""
        document = await self.risk_rules.find_one({"_id": "current"})
        return None if document is None else list(document["rules"])

    async def save_risk_rules(self, rules: list[dict[str, Any]], now: datetime) -> None:
        await self.risk_rules.update_one(
            {"_id": "current"}, {"$set": {"rules": rules, "updated_at": now}}, upsert=True
        )

    async def insert_risk_decision(self, session: Session | None, decision: Document) -> None:
        await self.risk_decisions.insert_one(decision, session=session)

    async def list_risk_decisions(
        self, payer_account_id: str, page_size: int, before: tuple[datetime, str] | None
    ) -> list[Document]:
        """Decisions newest first; ``before`` is the (decided_at, id) of the last one seen."""
        query: Document = {"payer_account_id": payer_account_id} if payer_account_id else {}
        if before is not None:
            decided_at, decision_id = before
            query["$or"] = [
                {"decided_at": {"$lt": decided_at}},
                {"decided_at": decided_at, "_id": {"$lt": decision_id}},
            ]
        cursor = (
            self.risk_decisions.find(query)
            .sort([("decided_at", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        return [document async for document in cursor]

    async def get_resident_id(self, account_id: str) -> str | None:
        """The unmasked resident id of a real-name account (for weak-password checks only)."""
        identity = await self.identities.find_one({"_id": account_id})
        return None if identity is None else str(identity["resident_id"])

    async def get_password_record(
        self, account_id: str, session: Session | None = None
    ) -> Document | None:
        return await self.payment_passwords.find_one({"_id": account_id}, session=session)

    async def save_password_record(
        self, session: Session, account_id: str, password_hash: str, state: PasswordState
    ) -> None:
        await self.payment_passwords.update_one(
            {"_id": account_id},
            {
                "$set": {
                    "password_hash": password_hash,
                    "failed_attempts": state.failed_attempts,
                    "locked_until": state.locked_until,
                }
            },
            upsert=True,
            session=session,
        )
        await self.accounts.update_one(
            {"_id": account_id}, {"$set": {"payment_password_set": True}}, session=session
        )

    async def password_state_in(
        self, session: Session, account_id: str, state: PasswordState
    ) -> None:
        """Save the lockout state in the caller's transaction."""
        await self.payment_passwords.update_one(
            {"_id": account_id},
            {
                "$set": {
                    "failed_attempts": state.failed_attempts,
                    "locked_until": state.locked_until,
                }
            },
            session=session,
        )

    async def save_password_state(self, account_id: str, state: PasswordState) -> None:
        await self.payment_passwords.update_one(
            {"_id": account_id},
            {
                "$set": {
                    "failed_attempts": state.failed_attempts,
                    "locked_until": state.locked_until,
                }
            },
        )

    async def insert_payment_authorization(
        self,
        digest: str,
        account_id: str,
        amount_fen: int,
        issued_at: datetime,
        expires_at: datetime,
    ) -> None:
        await self.payment_authorizations.insert_one(
            {
                "_id": digest,
                "account_id": account_id,
                "amount_fen": amount_fen,
                "issued_at": issued_at,
                "expires_at": expires_at,
                "used_at": None,
            }
        )

    async def use_payment_authorization(
        self, session: Session, digest: str, account_id: str, amount_fen: int, now: datetime
    ) -> bool:
        """Spend the authorization in the movement's transaction; False if it is not usable."""
        result = await self.payment_authorizations.update_one(
            _usable_authorization(digest, account_id, amount_fen, now),
            {"$set": {"used_at": now}},
            session=session,
        )
        return result.modified_count == 1

    async def insert_payment_code(self, code: PaymentCode) -> None:
        await self.payment_codes.insert_one(
            {
                "_id": code.code_digest,
                "account_id": code.account_id,
                "issued_at": code.issued_at,
                "expires_at": code.expires_at,
                "used_at": None,
            }
        )

    async def get_payment_code(self, session: Session, digest: str) -> PaymentCode | None:
        document = await self.payment_codes.find_one({"_id": digest}, session=session)
        if document is None:
            return None
        return PaymentCode(
            code_digest=document["_id"],
            account_id=document["account_id"],
            issued_at=document["issued_at"],
            expires_at=document["expires_at"],
            used_at=document.get("used_at"),
        )

    async def mark_payment_code_used(self, session: Session, code: PaymentCode) -> None:
        result = await self.payment_codes.update_one(
            {"_id": code.code_digest, "used_at": None},
            {"$set": {"used_at": code.used_at}},
            session=session,
        )
        assert result.modified_count == 1, "a payment code is used once"

    async def get_trade(self, trade_id: str, session: Session | None = None) -> Trade:
        document = await self.trades.find_one({"_id": trade_id}, session=session)
        if document is None:
            raise NotFound(f"trade {trade_id} does not exist", metadata={"trade_id": trade_id})
        return _trade_from_document(document)

    async def insert_trade(self, session: Session, trade: Trade) -> None:
        await self.trades.insert_one(_trade_to_document(trade), session=session)

    async def save_trade(self, session: Session, before: Trade, after: Trade) -> None:
        """Store a trade's new state, if nobody changed it since `before` was read."""
        result = await self.trades.replace_one(
            {"_id": before.trade_id, "updated_at": before.updated_at, "state": before.state.value},
            _trade_to_document(after),
            session=session,
        )
        assert result.matched_count == 1, f"trade {before.trade_id} changed under this transaction"

    async def list_trades(
        self,
        account_id: str,
        state: TradeState | None,
        page_size: int,
        before: tuple[datetime, str] | None,
    ) -> list[Trade]:
        """Trades where the account is merchant or buyer, newest first."""
        query: Document = {
            "$or": [{"merchant_account_id": account_id}, {"buyer_account_id": account_id}]
        }
        if state is not None:
            query["state"] = state.value
        if before is not None:
            created_at, trade_id = before
            query = {
                "$and": [
                    query,
                    {
                        "$or": [
                            {"created_at": {"$lt": created_at}},
                            {"created_at": created_at, "_id": {"$lt": trade_id}},
                        ]
                    },
                ]
            }
        cursor = (
            self.trades.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        return [_trade_from_document(document) async for document in cursor]

    async def trades_due(
        self, field: str, state: TradeState, now: datetime, limit: int, skipping: set[str]
    ) -> list[Trade]:
        """Trades in a state whose deadline field has passed (for the daily job)."""
        query: Document = {"state": state.value, field: {"$lte": now}}
        if skipping:
            query["_id"] = {"$nin": sorted(skipping)}
        cursor = self.trades.find(query).sort(field, ASCENDING).limit(limit)
        return [_trade_from_document(document) async for document in cursor]

    async def in_escrow_fen(self, buyer_account_id: str) -> int:
        """What this buyer has paid into trades still held in escrow."""
        pipeline: list[Document] = [
            {"$match": {"buyer_account_id": buyer_account_id, "escrow_held_fen": {"$gt": 0}}},
            {"$group": {"_id": None, "fen": {"$sum": "$escrow_held_fen"}}},
        ]
        rows = [row async for row in await self.trades.aggregate(pipeline)]
        return int(rows[0]["fen"]) if rows else 0

    async def job_has_run(self, job: str, business_date: date) -> bool:
        """Whether a daily job completed its run for this business date."""
        return (
            await self.job_runs.find_one({"_id": f"{job}:{business_date.isoformat()}"}) is not None
        )

    async def record_job_run(
        self, job: str, business_date: date, outcome: Document, now: datetime
    ) -> None:
        """Mark a business date's run complete (a concurrent run's record stands)."""
        with contextlib.suppress(DuplicateKeyError):
            await self.job_runs.insert_one(
                {
                    "_id": f"{job}:{business_date.isoformat()}",
                    "finished_at": now,
                    "outcome": outcome,
                }
            )

    async def audit_escrow(self, escrow_account_id: str) -> list[str]:
        """Escrow balance = what the trades in escrow hold."""
        account = await self.get_account(escrow_account_id)
        pipeline: list[Document] = [{"$group": {"_id": None, "fen": {"$sum": "$escrow_held_fen"}}}]
        rows = [row async for row in await self.trades.aggregate(pipeline)]
        held_fen = int(rows[0]["fen"]) if rows else 0
        if account.balance_fen != held_fen:
            return [
                f"escrow balance {account.balance_fen} fen, trades in escrow hold {held_fen} fen"
            ]
        return []

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


_NO_ACCOUNT = Account("", AccountKind.PLATFORM, AccountStatus.CLOSED, "")


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


def _usable_authorization(digest: str, account_id: str, amount_fen: int, now: datetime) -> Document:
    return {
        "_id": digest,
        "account_id": account_id,
        "amount_fen": {"$gte": amount_fen},
        "expires_at": {"$gt": now},
        "used_at": None,
    }
