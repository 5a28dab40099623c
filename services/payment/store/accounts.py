"""Accounts: opening, reading (a hot account with its sub-accounts), KYC, activity, hot mode."""

from __future__ import annotations

import contextlib
import secrets
from collections import Counter
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError, OperationFailure

from chassis.errors import AlreadyExists, NotFound
from chassis.mongo import Document, Session
from services.payment.activity import Activity
from services.payment.identity import resident_id_proven_elsewhere
from services.payment.ledger import Account, AccountKind, AccountStatus, require_can_go_hot
from services.payment.merchant_review import (
    Onboarding,
    ReviewState,
    onboarding_from_document,
    onboarding_to_document,
)
from services.payment.risk_model import KycLevel
from services.payment.risk_top_up import TopUpDay
from services.payment.store.collections import PaymentCollections
from services.payment.store.mapping import (
    account_from_document,
    activity_to_document,
    new_account_document,
)

# The sub-accounts the current request has leased, by account (see AccountStore._pick_shard).
_SHARD_LEASES: ContextVar[dict[str, int]] = ContextVar("shard_leases")


def shard_id(account_id: str, shard: int) -> str:
    """The document id of a hot account's sub-account."""
    return f"{account_id}~{shard}"


class AccountStore(PaymentCollections):
    """The accounts collection (and identities): one document per account or sub-account."""

    async def ensure_account_indexes(self) -> None:
        await self.accounts.create_indexes(
            [
                # One personal (or merchant) account per owner and per phone.
                IndexModel([("owner_key", ASCENDING)], unique=True, sparse=True),
                IndexModel([("phone_key", ASCENDING)], unique=True, sparse=True),
                IndexModel([("phone", ASCENDING)]),
                IndexModel([("shard_of", ASCENDING)], sparse=True),
                # Merchants awaiting (or past) onboarding review, oldest first.
                IndexModel(
                    [("onboarding.state", ASCENDING), ("opened_at", ASCENDING)], sparse=True
                ),
            ]
        )
        await self._ensure_identity_indexes()

    async def _ensure_identity_indexes(self) -> None:
        """A resident id is claimed once it is proven, not when it is declared.

        Before issue 21 item 5 the declared id itself was unique (index ``resident_id_1``):
        a registration learnt from ALREADY_REGISTERED that someone held it. Those claims stand
        (they were unique), so their documents are marked proven before the old index goes.
        """
        await self.identities.update_many(
            {"proven": {"$exists": False}},
            [{"$set": {"proven": True, "proven_resident_id": "$resident_id"}}],
        )
        await self.identities.create_index(
            "proven_resident_id", unique=True, sparse=True, name="proven_resident_id"
        )
        if "resident_id_1" in await self.identities.index_information():
            with contextlib.suppress(OperationFailure):  # another replica dropped it first
                await self.identities.drop_index("resident_id_1")
        await self.identities.create_index("resident_id", name="resident_id")

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
        require_can_go_hot(await self.get_account(account_id), hot_shards)
        update: Document = {"hot_shards": hot_shards}
        if hot_shards:
            update["statement_by_time"] = True
        await self.accounts.update_one({"_id": account_id}, {"$set": update})
        return await self.get_account(account_id)

    async def insert_account(
        self,
        session: Session,
        account: Account,
        resident_id: str | None,
        onboarding: Onboarding | None = None,
    ) -> None:
        """Open an account; a taken owner or phone is ALREADY_REGISTERED.

        A person's resident id is recorded as declared, whoever else declared it: it is
        claimed only once proven (claim_proven_resident_id), so opening an account tells
        nobody whether another account holds the id (issue 21 item 5).
        """
        document = new_account_document(account)
        if onboarding is not None:
            document["onboarding"] = onboarding_to_document(onboarding)
        try:
            await self.accounts.insert_one(document, session=session)
            if resident_id is not None:
                await self.identities.insert_one(
                    {"_id": account.account_id, "resident_id": resident_id, "proven": False},
                    session=session,
                )
        except DuplicateKeyError as duplicate:
            taken = _taken_key(duplicate)
            raise AlreadyExists(
                f"an account with this {taken} is already registered",
                reason="ALREADY_REGISTERED",
                metadata={"field": taken},
            ) from None

    async def get_onboarding(
        self, account_id: str, session: Session | None = None
    ) -> tuple[Document, Onboarding]:
        """A merchant's account document (id, name, opened) and onboarding, or NOT_FOUND."""
        document = await self.accounts.find_one(
            {"_id": account_id, "kind": AccountKind.MERCHANT.value, "shard_of": {"$exists": False}},
            {"display_name": 1, "opened_at": 1, "onboarding": 1},
            session=session,
        )
        if document is None:
            raise NotFound(
                f"there is no merchant account {account_id}", metadata={"account_id": account_id}
            )
        return document, onboarding_from_document(document.get("onboarding"))

    async def list_onboarding(self, state: ReviewState, limit: int) -> list[Document]:
        """Merchants in an onboarding state, oldest opened first."""
        cursor = self.accounts.find(
            {"onboarding.state": state.value},
            {"display_name": 1, "opened_at": 1, "onboarding": 1},
            sort=[("opened_at", ASCENDING), ("_id", ASCENDING)],
            limit=limit,
        )
        return [document async for document in cursor]

    async def record_onboarding(
        self, session: Session, account_id: str, decided: Onboarding, was: ReviewState
    ) -> bool:
        """Record a decision if the state is still `was` (False: someone decided first)."""
        result = await self.accounts.update_one(
            {"_id": account_id, "onboarding.state": was.value},
            {"$set": {"onboarding": onboarding_to_document(decided)}},
            session=session,
        )
        return result.modified_count == 1

    async def get_top_up_day(self, session: Session, account_id: str) -> TopUpDay:
        """The account's top-up figure of its last top-up day (risk_top_up.py)."""
        document = await self.accounts.find_one(
            {"_id": account_id}, {"top_up_day": 1}, session=session
        )
        return top_up_day_from_document(document.get("top_up_day") if document else None)

    async def record_top_up_day(self, session: Session, account_id: str, day: TopUpDay) -> None:
        await self.accounts.update_one(
            {"_id": account_id},
            {"$set": {"top_up_day": top_up_day_to_document(day)}},
            session=session,
        )

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
        account = account_from_document(document)
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

    async def get_resident_id(self, account_id: str) -> str | None:
        """The unmasked resident id of a real-name account (weak-password checks; the bank's
        check of a card being bound)."""
        identity = await self.identities.find_one({"_id": account_id})
        return None if identity is None else str(identity["resident_id"])

    async def record_outgoing_activity(
        self, session: Session, account_id: str, activity: Activity
    ) -> None:
        """Save the payer's activity after a payment (in the payment's transaction)."""
        await self.accounts.update_one(
            {"_id": account_id},
            {"$set": {"activity": activity_to_document(activity)}},
            session=session,
        )

    async def raise_kyc_level(self, session: Session, account_id: str, kyc_level: int) -> None:
        """Record a better-identified holder, in the caller's transaction.

        Level 3 means the bank confirmed a card in the account's real name (BindCard): the
        account's real-name identity is proven, so its resident id is claimed now
        (claim_proven_resident_id) and a refusal there leaves the transaction to abort.
        """
        if kyc_level >= KycLevel.BANK_CARD_VERIFIED:
            await self.claim_proven_resident_id(session, account_id)
        await self.accounts.update_one(
            {"_id": account_id, "kyc_level": {"$lt": kyc_level}},
            {"$set": {"kyc_level": kyc_level}},
            session=session,
        )

    async def claim_proven_resident_id(self, session: Session, account_id: str) -> None:
        """Claim the account's declared resident id, proven: one account per proven id.

        Nothing to claim for an account without one (a merchant) or already proven. If
        another account proved the same id first, refuse (CARD_HOLDER_NOT_CONFIRMED): the
        caller's transaction then aborts and changes nothing.
        """
        identity = await self.identities.find_one({"_id": account_id}, session=session)
        if identity is None or identity.get("proven_resident_id"):
            return
        try:
            await self.identities.update_one(
                {"_id": account_id},
                {"$set": {"proven": True, "proven_resident_id": identity["resident_id"]}},
                session=session,
            )
        except DuplicateKeyError:
            raise resident_id_proven_elsewhere() from None

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


def top_up_day_from_document(document: Mapping[str, Any] | None) -> TopUpDay:
    if not document:
        return TopUpDay()
    return TopUpDay(date.fromisoformat(document["business_date"]), int(document["amount_fen"]))


def top_up_day_to_document(day: TopUpDay) -> dict[str, Any]:
    return {
        "business_date": day.business_date.isoformat() if day.business_date else None,
        "amount_fen": day.amount_fen,
    }


def _taken_key(duplicate: DuplicateKeyError) -> str:
    details: Mapping[str, Any] = duplicate.details or {}
    pattern = details.get("keyPattern", {})
    if "phone_key" in pattern:
        return "phone"
    if "owner_key" in pattern:
        return "owner"
    return "identifier"
