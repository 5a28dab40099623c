"""Risk control RPCs: the payment password, the rules (as data), the blacklist, the audit trail.

The real-time check itself runs inside each movement's transaction (PaymentRpcBase._screen,
screening.py).
"""

from __future__ import annotations

import asyncio
import functools
import json

from chassis.errors import InvalidArgument
from chassis.grpc_server import Context
from chassis.mongo import Session, run_in_transaction
from chassis.wire import amount_from_proto, page_size_of, timestamp_to_proto
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from services.payment.identity import validate_name
from services.payment.ledger import Account, AccountKind, require_kind
from services.payment.payment_authorization import issue_payment_authorization
from services.payment.payment_password import (
    PasswordState,
    hash_payment_password,
    require_current_password_given,
    validate_payment_password,
)
from services.payment.risk import parse_rules, parse_rules_json, rules_to_data
from services.payment.rpc_base import PaymentRpcBase, require_account_id
from services.payment.wire import risk_decision_to_proto


class RiskRpc(PaymentRpcBase):
    """Administration of risk control, and each payer's second factor."""

    async def SetPaymentPassword(
        self, request: pb.SetPaymentPasswordRequest, context: Context
    ) -> pb.SetPaymentPasswordResponse:
        account = await self._password_holder(request.account_id, "set a password")
        resident_id = await self._store.get_resident_id(account.account_id)
        personal_numbers = (account.phone, *([resident_id] if resident_id else []))
        new_password = validate_payment_password(request.new_password, personal_numbers)
        require_current_password_given(account.payment_password_set, request.current_password)
        if account.payment_password_set:
            await self._verify_payment_password(account.account_id, request.current_password)
        hashing = functools.partial(
            hash_payment_password,
            new_password,
            hasher=self._password_hasher,
            pepper=self._password_pepper,
        )
        password_hash = await asyncio.get_running_loop().run_in_executor(None, hashing)

        async def save(session: Session) -> None:
            await self._store.save_password_record(
                session, account.account_id, password_hash, PasswordState()
            )

        await run_in_transaction(self._client, save)
        return pb.SetPaymentPasswordResponse()

    async def AuthorizePayment(
        self, request: pb.AuthorizePaymentRequest, context: Context
    ) -> pb.AuthorizePaymentResponse:
        account = await self._password_holder(request.account_id, "authorize a payment")
        amount_fen = amount_from_proto(request.amount)
        if not request.payment_password:
            raise InvalidArgument("payment_password is required", reason="INVALID_PAYMENT_PASSWORD")
        await self._verify_payment_password(account.account_id, request.payment_password)
        issued = issue_payment_authorization(account.account_id, amount_fen, self._clock.now())
        await self._store.insert_payment_authorization(issued.authorization, self._clock)
        return pb.AuthorizePaymentResponse(
            authorization=issued.bearer,
            expires_at=timestamp_to_proto(issued.authorization.expires_at),
        )

    async def _password_holder(self, account_id: str, operation: str) -> Account:
        """The account, if it is one that holds a payment password (a person's, a merchant's)."""
        account = await self._store.get_account(require_account_id(account_id), with_balance=False)
        require_kind(account, (AccountKind.PERSONAL, AccountKind.MERCHANT), operation)
        return account

    async def GetRiskRules(
        self, request: pb.GetRiskRulesRequest, context: Context
    ) -> pb.GetRiskRulesResponse:
        return pb.GetRiskRulesResponse(rules_json=json.dumps(rules_to_data(self._risk_rules)))

    async def SetRiskRules(
        self, request: pb.SetRiskRulesRequest, context: Context
    ) -> pb.SetRiskRulesResponse:
        rules = parse_rules_json(request.rules_json)
        await self._store.save_risk_rules(rules_to_data(rules), self._clock.now())
        self._risk_rules = rules
        return pb.SetRiskRulesResponse(rule_count=len(rules))

    async def refresh_risk_rules(self) -> int:
        """Reload the rules (another replica may have changed them); returns 1 if they changed."""
        stored = await self._store.load_risk_rules()
        if stored is None:
            return 0
        rules = parse_rules(stored)
        if rules == self._risk_rules:
            return 0
        self._risk_rules = rules
        return 1

    async def SetBlacklisted(
        self, request: pb.SetBlacklistedRequest, context: Context
    ) -> pb.SetBlacklistedResponse:
        account = await self._store.get_account(
            require_account_id(request.account_id), with_balance=False
        )
        reason = validate_name(request.reason, "reason") if request.blacklisted else ""
        await self._store.set_blacklisted(
            account.account_id, request.blacklisted, reason, self._clock.now()
        )
        return pb.SetBlacklistedResponse()

    async def ListRiskDecisions(
        self, request: pb.ListRiskDecisionsRequest, context: Context
    ) -> pb.ListRiskDecisionsResponse:
        records, next_token = await self._store.list_risk_decisions(
            request.payer_account_id, page_size_of(request.page), request.page.page_token
        )
        return pb.ListRiskDecisionsResponse(
            decisions=[risk_decision_to_proto(record) for record in records],
            page=paging_pb2.PageInfo(next_page_token=next_token),
        )
