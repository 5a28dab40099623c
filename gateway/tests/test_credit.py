"""The credit line through the gateway: real payment, wealth and credit services.

The credit service follows the payment feed, so a score moves a moment after the activity
that moves it: the tests poll the gateway with a deadline, never sleep a fixed time.
Privacy: every personal route is the caller's own; a merchant reads only with a live
consent grant, every read is in the owner's access log, and a revoked grant stops at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.clients import ServiceChannels
from gateway.settings import GatewaySettings
from gateway.tests.conftest import (
    GatewayFactory,
    User,
    api_key_headers,
    create_api_key,
    next_resident_id,
    problem_of,
    top_up,
)

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]

BANDS = {"POOR", "FAIR", "GOOD", "VERY_GOOD", "EXCELLENT"}
DIMENSIONS = {
    "credit_history",
    "behaviour_preference",
    "fulfilment_capacity",
    "identity_traits",
    "social_connections",
}
MODEL_VERSION = "sesame-2025.1"
# A person the bureau has not heard of, and a real-name account whose opening the credit
# service has applied (docs/credit.md "Newcomer").
UNKNOWN_SCORE = 521
OPENED_SCORE = 551
FEED_DEADLINE_SECONDS = 30.0
POLL_SECONDS = 0.05
YUAN = 100
WAIVERS = "/v1/merchant/credit/deposit-waivers"
BLACKLIST = "/v1/admin/credit/blacklist"


@pytest.fixture(scope="module")
def service_addresses(credit_service_addresses: dict[str, str]) -> dict[str, str]:
    return credit_service_addresses


def new_key() -> str:
    return uuid.uuid4().hex


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def own_score(gateway: Client, user: User) -> dict[str, Any]:
    response = await gateway.get("/v1/credit/score", headers=user.headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def score_when(
    gateway: Client, user: User, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The user's score once ready(score) holds; fails after the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FEED_DEADLINE_SECONDS
    while True:
        score = await own_score(gateway, user)
        if ready(score):
            return score
        assert loop.time() < deadline, f"the score never got there: {score}"
        await asyncio.sleep(POLL_SECONDS)


async def known_user(gateway: Client, new_user: NewUser, **fields: Any) -> User:
    """A fresh user whose account opening the credit service has applied."""
    user = await new_user(**fields)
    await score_when(gateway, user, lambda score: score["score"] == OPENED_SCORE)
    return user


async def grant(
    gateway: Client, user: User, merchant: User, purpose: str, days: int = 30
) -> dict[str, Any]:
    response = await gateway.post(
        "/v1/credit/consents",
        json={
            "merchant_id": merchant.account_id,
            "purpose": purpose,
            "expires_at": in_days(days),
        },
        headers=user.keyed(new_key()),
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


def codes(reasons: list[dict[str, Any]]) -> set[str]:
    return {reason["code"] for reason in reasons}


async def test_a_new_users_score_and_how_activity_moves_it(
    gateway: Client, new_user: NewUser
) -> None:
    alice = await new_user()
    first = await own_score(gateway, alice)
    assert first["person_id"] == alice.account_id
    # Unknown to the bureau yet (521), or its account opening already applied (551).
    assert first["score"] in {UNKNOWN_SCORE, OPENED_SCORE} and first["band"] in BANDS
    assert first["newcomer"] is (first["score"] == UNKNOWN_SCORE)
    assert first["model_version"] == MODEL_VERSION
    assert {d["dimension"] for d in first["dimensions"]} == DIMENSIONS
    assert len(first["actions"]) <= 2
    assert first["limit_advice"]["huabei_line"]["currency"] == "CNY"

    opened = await score_when(gateway, alice, lambda s: s["score"] == OPENED_SCORE)
    assert opened["band"] == "FAIR"
    assert "IDENTITY_VERIFIED" in codes(opened["raised_by"])
    assert {a["code"] for a in opened["actions"]} <= {
        "VERIFY_BANK_CARD",
        "HOLD_MORE_ASSETS",
        "PAY_REGULARLY",
        "PAY_CONTACTS",
        "REPAY_ON_TIME",
        "PAY_WITH_WALLET",
        "DECLARE_INCOME",
        "DECLARE_EDUCATION",
        "DECLARE_EMPLOYER",
    }
    assert opened["limit_advice"]["huabei_line"]["amount_fen"] == 500 * YUAN

    # A top-up verifies the card (KYC 3) and brings assets: the score rises.
    await top_up(gateway, alice, 2_000 * YUAN, new_key())
    funded = await score_when(gateway, alice, lambda s: s["score"] > OPENED_SCORE)
    assert "ASSETS_HELD" in codes(funded["raised_by"])
    assert funded["newcomer"] is False

    # A payment to a contact: regular payments and a connection raise it again.
    bob = await new_user()
    transfer = await gateway.post(
        "/v1/transfers",
        json={"amount_fen": 10 * YUAN, "to_account_id": bob.account_id},
        headers=alice.keyed(new_key()),
    )
    assert transfer.status == 201, await transfer.text()
    paid = await score_when(gateway, alice, lambda s: s["score"] > funded["score"])
    assert paid["trigger"] == "payment.posting.recorded"

    history = await gateway.get("/v1/credit/score/history", headers=alice.headers)
    assert history.status == 200, await history.text()
    scores = (await history.json())["scores"]
    assert {s["person_id"] for s in scores} == {alice.account_id}
    assert scores[0]["score"] == paid["score"]  # newest first
    assert [s["score"] for s in scores][:3] == [paid["score"], funded["score"], OPENED_SCORE]
    assert all("actions" not in s for s in scores)

    page = await gateway.get(
        "/v1/credit/score/history", params={"page_size": "1"}, headers=alice.headers
    )
    first_page = await page.json()
    assert len(first_page["scores"]) == 1 and first_page["next_page_token"]
    bad = await gateway.get(
        "/v1/credit/score/history", params={"page_token": "nonsense"}, headers=alice.headers
    )
    assert bad.status == 400


async def test_declarations_are_idempotent_and_raise_the_score_a_little(
    gateway: Client, new_user: NewUser
) -> None:
    carol = await known_user(gateway, new_user)
    body = {"monthly_income_fen": 25_000 * YUAN, "education": "bachelor", "employer": "蚂蚁集团"}

    missing_key = await gateway.post("/v1/credit/declarations", json=body, headers=carol.headers)
    await problem_of(missing_key, 400, "IDEMPOTENCY_KEY_MISSING")
    for bad_body in (
        {**body, "education": "phd"},
        {**body, "monthly_income_fen": 12.5},
        {**body, "resident_id": "x"},
    ):
        refused = await gateway.post(
            "/v1/credit/declarations", json=bad_body, headers=carol.keyed(new_key())
        )
        assert refused.status == 400, await refused.text()

    key = new_key()
    declared = await gateway.post("/v1/credit/declarations", json=body, headers=carol.keyed(key))
    assert declared.status == 201, await declared.text()
    answer = await declared.json()
    assert answer["declaration"]["monthly_income"]["amount_fen"] == 25_000 * YUAN
    assert answer["declaration"]["education"] == "bachelor"
    assert answer["declaration"]["employer"] == "蚂蚁集团"
    assert answer["score"]["person_id"] == carol.account_id
    assert OPENED_SCORE < answer["score"]["score"] <= OPENED_SCORE + 32
    assert answer["score"]["trigger"] == "declaration"

    replay = await gateway.post("/v1/credit/declarations", json=body, headers=carol.keyed(key))
    assert replay.status == 201
    assert await replay.read() == await declared.read()
    reused = await gateway.post(
        "/v1/credit/declarations", json={**body, "employer": "别家"}, headers=carol.keyed(key)
    )
    await problem_of(reused, 422, "IDEMPOTENCY_KEY_REUSED")
    assert (await own_score(gateway, carol))["score"] == answer["score"]["score"]


async def test_a_merchant_reads_only_with_a_live_grant_and_every_read_is_logged(
    gateway: Client, new_user: NewUser, new_merchant: NewUser
) -> None:
    alice = await known_user(gateway, new_user)
    shop = await new_merchant()
    api_key = await create_api_key(gateway, shop)
    waiver_body = {"person_phone": alice.phone, "amount_fen": 500 * YUAN}
    score_path = f"/v1/merchant/credit/scores/{alice.account_id}"

    # No grant: 403 CONSENT_REQUIRED, and no score in the answer.
    for response in (
        await gateway.post(WAIVERS, json=waiver_body, headers=api_key_headers(api_key)),
        await gateway.get(score_path, headers=api_key_headers(api_key)),
        await gateway.post(
            WAIVERS,
            json={"person_phone": "13900000000", "amount_fen": 100},
            headers=shop.headers,
        ),
    ):
        problem = await problem_of(response, 403, "CONSENT_REQUIRED")
        # The score is nowhere in the answer: not as a number of its own (an account id or the
        # trace id may happen to contain its digits).
        told = str({key: value for key, value in problem.items() if key != "trace_id"})
        assert "score" not in problem
        assert not re.search(rf"(?<![0-9A-Za-z]){OPENED_SCORE}(?![0-9A-Za-z])", told)

    waiver_grant = await grant(gateway, alice, shop, "deposit_waiver")
    assert waiver_grant["live"] is True and waiver_grant["revoked_at"] is None
    assert waiver_grant["person_id"] == alice.account_id
    assert waiver_grant["merchant_id"] == shop.account_id

    checked = await gateway.post(WAIVERS, json=waiver_body, headers=api_key_headers(api_key))
    assert checked.status == 200, await checked.text()
    answer = await checked.json()
    assert answer["person_id"] == alice.account_id
    assert answer["merchant_id"] == shop.account_id
    assert answer["waived"] is False and answer["refusal"] == "SCORE_TOO_LOW"
    assert answer["cap"]["amount_fen"] == 0
    assert answer["deposit"]["amount_fen"] == 500 * YUAN
    assert "score" not in answer  # a deposit_waiver grant is no score grant
    # The grant's purpose is the waiver only.
    await problem_of(
        await gateway.get(score_path, headers=api_key_headers(api_key)), 403, "CONSENT_REQUIRED"
    )

    score_grant = await grant(gateway, alice, shop, "score")
    read = await gateway.get(score_path, headers=api_key_headers(api_key))
    assert read.status == 200, await read.text()
    seen = await read.json()
    assert seen == {**seen, "person_id": alice.account_id, "score": OPENED_SCORE, "band": "FAIR"}
    assert "dimensions" not in seen and "actions" not in seen and "limit_advice" not in seen

    log = await gateway.get("/v1/credit/access-log", headers=alice.headers)
    assert log.status == 200, await log.text()
    accesses = (await log.json())["accesses"]
    assert [(a["read"], a["purpose"], a["consent_id"]) for a in accesses] == [
        ("score", "score", score_grant["consent_id"]),
        ("deposit_waiver", "deposit_waiver", waiver_grant["consent_id"]),
    ]
    assert {a["merchant_id"] for a in accesses} == {shop.account_id}
    assert {a["person_id"] for a in accesses} == {alice.account_id}

    listed = await gateway.get("/v1/credit/consents", headers=alice.headers)
    consents = (await listed.json())["consents"]
    assert {c["consent_id"] for c in consents} == {
        waiver_grant["consent_id"],
        score_grant["consent_id"],
    }

    # Revoked: the next read is refused at once; revoking again changes nothing.
    revoke_path = f"/v1/credit/consents/{score_grant['consent_id']}"
    revoked = await gateway.delete(revoke_path, headers=alice.headers)
    assert revoked.status == 200, await revoked.text()
    revoked_grant = await revoked.json()
    assert revoked_grant["live"] is False and revoked_grant["revoked_at"]
    await problem_of(
        await gateway.get(score_path, headers=api_key_headers(api_key)), 403, "CONSENT_REQUIRED"
    )
    again = await gateway.delete(revoke_path, headers=alice.headers)
    assert again.status == 200
    assert (await again.json())["revoked_at"] == revoked_grant["revoked_at"]
    assert (
        len(
            (await (await gateway.get("/v1/credit/access-log", headers=alice.headers)).json())[
                "accesses"
            ]
        )
        == 2
    )


async def test_grants_name_a_real_merchant_and_a_bounded_expiry(
    gateway: Client, new_user: NewUser, new_merchant: NewUser
) -> None:
    alice, bob = await new_user(), await new_user()
    shop = await new_merchant()
    for merchant_id in (bob.account_id, "2188000000000000", "x" * 64):
        response = await gateway.post(
            "/v1/credit/consents",
            json={
                "merchant_id": merchant_id,
                "purpose": "score",
                "expires_at": in_days(30),
            },
            headers=alice.keyed(new_key()),
        )
        await problem_of(response, 404, "NOT_FOUND")
    for bad in (
        {"expires_at": in_days(400)},
        {"expires_at": in_days(-1)},
        {"expires_at": "next week"},
        {"purpose": "marketing"},
    ):
        response = await gateway.post(
            "/v1/credit/consents",
            json={
                "merchant_id": shop.account_id,
                "purpose": "score",
                "expires_at": in_days(30),
                **bad,
            },
            headers=alice.keyed(new_key()),
        )
        assert response.status == 400, (bad, await response.text())


async def test_one_user_cannot_see_or_touch_anothers_credit_data(
    gateway: Client, new_user: NewUser, new_merchant: NewUser
) -> None:
    alice = await known_user(gateway, new_user)
    bob = await new_user()
    shop = await new_merchant()
    alices_grant = await grant(gateway, alice, shop, "score")
    read = await gateway.get(f"/v1/merchant/credit/scores/{alice.account_id}", headers=shop.headers)
    assert read.status == 200, await read.text()

    bobs_score = await own_score(gateway, bob)
    assert bobs_score["person_id"] == bob.account_id
    history = await (await gateway.get("/v1/credit/score/history", headers=bob.headers)).json()
    assert {s["person_id"] for s in history["scores"]} <= {bob.account_id}
    consents = await (await gateway.get("/v1/credit/consents", headers=bob.headers)).json()
    assert consents["consents"] == []
    accesses = await (await gateway.get("/v1/credit/access-log", headers=bob.headers)).json()
    assert accesses["accesses"] == []

    # Alice's grant id is not Bob's to revoke: answered like one that does not exist.
    stolen = await gateway.delete(
        f"/v1/credit/consents/{alices_grant['consent_id']}", headers=bob.headers
    )
    await problem_of(stolen, 404, "NOT_FOUND")
    still = await (await gateway.get("/v1/credit/consents", headers=alice.headers)).json()
    assert [c["live"] for c in still["consents"]] == [True]

    # A personal user cannot use the merchant routes to read someone's score.
    as_merchant = await gateway.get(
        f"/v1/merchant/credit/scores/{alice.account_id}", headers=bob.headers
    )
    await problem_of(as_merchant, 403, "PERMISSION_DENIED")
    # A merchant has no score of its own to read here.
    await problem_of(
        await gateway.get("/v1/credit/score", headers=shop.headers), 403, "PERMISSION_DENIED"
    )
    for path in ("/v1/credit/score", "/v1/credit/consents", "/v1/credit/access-log"):
        await problem_of(await gateway.get(path), 401, "UNAUTHENTICATED")


async def test_operators_import_and_remove_blacklist_entries(
    gateway: Client, new_user: NewUser, operator: User
) -> None:
    resident_id_hash = hashlib.sha256(next_resident_id().upper().encode()).hexdigest()
    listing = {"resident_id_hash": resident_id_hash, "case_reference": f"(2025)京0108执{new_key()}"}
    body = {"source": "court:beijing-haidian", "listings": [listing]}
    status_path = f"/v1/admin/credit/blacklist/{resident_id_hash}"

    customer = await new_user()
    for response in (
        await gateway.post(BLACKLIST, json=body, headers=customer.keyed(new_key())),
        await gateway.get(status_path, headers=customer.headers),
        await gateway.get("/v1/admin/credit/feeds", headers=customer.headers),
    ):
        await problem_of(response, 403, "PERMISSION_DENIED")

    key = new_key()
    imported = await gateway.post(BLACKLIST, json=body, headers=operator.keyed(key))
    assert imported.status == 200, await imported.text()
    assert (await imported.json())["entered"] == 1
    replay = await gateway.post(BLACKLIST, json=body, headers=operator.keyed(key))
    assert await replay.read() == await imported.read()
    again = await gateway.post(BLACKLIST, json=body, headers=operator.keyed(new_key()))
    assert (await again.json())["already_listed"] == 1

    status = await (await gateway.get(status_path, headers=operator.headers)).json()
    assert status["blacklisted"] is True
    assert [e["case_reference"] for e in status["entries"]] == [listing["case_reference"]]
    assert [c["change"] for c in status["changes"]] == ["entered"]

    removal = {
        "source": "court:beijing-haidian",
        "case_references": [listing["case_reference"], "unknown-case"],
        "reason": "settled",
        "note": "paid in full",
    }
    removed = await gateway.post(
        "/v1/admin/credit/blacklist/removals", json=removal, headers=operator.keyed(new_key())
    )
    assert removed.status == 200, await removed.text()
    assert await removed.json() == {
        "source": "court:beijing-haidian",
        "removed": 1,
        "not_listed": ["unknown-case"],
    }
    status = await (await gateway.get(status_path, headers=operator.headers)).json()
    assert status["blacklisted"] is False
    assert [c["change"] for c in status["changes"]] == ["entered", "removed"]
    assert status["entries"][0]["removed_at"]

    for bad_body in (
        {**body, "listings": [{**listing, "resident_id_hash": "not-a-hash"}]},
        {**body, "listings": []},
        {**body, "source": "gossip"},
    ):
        refused = await gateway.post(BLACKLIST, json=bad_body, headers=operator.keyed(new_key()))
        await problem_of(refused, 400, "INVALID_ARGUMENT")
    await problem_of(
        await gateway.get("/v1/admin/credit/blacklist/nothex", headers=operator.headers),
        404,
        "NOT_FOUND",
    )


async def test_operators_see_the_feeds_and_the_scorecard(gateway: Client, operator: User) -> None:
    feeds = await gateway.get("/v1/admin/credit/feeds", headers=operator.headers)
    assert feeds.status == 200, await feeds.text()
    assert {feed["feed"] for feed in (await feeds.json())["feeds"]} == {"payment", "wealth"}
    scorecard = await gateway.get("/v1/admin/credit/scorecard", headers=operator.headers)
    assert scorecard.status == 200, await scorecard.text()
    active = await scorecard.json()
    assert active["model_version"] == MODEL_VERSION
    assert active["model"]["version"] == MODEL_VERSION
    broken = await gateway.post(
        "/v1/admin/credit/scorecards",
        json={"model": {"version": "broken-1"}},
        headers=operator.keyed(new_key()),
    )
    await problem_of(broken, 400, "INVALID_SCORECARD")


async def test_the_wallet_overview_shows_the_score_and_answers_without_it(
    gateway: Client,
    *,
    new_user: NewUser,
    new_merchant: NewUser,
    start_gateway: GatewayFactory,
    settings: GatewaySettings,
    service_addresses: dict[str, str],
    unreachable_address: str,
) -> None:
    alice = await known_user(gateway, new_user)
    await top_up(gateway, alice, 100 * YUAN, new_key())
    wallet = await (await gateway.get("/v1/wallet", headers=alice.headers)).json()
    current = await own_score(gateway, alice)
    assert wallet["credit"]["band"] in BANDS
    assert wallet["credit"]["model_version"] == MODEL_VERSION
    assert OPENED_SCORE <= wallet["credit"]["score"] <= current["score"]

    shop = await new_merchant()
    merchant_wallet = await (await gateway.get("/v1/wallet", headers=shop.headers)).json()
    assert "credit" not in merchant_wallet

    cut_off = ServiceChannels.open({**service_addresses, "credit": unreachable_address})
    try:
        without_credit = await start_gateway(settings, cut_off)
        response = await without_credit.get("/v1/wallet", headers=alice.headers)
        assert response.status == 200, await response.text()
        overview = await response.json()
        assert "credit" not in overview
        assert overview["balance"]["amount_fen"] == 100 * YUAN
        down = await without_credit.get("/v1/credit/score", headers=alice.headers)
        await problem_of(down, 503, "UNAVAILABLE")
        await without_credit.close()  # its feed followers stop before their channels close
    finally:
        await cut_off.close()
