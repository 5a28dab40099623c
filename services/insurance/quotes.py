"""Quotes: a price valid 15 minutes, bound to the inputs it was priced from.

The binding is a sha256 of the inputs in a canonical form (sorted keys, risk signals sorted
and de-duplicated), so a buy that presents other inputs — another trade amount, another
score — is refused (QUOTE_INPUTS_MISMATCH), and a quote buys at most one policy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

from chassis.errors import FailedPrecondition
from services.insurance.pricing import Pricing, QuoteInputs

QUOTE_VALIDITY = timedelta(minutes=15)


def inputs_hash(inputs: QuoteInputs) -> str:
    """The canonical hash binding a quote to its inputs."""
    canonical = asdict(inputs)
    canonical["risk_signals"] = sorted(set(inputs.risk_signals))
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Quote:
    quote_id: str
    product_id: str
    holder_id: str
    inputs_hash: str
    pricing: Pricing
    quoted_at: datetime
    policy_id: str = ""

    @property
    def expires_at(self) -> datetime:
        return self.quoted_at + QUOTE_VALIDITY


def make_quote(quote_id: str, inputs: QuoteInputs, pricing: Pricing, now: datetime) -> Quote:
    return Quote(
        quote_id=quote_id,
        product_id=inputs.product_id,
        holder_id=inputs.holder_id,
        inputs_hash=inputs_hash(inputs),
        pricing=pricing,
        quoted_at=now,
    )


def consume_quote(quote: Quote, inputs: QuoteInputs, policy_id: str, now: datetime) -> Quote:
    """The quote used by policy_id: refused when expired, used, or for other inputs."""
    if quote.policy_id and quote.policy_id != policy_id:
        raise FailedPrecondition(
            f"quote {quote.quote_id} was used by another policy",
            reason="QUOTE_ALREADY_USED",
            metadata={"policy_id": quote.policy_id},
        )
    if inputs_hash(inputs) != quote.inputs_hash:
        raise FailedPrecondition(
            f"the inputs differ from those quote {quote.quote_id} was priced from",
            reason="QUOTE_INPUTS_MISMATCH",
        )
    # Valid for [quoted_at, quoted_at + 15 minutes): at 15:00 it is already expired.
    if now >= quote.expires_at:
        raise FailedPrecondition(
            f"quote {quote.quote_id} expired at {quote.expires_at.isoformat()}",
            reason="QUOTE_EXPIRED",
            metadata={"expires_at": quote.expires_at.isoformat()},
        )
    return replace(quote, policy_id=policy_id)
