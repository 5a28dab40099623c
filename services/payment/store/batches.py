"""A batch of movements in one transaction: read what it touches once, write it in bulk.

The batch's reads (idempotency records, accounts with their sub-accounts, the blacklist)
take four round trips whatever the batch's size, one more each for trades, holds (and
the postings of holds already captured), settling merchants' withholding instructions and
the bound cards of withdrawals when the batch has any; its writes (balances, held money
and activity; holds, trades, withholding instructions, statement lines, postings,
idempotency records, risk decisions, outbox events) one bulk operation per collection. Each
balance update is filtered on the sequence the batch read (a hold or an instruction on its
state as read), so a document that moved under the batch fails the batch (it reruns), never
a movement.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from google.protobuf.message import Message
from pymongo import InsertOne, ReplaceOne, UpdateOne

from chassis.errors import Aborted
from chassis.mongo import Document, Session
from services.payment.batch_model import BatchDecision, BatchView, LedgerDocument, StatementLine
from services.payment.escrow import Trade
from services.payment.holds import Hold, HoldState
from services.payment.ledger import Account, Posting
from services.payment.payment_authorization import PaymentAuthorization
from services.payment.payment_code import PaymentCode
from services.payment.risk_top_up import TopUpDay
from services.payment.store.accounts import (
    AccountStore,
    shard_id,
    top_up_day_from_document,
    top_up_day_to_document,
)
from services.payment.store.mapping import (
    account_from_document,
    activity_to_document,
    hold_from_document,
    hold_to_document,
    payment_code_from_document,
    posting_from_document,
    posting_to_document,
    risk_decision_to_document,
    trade_from_document,
    trade_to_document,
)
from services.payment.store.withholdings import (
    withholding_from_document,
    withholding_to_document,
)
from services.payment.withholding import Withholding, WithholdingState


class BatchConflict(Aborted):
    """A document the batch read moved before its writes: the batch reruns."""


def _ledger_document(document: Document) -> LedgerDocument:
    return LedgerDocument(
        document_id=document["_id"],
        balance_fen=document["balance_fen"],
        held_fen=document.get("held_fen", 0),
        sequence=int(document.get("sequence", 0)),
        by_time="shard_of" in document or bool(document.get("statement_by_time", False)),
        shard_of=document.get("shard_of", ""),
        keeps_kyc_level="kyc_level" in document,
    )


def _line_document(line: StatementLine) -> Document:
    posting = line.posting
    return {
        "_id": f"{posting.posting_id}:{line.ledger_account_id}",
        "posting_id": posting.posting_id,
        "account_id": line.account_id,
        "ledger_account_id": line.ledger_account_id,
        "kind": posting.kind.value,
        "amount_fen": line.amount_fen,
        "balance_after_fen": line.balance_after_fen,
        "sequence": line.sequence,
        "statement_key": line.statement_key,
        "counterpart_account_id": line.counterpart_account_id,
        "counterpart_name": line.counterpart_name,
        "memo": posting.memo,
        "reference": line.reference,
        "posted_at": posting.posted_at,
    }


class BatchStore(AccountStore):
    """Reads and writes a batch of movements (services/payment/batch.py decides it)."""

    async def read_batch(
        self,
        session: Session,
        record_ids: Iterable[str],
        account_ids: Iterable[str],
        trade_ids: Iterable[str] = (),
        hold_ids: Iterable[str] = (),
        *,
        settlements: bool = False,
        code_digests: Iterable[str] = (),
        bound_cards: Iterable[tuple[str, str]] = (),
        authorization_digests: Iterable[str] = (),
    ) -> BatchView:
        """Everything the batch decides on, as its transaction sees it.

        Beside account_ids, it reads the parties of the trades and holds it reads, and with
        settlements the trades' merchants' active withholding instructions and the accounts
        they pay.
        """
        wanted = set(account_ids)
        trades: dict[str, Trade] = {}
        wanted_trades = sorted(set(trade_ids))
        if wanted_trades:
            cursor = self.trades.find({"_id": {"$in": wanted_trades}}, session=session)
            trades = {d["_id"]: trade_from_document(d) async for d in cursor}
            for trade in trades.values():
                wanted |= {trade.buyer_account_id, trade.merchant_account_id}
        holds, postings = await self._read_holds(session, hold_ids)
        wanted |= {hold.account_id for hold in holds.values() if hold.account_id}
        codes: dict[str, PaymentCode] = {}
        if digests := sorted(set(code_digests)):
            cursor = self.payment_codes.find({"_id": {"$in": digests}}, session=session)
            codes = {d["_id"]: payment_code_from_document(d) async for d in cursor}
            wanted |= {code.account_id for code in codes.values()}
        withholdings: dict[str, Withholding] = {}
        if settlements and trades:
            merchants = sorted({t.merchant_account_id for t in trades.values()})
            cursor = self.database["withholdings"].find(
                {"merchant_account_id": {"$in": merchants}, "state": WithholdingState.ACTIVE.value},
                session=session,
            )
            withholdings = {d["_id"]: withholding_from_document(d) async for d in cursor}
            wanted |= {w.account_id for w in withholdings.values()}
        ids = sorted(wanted)
        records: dict[str, tuple[str, bytes]] = {}
        if wanted_records := sorted(set(record_ids)):  # holds and trades keep none
            cursor = self.idempotency.find({"_id": {"$in": wanted_records}}, session=session)
            records = {d["_id"]: (d["fingerprint"], d["response"]) async for d in cursor}
        accounts: dict[str, Account] = {}
        top_up_days: dict[str, TopUpDay] = {}
        documents: dict[str, LedgerDocument] = {}
        hot: list[str] = []
        async for document in self.accounts.find({"_id": {"$in": ids}}, session=session):
            if "shard_of" in document:
                continue  # a sub-account's id is not an account
            accounts[document["_id"]] = account_from_document(document)
            top_up_days[document["_id"]] = top_up_day_from_document(document.get("top_up_day"))
            documents[document["_id"]] = _ledger_document(document)
            if document.get("hot_shards") or document.get("statement_by_time"):
                hot.append(document["_id"])
        shards_of: dict[str, list[str]] = {account_id: [] for account_id in hot}
        if hot:
            cursor = self.accounts.find({"shard_of": {"$in": hot}}, session=session)
            async for document in cursor:
                documents[document["_id"]] = _ledger_document(document)
                shards_of[document["shard_of"]].append(document["_id"])
        credit_shard = {
            account_id: shard_id(account_id, self._pick_shard(accounts[account_id]))
            for account_id in hot
            if accounts[account_id].is_hot
        }
        blacklisted = {
            document["_id"]
            async for document in self.blacklist.find(
                {"_id": {"$in": sorted({*ids, *(t.merchant_account_id for t in trades.values())})}},
                {"_id": 1},
                session=session,
            )
        }
        return BatchView(
            bound_cards=await self._read_bound_cards(session, bound_cards),
            authorizations=await self._read_authorizations(session, authorization_digests),
            accounts=accounts,
            documents=documents,
            shards_of={k: tuple(v) for k, v in shards_of.items()},
            credit_shard=credit_shard,
            blacklisted=blacklisted,
            records=records,
            top_up_days=top_up_days,
            trades=trades,
            holds=holds,
            postings=postings,
            withholdings=withholdings,
            payment_codes=codes,
        )

    async def _read_bound_cards(
        self, session: Session, wanted: Iterable[tuple[str, str]]
    ) -> frozenset[tuple[str, str]]:
        """Which of these (account id, card number) bindings exist (withdrawals)."""
        pairs = sorted(set(wanted))
        if not pairs:
            return frozenset()
        query = {"$or": [{"account_id": a, "card_number": c} for a, c in pairs]}
        cursor = self.database["bound_cards"].find(query, session=session)
        return frozenset({(d["account_id"], d["card_number"]) async for d in cursor})

    async def _read_authorizations(
        self, session: Session, digests: Iterable[str]
    ) -> dict[str, PaymentAuthorization]:
        """The payment authorizations offered, by digest: those not used yet."""
        wanted = sorted(set(digests))
        if not wanted:
            return {}
        query = {"_id": {"$in": wanted}, "used_at": None}
        cursor = self.payment_authorizations.find(query, session=session)
        return {
            d["_id"]: PaymentAuthorization(
                d["_id"], d["account_id"], d["amount_fen"], d["issued_at"], d["expires_at"]
            )
            async for d in cursor
        }

    async def _read_holds(
        self, session: Session, hold_ids: Iterable[str]
    ) -> tuple[dict[str, Hold], dict[str, Posting]]:
        """The holds by id, and the postings of those already captured (a repeated capture)."""
        wanted = sorted(set(hold_ids))
        if not wanted:
            return {}, {}
        cursor = self.holds.find({"_id": {"$in": wanted}}, session=session)
        holds = {d["_id"]: hold_from_document(d) async for d in cursor}
        captured = sorted(h.posting_id for h in holds.values() if h.state is HoldState.CAPTURED)
        postings: dict[str, Posting] = {}
        if captured:
            cursor = self.postings.find({"_id": {"$in": captured}}, session=session)
            postings = {d["_id"]: posting_from_document(d) async for d in cursor}
        return holds, postings

    async def write_batch(
        self,
        session: Session,
        decision: BatchDecision,
        *,
        responses: Mapping[str, tuple[str, Message]],
        events: Sequence[tuple[str, str, Message, datetime, Mapping[str, str]]],
        now: datetime,
    ) -> None:
        """Write the batch's decision; responses: record id -> (fingerprint, answer)."""
        updates: list[Any] = []
        for document_id, read_sequence in decision.read_sequences.items():
            after = decision.documents[document_id]
            change: Document = {
                "$inc": {
                    "balance_fen": after.balance_fen - decision.read_balances[document_id],
                    "sequence": after.sequence - read_sequence,
                }
            }
            if document_id in decision.read_helds:
                change["$inc"]["held_fen"] = after.held_fen - decision.read_helds[document_id]
            if document_id in decision.kyc_levels:
                change["$max"] = {"kyc_level": decision.kyc_levels[document_id]}
            if document_id in decision.activities:
                change["$set"] = {
                    "activity": activity_to_document(decision.activities[document_id])
                }
            if document_id in decision.top_up_days:
                change.setdefault("$set", {})["top_up_day"] = top_up_day_to_document(
                    decision.top_up_days[document_id]
                )
            if after.shard_of and read_sequence == 0:
                # A sub-account this batch may be the first to credit.
                change["$setOnInsert"] = {"shard_of": after.shard_of, "held_fen": 0}
                updates.append(UpdateOne({"_id": document_id}, change, upsert=True))
            else:
                updates.append(UpdateOne({"_id": document_id, "sequence": read_sequence}, change))
        for account_id, activity in decision.activities.items():
            if account_id not in decision.read_sequences:
                change = {"$set": {"activity": activity_to_document(activity)}}
                updates.append(UpdateOne({"_id": account_id}, change))
        for account_id, day in decision.top_up_days.items():
            if account_id not in decision.read_sequences:  # a hot account's credit: a shard's
                change = {"$set": {"top_up_day": top_up_day_to_document(day)}}
                updates.append(UpdateOne({"_id": account_id}, change))
        if updates:
            result = await self.accounts.bulk_write(updates, ordered=False, session=session)
            if result.matched_count + result.upserted_count != len(updates):
                raise BatchConflict("an account moved under the batch; rerun it")
        if decision.trades:
            trades = [
                ReplaceOne(
                    {
                        "_id": read.trade_id,
                        "updated_at": read.updated_at,
                        "state": read.state.value,
                    },
                    trade_to_document(after),
                )
                for read, after in decision.trades.values()
            ]
            result = await self.trades.bulk_write(trades, ordered=False, session=session)
            if result.matched_count != len(trades):
                raise BatchConflict("a trade changed under the batch; rerun it")
        await self._write_jobs(session, decision)
        await self._insert(self.entries, [_line_document(line) for line in decision.lines], session)
        await self._insert(
            self.postings,
            [posting_to_document(p, reference) for p, reference in decision.postings],
            session,
        )
        await self._insert(
            self.risk_decisions, [risk_decision_to_document(r) for r in decision.decisions], session
        )
        await self._insert(
            self.idempotency,
            [
                {
                    "_id": record_id,
                    "fingerprint": fingerprint,
                    "recorded_at": now,
                    "response": response.SerializeToString(),
                }
                for record_id, (fingerprint, response) in responses.items()
            ],
            session,
        )
        await self._insert(
            self.outbox,
            [
                {
                    "_id": uuid.uuid4().hex,
                    "type": event_type,
                    "aggregate_id": aggregate_id,
                    "occurred_at": occurred_at,
                    "payload_type": payload.DESCRIPTOR.full_name,
                    "payload": payload.SerializeToString(deterministic=True),
                    # The requesting span's context, as chassis.outbox.append_event keeps it.
                    **({"trace_context": dict(trace_context)} if trace_context else {}),
                }
                for event_type, aggregate_id, payload, occurred_at, trace_context in events
            ],
            session,
        )

    async def _write_jobs(self, session: Session, decision: BatchDecision) -> None:
        """The holds and withholding instructions the batch's jobs changed, as they read them."""
        holds: list[Any] = [
            InsertOne(hold_to_document(after))
            if read is None
            else ReplaceOne(
                {"_id": read.hold_id, "state": read.state.value}, hold_to_document(after)
            )
            for read, after in decision.holds.values()
        ]
        if holds:
            result = await self.holds.bulk_write(holds, ordered=False, session=session)
            if result.inserted_count + result.matched_count != len(holds):
                raise BatchConflict("a hold changed under the batch; rerun it")
        withholdings = [
            ReplaceOne(
                {
                    "_id": read.withholding_id,
                    "state": read.state.value,
                    "withheld_fen": read.withheld_fen,
                },
                withholding_to_document(after),
            )
            for read, after in decision.withholdings.values()
        ]
        if decision.authorizations_used:
            spent = [
                UpdateOne({"_id": digest, "used_at": None}, {"$set": {"used_at": when}})
                for digest, when in decision.authorizations_used.items()
            ]
            result = await self.payment_authorizations.bulk_write(
                spent, ordered=False, session=session
            )
            if result.matched_count != len(spent):
                raise BatchConflict("a payment authorization was used under the batch; rerun it")
        if decision.payment_codes:
            used = [
                UpdateOne({"_id": digest, "used_at": None}, {"$set": {"used_at": code.used_at}})
                for digest, code in decision.payment_codes.items()
            ]
            result = await self.payment_codes.bulk_write(used, ordered=False, session=session)
            if result.matched_count != len(used):
                raise BatchConflict("a payment code was used under the batch; rerun it")
        if withholdings:
            collection = self.database["withholdings"]
            result = await collection.bulk_write(withholdings, ordered=False, session=session)
            if result.matched_count != len(withholdings):
                raise BatchConflict("a withholding changed under the batch; rerun it")

    @staticmethod
    async def _insert(collection: Any, documents: list[Document], session: Session) -> None:
        if documents:
            await collection.insert_many(documents, session=session)
