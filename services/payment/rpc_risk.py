"""Risk control RPCs: the payment password, the rules (as data), the blacklist, the audit trail.

The real-time check itself runs inside each movement's transaction (PaymentRpcBase._screen).
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
from datetime import datetime, timedelta

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.grpc_server import Context
from chassis.mongo import Session, run_in_transaction
from chassis.wire import amount_from_proto, money_to_proto, timestamp_to_proto
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from services.payment.identity import validate_name
from services.payment.ledger import Account, AccountKind, require_kind
from services.payment.payment_password import (
    PasswordState,
    hash_payment_password,
    validate_payment_password,
)
from services.payment.risk import parse_rules, rules_to_data
from services.payment.rpc_base import PaymentRpcBase, authorization_digest, require_account_id
from services.payment.store import STATEMENT_PAGE_SIZE_DEFAULT, STATEMENT_PAGE_SIZE_MAX

RISK_RULES_JSON_LENGTH_MAX = 200_000
# A payment authorization answers for one movement started within this long.
AUTHORIZATION_TTL_SECONDS = 300
AUTHORIZATION_BYTES = 24


class RiskRpc(PaymentRpcBase):
    """Administration of risk control, and each payer's second factor."""

    async def SetPaymentPassword(
        self, request: pb.SetPaymentPasswordRequest, context: Context
    ) -> pb.SetPaymentPasswordResponse:
        account = await self._password_holder(request.account_id, "set a password")
        resident_id = await self._store.get_resident_id(account.account_id)
        new_password = validate_payment_password(
            request.new_password,
            personal_numbers=(account.phone, *([resident_id] if resident_id else [])),
        )
        if account.payment_password_set:
            if not request.current_password:
                raise FailedPrecondition(
                    "the current payment password is required to change it",
                    reason="PAYMENT_PASSWORD_WRONG",
                )
            await self._verify_payment_password(account.account_id, request.current_password)
        password_hash = await asyncio.get_running_loop().run_in_executor(
            None,
            functools.partial(hash_payment_password, new_password, hasher=self._password_hasher),
        )

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
        authorization = secrets.token_urlsafe(AUTHORIZATION_BYTES)
        issued_at = self._clock.now()
        expires_at = issued_at + timedelta(seconds=AUTHORIZATION_TTL_SECONDS)
        await self._store.insert_payment_authorization(
            authorization_digest(authorization),
            account.account_id,
            amount_fen,
            issued_at,
            expires_at,
        )
        return pb.AuthorizePaymentResponse(
            authorization=authorization, expires_at=timestamp_to_proto(expires_at)
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
        if len(request.rules_json) > RISK_RULES_JSON_LENGTH_MAX:
            raise InvalidArgument("rules_json is too long", reason="INVALID_RISK_RULE")
        try:
            raw = json.loads(request.rules_json)
        except json.JSONDecodeError:
            raise InvalidArgument("rules_json is not JSON", reason="INVALID_RISK_RULE") from None
        rules = parse_rules(raw)
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
        page_size = request.page.page_size or STATEMENT_PAGE_SIZE_DEFAULT
        if not 1 <= page_size <= STATEMENT_PAGE_SIZE_MAX:
            raise InvalidArgument(f"page_size must be between 1 and {STATEMENT_PAGE_SIZE_MAX}")
        before = _parse_time_token(request.page.page_token)
        documents = await self._store.list_risk_decisions(
            request.payer_account_id, page_size, before
        )
        token = _time_token(documents[-1]) if len(documents) == page_size else ""
        return pb.ListRiskDecisionsResponse(
            decisions=[
                pb.RiskDecisionRecord(
                    decision_id=d["_id"],
                    payer_account_id=d["payer_account_id"],
                    payee_account_id=d["payee_account_id"],
                    amount=money_to_proto(d["amount_fen"]),
                    action=d["action"],
                    rule_ids=d["rule_ids"],
                    reasons=d["reasons"],
                    proceeded=d["proceeded"],
                    decided_at=timestamp_to_proto(d["decided_at"]),
                    payment_kind=d["payment_kind"],
                )
                for d in documents
            ],
            page=paging_pb2.PageInfo(next_page_token=token),
        )


def _time_token(decision: dict[str, object]) -> str:
    decided_at = decision["decided_at"]
    assert isinstance(decided_at, datetime)
    return f"{decided_at.isoformat()}|{decision['_id']}"


def _parse_time_token(token: str) -> tuple[datetime, str] | None:
    """(decided_at, decision id) of the last decision of the previous page."""
    if not token:
        return None
    decided_at, separator, decision_id = token.partition("|")
    try:
        if not separator or not decision_id:
            raise ValueError(token)
        return datetime.fromisoformat(decided_at), decision_id
    except ValueError:
        raise InvalidArgument("page_token is not valid", reason="INVALID_PAGE_TOKEN") from None
