"""Auto-debit (自动还款): whether the due date's amount is taken automatically, and from where.

On a due date the daily listing (ListDueAutoDebits) names every account with auto-debit on
and an amount due; the gateway's repayment saga takes it from the borrower's sources in their
order — the balance, then Yu'e Bao — falling through when one runs short.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from chassis.errors import InvalidArgument

SOURCES = ("balance", "yuebao")
DEFAULT_SOURCES = SOURCES


@dataclass(frozen=True, slots=True)
class AutoDebitSetting:
    borrower_id: str
    enabled: bool
    sources: tuple[str, ...]
    updated_at: datetime | None = None


def require_sources(sources: list[str]) -> tuple[str, ...]:
    """The payer's order of sources (default balance, Yu'e Bao); each known and named once."""
    if not sources:
        return DEFAULT_SOURCES
    if any(source not in SOURCES for source in sources) or len(set(sources)) != len(sources):
        raise InvalidArgument(
            f"sources must be distinct names among {', '.join(SOURCES)}",
            metadata={"field": "sources"},
        )
    return tuple(sources)


def auto_debit_repayment_id(account_id: str, business_date: date) -> str:
    """One repayment id per account and due date: a retried auto-debit cannot take twice."""
    return f"auto:{account_id}:{business_date.isoformat()}"
