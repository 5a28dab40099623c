"""The credit service over gRPC, following a real payment service's feed (real mongod)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from chassis.wire import timestamp_to_proto
from colony.credit.v1 import credit_pb2 as cpb
from services.credit.blacklist import resident_id_hash
from services.credit.features import AccountOpened, OverdueEntered90, OverdueSettled
from services.credit.feeds.decoders import DecodedEvent
from services.credit.tests.support import (
    LOAN_SERVICE,
    OPERATOR,
    cny,
    error_reason,
    eventually,
    merchant,
    new_key,
    open_person,
    owner,
    top_up,
    transfer,
)

SHOP = "2188000000000777"
CASE = "(2025)京02执1号"


async def score(credit, person_id: str, caller=None) -> cpb.Score:
    response = await credit.GetScore(
        cpb.GetScoreRequest(caller=caller or owner(person_id), person_id=person_id)
    )
    return response.score


async def person_doc(credit_store, person_id: str):
    return await credit_store.persons.load(person_id)


async def test_real_payment_events_are_applied_exactly_once(credit, payment, credit_store) -> None:
    alice = await open_person(payment)
    bob = await open_person(payment)
    await top_up(payment, alice.account_id, 500_000)
    await transfer(payment, alice.account_id, bob.account_id, 40_000)  # under the new-payee check
    await transfer(payment, alice.account_id, bob.account_id, 30_000)

    features = await eventually(
        lambda: person_doc(credit_store, alice.account_id),
        lambda f: f is not None and f.payments_total == 2,
    )
    assert features.balance_fen == 500_000 - 70_000
    assert features.kyc_level == 3  # the top-up verified the card
    assert features.counterparts == (bob.account_id,)
    assert features.months[-1].spent_fen == 70_000
    bob_features = await person_doc(credit_store, bob.account_id)
    assert bob_features.balance_fen == 70_000
    assert bob_features.counterparts == (alice.account_id,)

    status = await eventually(
        lambda: credit.GetFeedStatus(cpb.GetFeedStatusRequest()),
        lambda s: s.feeds[0].connected and s.feeds[0].lag_measured_at.seconds > 0,
    )
    (payment_feed,) = status.feeds
    assert payment_feed.feed == "payment"
    assert int(payment_feed.position) >= 5
    assert payment_feed.events_skipped_unknown == 0

    scored = await score(credit, alice.account_id)
    assert scored.model_version == "sesame-2025.1"
    assert scored.trigger == "payment.posting.recorded"
    assert len(scored.actions) == 2  # the owner sees advice
    history = await credit.GetScoreHistory(
        cpb.GetScoreHistoryRequest(caller=owner(alice.account_id), person_id=alice.account_id)
    )
    assert history.scores[0].score == scored.score
    assert not history.scores[0].actions


async def test_a_batch_delivered_twice_changes_nothing_the_second_time(bureau) -> None:
    opened = AccountOpened("2088990000000001", 2, datetime(2025, 1, 1, tzinfo=UTC))
    events = [DecodedEvent(1, "loan.x", opened.opened_at, (opened,))]
    first = await bureau.apply_feed_batch("loan", events)
    again = await bureau.apply_feed_batch("loan", events)
    assert (first.applied, again.applied) == (1, 0)
    unknown = await bureau.apply_feed_batch(
        "loan", [DecodedEvent(2, "loan.brand_new", opened.opened_at, None)]
    )
    assert (unknown.applied, unknown.skipped_unknown) == (0, 1)
    positions = await bureau.feed_positions(["loan"])
    assert (positions[0].position, positions[0].events_skipped_unknown) == (2, 1)


async def test_a_merchant_needs_a_live_grant_and_a_revoked_one_stops_at_once(
    credit, payment
) -> None:
    alice = await open_person(payment)
    person = alice.account_id
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await credit.GetScore(
            cpb.GetScoreRequest(
                caller=merchant(SHOP), person_id=person, purpose=cpb.CONSENT_PURPOSE_SCORE
            )
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(refused.value) == "CONSENT_REQUIRED"

    expires = datetime.now(UTC) + timedelta(days=30)
    granted = await credit.GrantConsent(
        cpb.GrantConsentRequest(
            idempotency_key=new_key(),
            caller=owner(person),
            person_id=person,
            merchant_id=SHOP,
            purpose=cpb.CONSENT_PURPOSE_SCORE,
            expires_at=timestamp_to_proto(expires),
        )
    )
    assert granted.grant.live
    seen = (
        await credit.GetScore(
            cpb.GetScoreRequest(
                caller=merchant(SHOP), person_id=person, purpose=cpb.CONSENT_PURPOSE_SCORE
            )
        )
    ).score
    assert seen.score >= 350
    assert not seen.raised_by and not seen.actions  # a merchant sees score and band only

    # A grant for the score is not a grant for a deposit waiver.
    with pytest.raises(grpc.aio.AioRpcError) as other_purpose:
        await credit.CheckDepositWaiver(
            cpb.CheckDepositWaiverRequest(
                caller=merchant(SHOP), person_id=person, merchant_id=SHOP, deposit=cny(50_000)
            )
        )
    assert error_reason(other_purpose.value) == "CONSENT_REQUIRED"

    await credit.RevokeConsent(
        cpb.RevokeConsentRequest(
            idempotency_key=new_key(),
            caller=owner(person),
            person_id=person,
            grant_id=granted.grant.grant_id,
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as revoked:
        await credit.GetScore(
            cpb.GetScoreRequest(
                caller=merchant(SHOP), person_id=person, purpose=cpb.CONSENT_PURPOSE_SCORE
            )
        )
    assert error_reason(revoked.value) == "CONSENT_REQUIRED"

    log = await credit.ListScoreAccess(
        cpb.ListScoreAccessRequest(caller=owner(person), person_id=person)
    )
    assert [(a.merchant_id, a.method) for a in log.accesses] == [(SHOP, "GetScore")]
    consents = await credit.ListConsents(
        cpb.ListConsentsRequest(caller=owner(person), person_id=person)
    )
    assert [g.live for g in consents.grants] == [False]


async def test_nobody_else_reads_a_score_or_its_history(credit, payment) -> None:
    alice = await open_person(payment)
    bob = await open_person(payment)
    for call in (
        credit.GetScore(
            cpb.GetScoreRequest(caller=owner(bob.account_id), person_id=alice.account_id)
        ),
        credit.GetScoreHistory(
            cpb.GetScoreHistoryRequest(caller=owner(bob.account_id), person_id=alice.account_id)
        ),
        credit.ListScoreAccess(
            cpb.ListScoreAccessRequest(caller=LOAN_SERVICE, person_id=alice.account_id)
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert error_reason(refused.value) == "CALLER_NOT_ALLOWED"
    advice = await credit.GetCreditLimitAdvice(
        cpb.GetCreditLimitAdviceRequest(caller=LOAN_SERVICE, person_id=alice.account_id)
    )
    assert advice.advice.person_id == alice.account_id


async def test_a_declaration_raises_the_score_and_is_idempotent(credit, payment) -> None:
    alice = await open_person(payment)
    person = alice.account_id
    before = await score(credit, person)
    request = cpb.DeclareDataRequest(
        idempotency_key=new_key(),
        caller=owner(person),
        person_id=person,
        declaration=cpb.Declaration(
            monthly_income=cny(3_000_000), education=cpb.EDUCATION_BACHELOR, employer="Colony"
        ),
    )
    first = await credit.DeclareData(request)
    again = await credit.DeclareData(request)
    assert first == again
    assert first.score.score > before.score
    assert "DECLARED_INCOME" in [r.code for r in first.score.raised_by]


async def test_blacklist_import_match_and_removal(credit, bureau) -> None:
    person = "2088990000000042"
    digest = resident_id_hash("11010119900307123X")
    opened = AccountOpened(person, 3, datetime(2024, 1, 1, tzinfo=UTC), digest)
    await bureau.apply_feed_batch(
        "payment-test", [DecodedEvent(1, "t", opened.opened_at, (opened,))]
    )
    imported = await credit.ImportBlacklist(
        cpb.ImportBlacklistRequest(
            idempotency_key=new_key(),
            caller=OPERATOR,
            source="court:beijing-2",
            listings=[
                cpb.BlacklistListing(resident_id_hash=digest, case_reference="(2025)京02执1号")
            ],
        )
    )
    assert (imported.entered, list(imported.matched_person_ids)) == (1, [person])
    listed = await score(credit, person)
    assert listed.blacklisted and listed.score <= 450
    assert listed.lowered_by[0].code == "BLACKLISTED"

    waiver = await credit.CheckDepositWaiver(
        cpb.CheckDepositWaiverRequest(
            caller=owner(person), person_id=person, merchant_id=SHOP, deposit=cny(10_000)
        )
    )
    assert (waiver.waived, waiver.refusal) == (False, "BLACKLISTED")

    removed = await credit.RemoveBlacklistEntries(
        cpb.RemoveBlacklistEntriesRequest(
            idempotency_key=new_key(),
            caller=OPERATOR,
            source="court:beijing-2",
            case_references=[CASE, "unknown"],
            reason=cpb.REMOVAL_REASON_SETTLED,
            note="paid in full",
        )
    )
    assert (removed.removed, list(removed.not_listed)) == (1, ["unknown"])
    assert not (await score(credit, person)).blacklisted
    status = await credit.GetBlacklistStatus(
        cpb.GetBlacklistStatusRequest(caller=owner(person), person_id=person)
    )
    assert not status.blacklisted
    assert [(c.change, c.reason) for c in status.changes] == [
        ("entered", "court_list"),
        ("removed", "settled"),
    ]
    # Both changes reach the credit feed (once sequenced) for payment risk control.

    async def feed_types() -> list[str]:
        feed = credit.StreamEvents(cpb.StreamEventsRequest(batch_size=500))
        return [e.type async for batch in feed for e in batch.events]

    types = await eventually(feed_types, lambda t: "credit.blacklist.removed" in t)
    assert "credit.blacklist.entered" in types


async def test_a_loan_90_days_overdue_blacklists_its_borrower_until_settled(credit, bureau) -> None:
    person = "2088990000000043"
    at = datetime(2025, 3, 1, tzinfo=UTC)
    opened = AccountOpened(person, 3, at)
    await bureau.apply_feed_batch(
        "loan-test",
        [
            DecodedEvent(1, "payment.account.opened", at, (opened,)),
            DecodedEvent(2, "loan.overdue.entered_90", at, (OverdueEntered90(person, "L9", at),)),
        ],
    )
    assert (await score(credit, person)).blacklisted
    await bureau.apply_feed_batch(
        "loan-test",
        [DecodedEvent(3, "loan.overdue.settled", at, (OverdueSettled(person, "L9", at),))],
    )
    after = await score(credit, person)
    assert not after.blacklisted
    status = await credit.GetBlacklistStatus(
        cpb.GetBlacklistStatusRequest(caller=OPERATOR, person_id=person)
    )
    assert [c.reason for c in status.changes] == ["loan_overdue_90", "loan_settled"]


async def test_operators_only_administer_and_a_model_version_is_immutable(credit) -> None:
    current = await credit.GetScorecard(cpb.GetScorecardRequest())
    with pytest.raises(grpc.aio.AioRpcError) as not_operator:
        await credit.LoadScorecard(
            cpb.LoadScorecardRequest(
                idempotency_key=new_key(), caller=owner("2088"), model_json=current.model_json
            )
        )
    assert error_reason(not_operator.value) == "CALLER_NOT_ALLOWED"
    changed = current.model_json.replace('"0.05"', '"0.050"')
    with pytest.raises(grpc.aio.AioRpcError) as exists:
        await credit.LoadScorecard(
            cpb.LoadScorecardRequest(idempotency_key=new_key(), caller=OPERATOR, model_json=changed)
        )
    assert error_reason(exists.value) == "SCORECARD_VERSION_EXISTS"
