"""Deciding a batch of movements in memory (group commit, issue "Ledger throughput").

Movements that share one transaction (transfers, bill payments, trade payments; top-ups'
and withdrawals' reserves are jobs: batch_top_ups.py, batch_withdrawals.py)
are decided here, in arrival order, against the accounts (and trades) as the batch's
transaction read them, each movement seeing the balances, holds, trades and payer activity
its predecessors left: the outcome is the one applying them one after another would give
(the same rules, in the same order as each RPC's one-transaction path: for a transfer
replay, payee, the posting's own checks, payer, risk control, the balance guard). A
refused movement changes nothing and fails alone. The result says what to write; the
store writes it (store/batches.py).

Pure: no I/O; every id and moment comes from the caller or from uuid.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from chassis.errors import (
    DomainError,
    IdempotencyKeyReused,
    NotFound,
    PermissionDenied,
)
from services.payment.batch_model import (
    PEOPLE_AND_MERCHANTS,
    Accepted,
    BatchDecision,
    BatchJob,
    BatchView,
    LedgerDocument,
    MovementAsk,
    Outcome,
    Refused,
    Replayed,
    ReplayOf,
    StatementLine,
    time_statement_key,
)
from services.payment.escrow import (
    ESCROW_ACCOUNT_ID,
    TradeAction,
    party_role,
    pay,
    require_role,
)
from services.payment.escrow_postings import trade_payment_posting
from services.payment.ledger import (
    Account,
    Posting,
    plan_draw_from_shards,
    plan_movement,
    require_active,
    require_can_debit,
    require_kind,
)
from services.payment.payment_authorization import invalid_authorization
from services.payment.risk import Rule
from services.payment.screening import (
    OutgoingPayment,
    RiskRefused,
    Screening,
    screen_outgoing,
)
from services.payment.statement import public_name


def _not_found(account_id: str) -> NotFound:
    return NotFound(f"account {account_id} does not exist", metadata={"account_id": account_id})


class _Batch:
    def __init__(
        self,
        view: BatchView,
        rules: Sequence[Rule],
        now: datetime,
    ) -> None:
        self.view = view
        self.rules = rules
        self.now = now
        self.accounts = dict(view.accounts)
        self.decision = BatchDecision(documents={k: replace(v) for k, v in view.documents.items()})
        self.recorded: dict[str, tuple[str, int]] = {}  # record id -> (fingerprint, index)
        self.shards = {k: list(v) for k, v in view.shards_of.items()}  # with ones made here
        self.trades = dict(view.trades)

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

    def decide(self, index: int, ask: MovementAsk | BatchJob) -> Outcome:
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
        if isinstance(ask, BatchJob):  # holds, platform transfers, trades (batch_*.py)
            return ask.decide(self, index)
        if ask.trade_id:
            return self.pay_trade(index, ask)
        payee: Account | None = None
        if ask.payee_may:
            payee = self.account(ask.to_account_id)
            require_kind(payee, PEOPLE_AND_MERCHANTS, ask.payee_may)
            posting = self.plan(ask)
        payer = self.with_balance(self.account(ask.from_account_id))
        require_kind(payer, PEOPLE_AND_MERCHANTS, ask.payer_may)
        screening = self.screen(payer, ask, ask.amount_fen)
        if payee is None:
            posting = self.plan(ask)
            moves = self.plan_debit(payer, ask.amount_fen)
            payee = self.account(ask.to_account_id)
        else:
            moves = self.plan_debit(payer, ask.amount_fen)
        moves += self.plan_credit(payee, ask.amount_fen)
        payer_after = self.apply(posting, ask.reference, moves, payer, payee)[payer.account_id]
        self.proceed(payer, screening)
        self.decision.postings.append((posting, ask.reference))
        self.recorded[ask.record_id] = (ask.fingerprint, index)
        return Accepted(posting, payer_after)

    def pay_trade(self, index: int, ask: MovementAsk) -> Outcome:
        """A trade payment, in PayTrade's order: the trade, its transition, the buyer, risk."""
        trade = self.trades.get(ask.trade_id)
        if trade is None:
            raise NotFound(
                f"trade {ask.trade_id} does not exist", metadata={"trade_id": ask.trade_id}
            )
        try:
            role = party_role(trade, ask.from_account_id)
        except PermissionDenied:
            # Someone else's trade: say it does not exist rather than confirm that it does.
            raise NotFound(f"trade {ask.trade_id} does not exist") from None
        require_role(trade, TradeAction.PAY, role)
        paid = pay(trade, self.now)  # ILLEGAL_TRANSITION unless the trade awaits payment
        buyer = self.with_balance(self.account(ask.from_account_id))
        screening = self.screen(
            buyer, replace(ask, to_account_id=trade.merchant_account_id), trade.amount_fen
        )
        posting = trade_payment_posting(paid, uuid.uuid4().hex, self.now)
        moves = self.plan_debit(buyer, trade.amount_fen)
        moves += self.plan_credit(self.account(ESCROW_ACCOUNT_ID), trade.amount_fen)
        escrow = self.account(ESCROW_ACCOUNT_ID)
        buyer_after = self.apply(posting, trade.trade_id, moves, buyer, escrow)
        self.proceed(buyer, screening)
        self.trades[trade.trade_id] = paid
        first_read = self.decision.trades.get(trade.trade_id, (trade, trade))[0]
        self.decision.trades[trade.trade_id] = (first_read, paid)
        self.decision.postings.append((posting, trade.trade_id))
        self.recorded[ask.record_id] = (ask.fingerprint, index)
        return Accepted(posting, buyer_after[buyer.account_id], paid)

    def screen(self, payer: Account, ask: MovementAsk, amount_fen: int) -> Screening:
        """Risk control of the payer's movement; a refusal's decision is kept, then raised."""
        payment = OutgoingPayment(ask.to_account_id, ask.payment_kind, amount_fen, ask.device_id)
        parties = {payer.account_id, ask.to_account_id}
        try:
            screening = screen_outgoing(
                self.rules,
                payer,
                payment,
                blacklisted={a for a in parties if a in self.view.blacklisted},
                second_factor=ask.second_factor,
                now=self.now,
            )
        except RiskRefused as refused:
            self.decision.decisions.append(refused.record)
            raise
        if screening.authorization_digest:
            self.require_authorization(payer, screening.authorization_digest, amount_fen)
        return screening

    def require_authorization(self, payer: Account, digest: str, amount_fen: int) -> None:
        """The authorization answering the challenge is usable for this payment (as the
        one-transaction path's guarded spend finds it): the payer's, unused (nor spent
        earlier in this batch), for at least the amount, unexpired. proceed() spends it."""
        authorization = self.view.authorizations.get(digest)
        if (
            authorization is None
            or digest in self.decision.authorizations_used
            or authorization.account_id != payer.account_id
            or authorization.amount_fen < amount_fen
            or authorization.expires_at <= self.now
        ):
            raise invalid_authorization()

    def proceed(self, payer: Account, screening: Screening) -> None:
        """Keep a movement's risk decision and the payer's activity after it."""
        self.decision.decisions.append(screening.record)
        if screening.authorization_digest:
            self.decision.authorizations_used[screening.authorization_digest] = self.now
        self.decision.activities[payer.account_id] = screening.activity
        self.accounts[payer.account_id] = replace(
            self.accounts[payer.account_id], activity=screening.activity
        )

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
        *parties: Account,
    ) -> dict[str, Account]:
        """Move the documents, write the statement lines; returns the parties after it."""
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
            party.account_id: party
            if party.is_hot
            else replace(
                party,
                balance_fen=documents[party.account_id].balance_fen,
                held_fen=documents[party.account_id].held_fen,  # holds of the batch's jobs
            )
            for party in parties
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


# The batch as a job (batch_holds.py, batch_trades.py) sees it.
Batch = _Batch


def decide_movements(
    asks: Sequence[MovementAsk | BatchJob],
    view: BatchView,
    rules: Sequence[Rule],
    now: datetime,
) -> BatchDecision:
    """Decide every movement of the batch in arrival order (see the module's docstring)."""
    batch = _Batch(view, rules, now)
    for index, ask in enumerate(asks):
        try:
            # Every refusal is raised before the movement changes anything in memory.
            outcome = batch.decide(index, ask)
        except DomainError as error:
            outcome = Refused(error)
        batch.decision.outcomes.append(outcome)
    return batch.decision
