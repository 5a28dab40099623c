"""The insurance feed's events as the credit bureau decodes them (issue 20).

Policies and claims are known types whose payload is checked against its contract; they
give no facts (their money reaches the bureau as payment postings already), so nothing is
counted twice and nothing is counted as unknown. A payload that breaks its contract is
skipped, never fatal.
"""

from __future__ import annotations

import pytest
from google.protobuf.message import Message

from colony.common.v1 import events_pb2
from colony.insurance.v1 import insurance_pb2 as ipb
from colony.payment.v1 import payment_pb2
from services.credit.feeds.decoders import DECODERS_BY_FEED, decode_event, decode_or_skip

POLICY_EVENTS = (
    "insurance.policy.issued",
    "insurance.policy.cancelled",
    "insurance.policy.expired",
)
CLAIM_EVENTS = (
    "insurance.claim.submitted",
    "insurance.claim.approved",
    "insurance.claim.rejected",
    "insurance.claim.paid",
)


def _event(event_type: str, payload: Message, position: int = 7) -> events_pb2.Event:
    event = events_pb2.Event(type=event_type, position=str(position))
    event.payload.Pack(payload)
    return event


def test_the_insurance_table_names_every_policy_and_claim_event() -> None:
    assert set(DECODERS_BY_FEED["insurance"]) == {*POLICY_EVENTS, *CLAIM_EVENTS}


@pytest.mark.parametrize("event_type", POLICY_EVENTS)
def test_a_policy_event_is_known_and_adds_no_facts(event_type: str) -> None:
    policy = ipb.Policy(policy_id="pol_1", holder_id="2088000000000001")
    decoded = decode_event("insurance", _event(event_type, policy))
    assert (decoded.position, decoded.event_type, decoded.facts) == (7, event_type, ())


@pytest.mark.parametrize("event_type", CLAIM_EVENTS)
def test_a_claim_event_is_known_and_adds_no_facts(event_type: str) -> None:
    claim = ipb.Claim(claim_id="clm_1", beneficiary_id="2088000000000001")
    assert decode_event("insurance", _event(event_type, claim)).facts == ()


def test_a_payload_breaking_its_contract_is_skipped_and_an_unknown_type_counted() -> None:
    wrong = _event("insurance.claim.paid", payment_pb2.Account(account_id="x"))
    with pytest.raises(ValueError, match="does not carry"):
        decode_event("insurance", wrong)
    assert decode_or_skip("insurance", wrong).facts is None
    unknown = _event("insurance.policy.renewed", ipb.Policy(policy_id="p"))
    assert decode_event("insurance", unknown).facts is None
