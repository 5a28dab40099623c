"""Deciding a batch of transfers in memory (group commit, issue "Ledger throughput").

Movements that share one transaction are decided here, in arrival order, against the
accounts as the batch's transaction read them, each movement seeing the balances, holds
and payer activity its predecessors left: the outcome is the one applying them one after
another would give (the same rules, in the same order: replay, payee, the posting's own
checks, payer, risk control, the balance guard). A refused movement changes nothing and
fails alone. The result says what to write; the store writes it (store/batches.py).

Pure: no I/O; every id and moment comes from the caller or from uuid.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from chassis.errors import DomainError, IdempotencyKeyReused, NotFound
from services.payment.activity import Activity
from services.payment.ledger import (
    Account,
    AccountKind,
    Posting,
    PostingKind,
    plan_draw_from_shards,
    plan_movement,
    require_active,
    require_can_debit,
    require_kind,
)
from services.payment.payment_authorization import SecondFactor
from services.payment.risk import PaymentKind, Rule
from services.payment.screening import (
    OutgoingPayment,
    RiskDecisionRecord,
    RiskRefused,
    screen_outgoing,
)
from services.payment.statement import public_name

PEOPLE_AND_MERCHANTS = (AccountKind.PERSONAL, AccountKind.MERCHANT)


def time_statement_key(moment: datetime, sequence: int) -> int:
    """A hot (or once-hot) account's statement key: posting time, then the document sequence."""
    return int(moment.timestamp() * 1_000_000) * 1_000 + sequence % 1_000


@dataclass(frozen=True, slots=True)
class MovementAsk:
    """One payer-to-payee movement as its request asked for it (the request's checks passed).

    A Transfer (the defaults) checks the payee first, as its RPC does; a bill payment
    (payee_may="") checks the payer and risk control first and meets the payee only when
    crediting it, as PayBill does.
    """

    record_id: str  # the idempotency record: "<scope>:<key>"
    fingerprint: str
    idempotency_key: str
    from_account_id: str
    to_account_id: str
    amount_fen: int
    memo: str
    device_id: str
    second_factor: SecondFactor
    posting_kind: PostingKind = PostingKind.TRANSFER
    payment_kind: PaymentKind = PaymentKind.TRANSFER
    reference: str = ""
    payer_may: str = "send transfers"
    payee_may: str = "receive transfers"
    # A top-up: the payer is the bank's clearing account, the memo is the bank's answer
    # (decide_movements' bank argument), and the payee's KYC level rises to this.
    bank_card_number: str = ""
    raise_kyc_to: int = 0

    @property
    def is_top_up(self) -> bool:
        return self.posting_kind is PostingKind.TOP_UP


@dataclass(slots=True)
class LedgerDocument:
    """One balance-carrying document (an account's own, or a hot account's sub-account)."""

    document_id: str
    balance_fen: int
    held_fen: int
    sequence: int
    by_time: bool  # statement keys by posting time (hot, or once hot)
    exists: bool = True  # False: a sub-account the batch creates
    shard_of: str = ""


@dataclass(frozen=True, slots=True)
class BatchView:
    """What the batch's transaction read: accounts, their documents, blacklist, records."""

    accounts: Mapping[str, Account]  # main accounts by id (balance_fen: the main document's)
    documents: Mapping[str, LedgerDocument]  # every document read, sub-accounts included
    shards_of: Mapping[str, tuple[str, ...]]  # a hot account's sub-account ids
    credit_shard: Mapping[str, str]  # the sub-account a hot account's credits go to
    blacklisted: Collection[str]
    records: Mapping[str, tuple[str, bytes]]  # idempotency record id -> (fingerprint, response)


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One line of one account's statement for one document's movement."""

    posting: Posting
    account_id: str
    ledger_account_id: str
    amount_fen: int
    balance_after_fen: int | None
    sequence: int
    statement_key: int
    counterpart_account_id: str
    counterpart_name: str
    reference: str = ""


@dataclass(frozen=True, slots=True)
class Accepted:
    posting: Posting
    account_after: Account  # the account the answer shows: the payer's, a top-up's payee


@dataclass(frozen=True, slots=True)
class Replayed:
    response: bytes  # the recorded answer


@dataclass(frozen=True, slots=True)
class ReplayOf:
    index: int  # an earlier movement of this batch with the same key, which succeeded


@dataclass(frozen=True, slots=True)
class Refused:
    error: DomainError


Outcome = Accepted | Replayed | ReplayOf | Refused


@dataclass
class BatchDecision:
    """Every movement's outcome, and what the batch writes."""

    outcomes: list[Outcome] = field(default_factory=list)
    documents: dict[str, LedgerDocument] = field(default_factory=dict)  # state after
    read_sequences: dict[str, int] = field(default_factory=dict)  # documents moved: as read
    read_balances: dict[str, int] = field(default_factory=dict)
    activities: dict[str, Activity] = field(default_factory=dict)
    kyc_levels: dict[str, int] = field(default_factory=dict)
    lines: list[StatementLine] = field(default_factory=list)
    postings: list[tuple[Posting, str]] = field(default_factory=list)  # with its reference
    decisions: list[RiskDecisionRecord] = field(default_factory=list)


def _not_found(account_id: str) -> NotFound:
    return NotFound(f"account {account_id} does not exist", metadata={"account_id": account_id})


class _Batch:
    def __init__(
        self,
        view: BatchView,
        rules: Sequence[Rule],
        now: datetime,
        bank: Mapping[str, str | DomainError],
    ) -> None:
        self.view = view
        self.bank = bank
        self.rules = rules
        self.now = now
        self.accounts = dict(view.accounts)
        self.decision = BatchDecision(documents={k: replace(v) for k, v in view.documents.items()})
        self.recorded: dict[str, tuple[str, int]] = {}  # record id -> (fingerprint, index)
        self.shards = {k: list(v) for k, v in view.shards_of.items()}  # with ones made here

    def account(self, account_id: str) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            raise _not_found(account_id)
        return account

    def with_balance(self, account: Account) -> Account:
        """The account with a hot one's sub-accounts added (as get_account reads it)."""
        shards = self.shards.get(account.account_id, ())
        documents = self.decision.documents
        total = documents[account.account_id].balance_fen + sum(
            documents[s].balance_fen for s in shards if s in documents
        )
        return replace(account, balance_fen=total)

    def decide(self, index: int, ask: MovementAsk) -> Outcome:
        recorded = self.view.records.get(ask.record_id)
        if recorded is not None:
            if recorded[0] != ask.fingerprint:
                raise IdempotencyKeyReused(ask.idempotency_key)
            return Replayed(recorded[1])
        earlier = self.recorded.get(ask.record_id)
        if earlier is not None:
            if earlier[0] != ask.fingerprint:
                raise IdempotencyKeyReused(ask.idempotency_key)
            return ReplayOf(earlier[1])
        if ask.is_top_up:
            return self.top_up(index, ask)
        payee: Account | None = None
        if ask.payee_may:
            payee = self.account(ask.to_account_id)
            require_kind(payee, PEOPLE_AND_MERCHANTS, ask.payee_may)
            posting = self.plan(ask)
        payer = self.with_balance(self.account(ask.from_account_id))
        require_kind(payer, PEOPLE_AND_MERCHANTS, ask.payer_may)
        payment = OutgoingPayment(
            ask.to_account_id, ask.payment_kind, ask.amount_fen, ask.device_id
        )
        parties = {payer.account_id, ask.to_account_id}
        blacklisted = {a for a in parties if a in self.view.blacklisted}
        try:
            screening = screen_outgoing(
                self.rules,
                payer,
                payment,
                blacklisted=blacklisted,
                second_factor=ask.second_factor,
                now=self.now,
            )
        except RiskRefused as refused:
            self.decision.decisions.append(refused.record)
            raise
        # A challenge answered by a payment authorization is not batched (rpc_batching.py).
        assert not screening.authorization_digest, "authorizations take the unbatched path"
        if payee is None:
            posting = self.plan(ask)
            moves = self.plan_debit(payer, ask.amount_fen)
            payee = self.account(ask.to_account_id)
        else:
            moves = self.plan_debit(payer, ask.amount_fen)
        moves += self.plan_credit(payee, ask.amount_fen)
        payer_after = self.apply(posting, ask.reference, moves, payer, payee)[payer.account_id]
        self.decision.decisions.append(screening.record)
        self.decision.activities[payer.account_id] = screening.activity
        self.accounts[payer.account_id] = replace(
            self.accounts[payer.account_id], activity=screening.activity
        )
        self.decision.postings.append((posting, ask.reference))
        self.recorded[ask.record_id] = (ask.fingerprint, index)
        return Accepted(posting, payer_after)

    def top_up(self, index: int, ask: MovementAsk) -> Outcome:
        """A top-up, in TopUp's order: the payee, the bank's answer, the posting."""
        payee = self.account(ask.to_account_id)
        require_kind(payee, PEOPLE_AND_MERCHANTS, ask.payee_may)
        answer = self.bank[ask.record_id]
        if isinstance(answer, DomainError):
            raise answer
        posting = self.plan(ask, memo=answer)
        clearing = self.account(ask.from_account_id)
        require_active(clearing)
        if clearing.is_hot:
            moves = [(clearing.account_id, self.view.credit_shard[clearing.account_id], 0)]
        else:
            main = self.decision.documents[clearing.account_id]
            require_can_debit(
                replace(clearing, balance_fen=main.balance_fen, held_fen=main.held_fen),
                ask.amount_fen,
            )
            moves = [(clearing.account_id, clearing.account_id, 0)]
        moves = [(a, d, -ask.amount_fen) for a, d, _ in moves]
        moves += self.plan_credit(payee, ask.amount_fen)
        if ask.raise_kyc_to > payee.kyc_level:
            payee = replace(payee, kyc_level=ask.raise_kyc_to)
            self.accounts[payee.account_id] = payee
            self.decision.kyc_levels[payee.account_id] = ask.raise_kyc_to
        payee_after = self.apply(posting, ask.reference, moves, clearing, payee)[payee.account_id]
        self.decision.postings.append((posting, ask.reference))
        self.recorded[ask.record_id] = (ask.fingerprint, index)
        return Accepted(posting, payee_after)

    def plan(self, ask: MovementAsk, memo: str | None = None) -> Posting:
        return plan_movement(
            posting_id=uuid.uuid4().hex,
            kind=ask.posting_kind,
            from_account_id=ask.from_account_id,
            to_account_id=ask.to_account_id,
            amount_fen=ask.amount_fen,
            posted_at=self.now,
            memo=ask.memo if memo is None else memo,
        )

    def plan_debit(self, payer: Account, amount_fen: int) -> list[tuple[str, str, int]]:
        """(account id, document id, fen) moves of the debit, under the balance guard."""
        documents = self.decision.documents
        if payer.is_hot:
            require_active(payer)
            available = {
                s: documents[s].balance_fen
                for s in self.shards.get(payer.account_id, ())
                if s in documents and documents[s].exists
            }
            main = documents[payer.account_id]
            available[payer.account_id] = main.balance_fen - main.held_fen
            draws = plan_draw_from_shards(payer.account_id, available, amount_fen)
            return [(payer.account_id, document_id, -take) for document_id, take in draws]
        main = documents[payer.account_id]
        current = replace(payer, balance_fen=main.balance_fen, held_fen=main.held_fen)
        require_can_debit(current, amount_fen)
        return [(payer.account_id, payer.account_id, -amount_fen)]

    def plan_credit(self, payee: Account, amount_fen: int) -> list[tuple[str, str, int]]:
        require_active(payee)
        if payee.is_hot:
            return [(payee.account_id, self.view.credit_shard[payee.account_id], amount_fen)]
        return [(payee.account_id, payee.account_id, amount_fen)]

    def apply(
        self,
        posting: Posting,
        reference: str,
        moves: list[tuple[str, str, int]],
        payer: Account,
        payee: Account,
    ) -> dict[str, Account]:
        """Move the documents, write the statement lines; returns the two accounts after it."""
        documents = self.decision.documents
        moved: list[tuple[str, LedgerDocument, int]] = []
        for account_id, document_id, fen in moves:
            document = documents.get(document_id)
            if document is None:  # a hot account's credit sub-account, created by this batch
                document = LedgerDocument(
                    document_id, 0, 0, 0, by_time=True, exists=False, shard_of=account_id
                )
                documents[document_id] = document
                self.shards.setdefault(account_id, []).append(document_id)
            self.decision.read_sequences.setdefault(document_id, document.sequence)
            self.decision.read_balances.setdefault(document_id, document.balance_fen)
            document.balance_fen += fen
            document.sequence += 1
            document.exists = True
            moved.append((account_id, replace(document), fen))
        # The accounts as the caller sees them afterwards: a hot one as read before.
        after = {
            payer.account_id: payer
            if payer.is_hot
            else replace(payer, balance_fen=documents[payer.account_id].balance_fen),
            payee.account_id: payee
            if payee.is_hot
            else replace(payee, balance_fen=documents[payee.account_id].balance_fen),
        }
        for account_id, document, fen in moved:
            counterpart_id = posting.counterpart_of(account_id)
            counterpart = after.get(counterpart_id)
            by_time = document.by_time
            self.decision.lines.append(
                StatementLine(
                    posting=posting,
                    account_id=account_id,
                    ledger_account_id=document.document_id,
                    amount_fen=fen,
                    balance_after_fen=None if by_time else document.balance_fen,
                    sequence=document.sequence,
                    statement_key=(
                        time_statement_key(posting.posted_at, document.sequence)
                        if by_time
                        else document.sequence
                    ),
                    counterpart_account_id=counterpart_id,
                    counterpart_name=public_name(counterpart) if counterpart else "",
                    reference=reference,
                )
            )
        return after


def decide_movements(
    asks: Sequence[MovementAsk],
    view: BatchView,
    rules: Sequence[Rule],
    now: datetime,
    bank: Mapping[str, str | DomainError] | None = None,
) -> BatchDecision:
    """Decide every movement of the batch in arrival order (see the module's docstring).

    bank: for each top-up (by record id), the bank's answer to charging the card: the
    posting's memo, or the refusal.
    """
    batch = _Batch(view, rules, now, bank or {})
    for index, ask in enumerate(asks):
        try:
            # Every refusal is raised before the movement changes anything in memory.
            outcome = batch.decide(index, ask)
        except DomainError as error:
            outcome = Refused(error)
        batch.decision.outcomes.append(outcome)
    return batch.decision
