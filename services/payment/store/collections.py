"""The payment database's collections, shared by the store's aggregate modules.

Collections in the service's own database:
  accounts     one document per account: posted balance, held funds, entry sequence; a hot
               account also has sub-account documents "<id>~<n>" (shard_of: <id>)
  identities   the unmasked resident id of each real-name account (never leaves the store)
  postings     one document per posting with its entries
  entries      one document per (posting, account): the statement, with running balances;
               account_id is the account the statement belongs to, ledger_account_id the
               document whose balance moved (the account itself, or one of its sub-accounts)
  holds        TCC reservations (holds.py)
  trades       escrow trades (escrow.py); job_runs: the daily trade job's completed dates
  payment_passwords, payment_authorizations, payment_codes   a payer's credentials
  blacklist, risk_rules, risk_decisions   risk control (risk.py, screening.py)
  feed_positions  how far risk control has followed the credit blacklist's feed
  idempotency  idempotency records (chassis.idempotency)
  outbox       domain events (chassis.outbox)
"""

from __future__ import annotations

from collections import Counter

from pymongo.asynchronous.database import AsyncDatabase

from chassis.mongo import Document


class PaymentCollections:
    """The collection handles every aggregate store of the payment service works on."""

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
        self.feed_positions = database["feed_positions"]
        self.idempotency = database["idempotency"]
        self.outbox = database["outbox"]
        # Per hot account: how many in-flight requests of this process lease each sub-account.
        self._shards_in_use: dict[str, Counter[int]] = {}
