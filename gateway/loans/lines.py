"""The Huabei line, synced from the credit advice (docs/loans.md "Where the lines come from").

The loan service makes no outbound call: the gateway asks the credit service for the
person's limit advice (GetCreditLimitAdvice, the person as owner of their own data) and
passes it to SyncHuabeiLine, on every read of the line and before every Huabei payment.
"""

from __future__ import annotations

import uuid

from chassis.errors import DomainError, ErrorKind
from colony.credit.v1 import credit_pb2 as cpb
from colony.loan.v1 import loan_pb2 as lpb
from gateway.clients import CreditClient, LoanClient


async def credit_advice(credit: CreditClient, person_id: str) -> cpb.CreditLimitAdvice:
    """The person's limit advice, asked as the person (the owner of their credit data)."""
    return await credit.get_credit_limit_advice(
        cpb.GetCreditLimitAdviceRequest(
            caller=cpb.Caller(kind=cpb.CALLER_KIND_OWNER, id=person_id), person_id=person_id
        )
    )


async def synced_line(credit: CreditClient, loan: LoanClient, person_id: str) -> lpb.HuabeiLine:
    """The person's Huabei line after syncing it with today's advice (opened if new).

    A line that already stands on this advice is read, not written again.
    """
    advice = await credit_advice(credit, person_id)
    try:
        line = (await loan.get_huabei_line(lpb.GetHuabeiLineRequest(borrower_id=person_id))).line
    except DomainError as error:
        if error.kind is not ErrorKind.NOT_FOUND:
            raise
    else:
        if _stands_on(line, advice):
            return line
    response = await loan.sync_huabei_line(
        lpb.SyncHuabeiLineRequest(
            idempotency_key=f"sync:{person_id}:{uuid.uuid4().hex}",
            borrower_id=person_id,
            advice=advice,
        )
    )
    return response.line


def _stands_on(line: lpb.HuabeiLine, advice: cpb.CreditLimitAdvice) -> bool:
    """True when syncing the line with advice would change nothing (a line held below its
    advice for want of lending capacity is synced again: capacity may allow it now)."""
    return (
        not line.limited_reason
        and line.advised_line.amount_fen == advice.huabei_line.amount_fen
        and line.advised_score == advice.score
        and line.advice_model_version == advice.model_version
        and line.frozen == (advice.refusal == "BLACKLISTED")
    )
