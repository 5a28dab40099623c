"""Who uses the wallet in a load test, and what they do how often.

- ``WalletHolder``: a person who registers once (or logs in again), tops up, and then does a
  weighted mix: open the wallet, read the statement, buy from a merchant in escrow and confirm
  receipt, transfer to a friend, top up, put money in and out of Yu'e Bao, pay a water bill
  with wallet pay, look at the credit score, buy with the Huabei credit line and repay it.
  The mix depends on the shape (``COLONY_LOAD_SHAPE``):
  on payday, top-ups and Yu'e Bao dominate; on Double 11, buying does, mostly from one hot
  merchant.
- ``Merchant``: ships the trades its buyers paid and reads its settlements.
- ``Operator``: looks at the operations (sagas) that are stuck.

Every money-moving call carries an Idempotency-Key; an answer worth retrying (a 5xx, a lost
connection, a request still in progress) is sent again with the same key, a bounded number of
times. Answers are checked for content (``catch_response``), and business refusals are
counted apart from errors (loadtests/wallet/outcomes.py).
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from locust import FastHttpUser, between, events, task
from locust.env import Environment

from loadtests.wallet.journal import Journal
from loadtests.wallet.outcomes import Outcome, classify, has_fields
from loadtests.wallet.people import (
    new_name,
    new_payment_password,
    new_phone,
    new_resident_id,
)
from loadtests.wallet.setup import SMS_CODE, MerchantAccount, Platform, prepare_platform

PASSWORD = "load-test-password-1"
CARD = "6222020200112233446"
WATER_BILL = {"biller_id": "westlake-water", "reference": "3301061234"}
RETRIES_MAX = 3
RETRY_PAUSE_SECONDS = 0.5
# Of the travel policies bought, the share cancelled at once (in the cooling-off period).
INSURANCE_CANCEL_SHARE = 0.3
SHAPE = os.environ.get("COLONY_LOAD_SHAPE", "steady").lower()
# On Double 11 most buying goes to the one hot merchant.
HOT_MERCHANT_SHARE = 0.9 if SHAPE == "double11" else 0.0

JOURNAL = Journal.from_env()
PLATFORM = Platform()
# Phones of the people registered by this process: whom a transfer can go to.
REGISTERED_PHONES: list[str] = []
# Their names: a transfer by phone names the payee in full (issue 21 item 5).
REGISTERED_NAMES: dict[str, str] = {}


@events.test_start.add_listener
def _prepare(environment: Environment, **_: Any) -> None:
    """Merchants, their API keys and the operator, once per Locust process, before the users."""
    host = environment.host or "http://127.0.0.1:8080"
    prepare_platform(PLATFORM, host, hot=SHAPE == "double11")


@dataclass
class Answer:
    outcome: Outcome
    reason: str = ""
    payload: Any = None


class WalletClientUser(FastHttpUser):
    """What every simulated client shares: keyed, retried, checked calls."""

    abstract = True
    token: str = ""

    def headers(self, key: str | None = None, api_key: str | None = None) -> dict[str, str]:
        auth = f"ApiKey {api_key}" if api_key else f"Bearer {self.token}"
        headers = {"Authorization": auth}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    # A person answers a risk challenge with their payment password (set at start).
    payment_password: str = ""

    def call(
        self,
        method: str,
        path: str,
        *,
        name: str,
        body: dict[str, Any] | None = None,
        keyed: bool = False,
        api_key: str | None = None,
        expect: tuple[str, ...] = (),
        extra_headers: dict[str, str] | None = None,
    ) -> Answer:
        """One call (retried with the same key while worth it), counted by its outcome.

        A risk challenge is answered as a person would: the same request, the same key, and
        the payment password (the challenge itself is counted as a business refusal).
        """
        key = f"load-{uuid.uuid4().hex}" if keyed else None
        headers = {**self.headers(key, api_key), **(extra_headers or {})}
        answer = self._send(method, path, name, body=body, headers=headers, expect=expect)
        if answer.reason == "RISK_CHALLENGE_REQUIRED" and keyed and self.payment_password:
            confirmed = {**(body or {}), "payment_password": self.payment_password}
            answer = self._send(method, path, name, body=confirmed, headers=headers, expect=expect)
        return answer

    def _send(
        self,
        method: str,
        path: str,
        name: str,
        *,
        body: dict[str, Any] | None,
        headers: dict[str, str],
        expect: tuple[str, ...],
    ) -> Answer:
        for attempt in range(RETRIES_MAX + 1):
            with self.client.request(
                method, path, json=body, headers=headers, name=name, catch_response=True
            ) as response:
                outcome, reason = classify(response.status_code, response.text)
                payload = _json(response.text)
                if outcome is Outcome.DONE and expect and not has_fields(payload, *expect):
                    response.failure(f"answer lacks {expect}: {str(response.text)[:200]}")
                    return Answer(Outcome.ERROR, "CONTENT")
                if outcome is Outcome.DONE:
                    response.success()
                    return Answer(outcome, payload=payload)
                if outcome is Outcome.REFUSED:
                    response.success()
                    self._count_refusal(name, reason)
                    return Answer(outcome, reason, payload)
                response.failure(f"{response.status_code} {reason}")
                if outcome is Outcome.ERROR or attempt == RETRIES_MAX:
                    return Answer(Outcome.ERROR, reason, payload)
            time.sleep(RETRY_PAUSE_SECONDS * (attempt + 1))
        return Answer(Outcome.ERROR, "RETRIES")

    def verify_phone(self, phone: str) -> dict[str, str] | None:
        """The phone's registration proof, read as its owner would read the SMS: the load test
        runs against a dev platform, whose SMS gateway is the fake with a dev-only outbox."""
        started = self.call(
            "POST",
            "/v1/auth/phone-verifications",
            name="/v1/auth/phone-verifications",
            body={"phone": phone},
            expect=("verification_id",),
        )
        if started.outcome is not Outcome.DONE:
            return None
        outbox = self.call(
            "GET", f"/v1/dev/sms?phone={phone}", name="/v1/dev/sms", expect=("messages",)
        )
        code = SMS_CODE.search(outbox.payload["messages"][-1]) if outbox.payload else None
        if code is None:
            return None
        return {"verification_id": started.payload["verification_id"], "verification_code": code[0]}

    def _count_refusal(self, name: str, reason: str) -> None:
        self.environment.events.request.fire(
            request_type="REFUSAL",
            name=f"{name}: {reason}",
            response_time=0,
            response_length=0,
            exception=None,
            context={},
        )


def _json(text: str | None) -> Any:
    try:
        return json.loads(text or "")
    except ValueError:
        return None


@dataclass
class Wallet:
    """What a holder knows about themself."""

    phone: str = ""
    account_id: str = ""
    device_id: str = field(default_factory=lambda: f"load-device-{uuid.uuid4().hex[:12]}")


class WalletHolder(WalletClientUser):
    """A person with a wallet (the bulk of the load)."""

    weight = 20
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.wallet = Wallet(phone=new_phone())
        resident_id = new_resident_id()
        real_name = new_name()
        proof = self.verify_phone(self.wallet.phone)
        if proof is None:
            self.stop()
            return
        registered = self.call(
            "POST",
            "/v1/auth/register",
            name="/v1/auth/register",
            body={
                "phone": self.wallet.phone,
                "password": PASSWORD,
                "real_name": real_name,
                "resident_id": resident_id,
                **proof,
            },
            expect=("account_id",),
        )
        if registered.outcome is not Outcome.DONE:
            self.stop()
            return
        self.wallet.account_id = registered.payload["account_id"]
        self.log_in()
        password = new_payment_password(self.wallet.phone, resident_id)
        answer = self.call(
            "PUT",
            "/v1/payment-password",
            name="/v1/payment-password",
            body={"login_password": PASSWORD, "new_password": password},
        )
        if answer.outcome is Outcome.DONE:
            self.payment_password = password
        REGISTERED_NAMES[self.wallet.phone] = real_name
        REGISTERED_PHONES.append(self.wallet.phone)
        self.top_up(random.randint(2_000, 8_000) * 100)

    def log_in(self) -> None:
        answer = self.call(
            "POST",
            "/v1/auth/login",
            name="/v1/auth/login",
            body={"phone": self.wallet.phone, "password": PASSWORD},
            expect=("access_token",),
        )
        if answer.outcome is Outcome.DONE:
            self.token = answer.payload["access_token"]

    def pay_headers(self) -> dict[str, str]:
        return {"X-Device-Id": self.wallet.device_id}

    # --- reads ------------------------------------------------------------------------------

    @task(8)
    def open_wallet(self) -> None:
        self.call("GET", "/v1/wallet", name="/v1/wallet", expect=("account_id", "balance"))

    @task(4)
    def read_statement(self) -> None:
        self.call(
            "GET",
            "/v1/statement?page_size=10",
            name="/v1/statement",
            expect=("entries", "next_page_token"),
        )

    @task(2)
    def check_credit_score(self) -> None:
        self.call("GET", "/v1/credit/score", name="/v1/credit/score", expect=("score",))

    # --- money ------------------------------------------------------------------------------

    @task(1 if SHAPE != "payday" else 10)
    def top_up_task(self) -> None:
        self.top_up(random.randint(100, 2_000) * 100)

    def top_up(self, amount_fen: int) -> None:
        answer = self.call(
            "POST",
            "/v1/topups",
            name="/v1/topups",
            body={"amount_fen": amount_fen, "bank_card_number": CARD},
            keyed=True,
            expect=("posting_id",),
        )
        if answer.outcome is Outcome.DONE:
            JOURNAL.record("posting", posting_id=answer.payload["posting_id"], what="top-up")

    @task(6 if SHAPE != "double11" else 20)
    def buy_from_a_merchant(self) -> None:
        """Checkout at a merchant: its server opens an escrow trade, the buyer pays it."""
        trade_id = self._open_trade(random.randint(500, 30_000))
        if trade_id is None:
            return
        paid = self.call(
            "POST",
            f"/v1/trades/{trade_id}/pay",
            name="/v1/trades/{id}/pay",
            body={},
            keyed=True,
            expect=("trade_id", "state"),
            extra_headers=self.pay_headers(),
        )
        if paid.outcome is Outcome.DONE:
            JOURNAL.record("trade_paid", trade_id=trade_id)

    @task(3)
    def confirm_shipped_trades(self) -> None:
        listed = self.call(
            "GET",
            "/v1/trades?state=shipped&page_size=5",
            name="/v1/trades?state=shipped",
            expect=("trades",),
        )
        for trade in (listed.payload or {}).get("trades", [])[:2]:
            confirmed = self.call(
                "POST",
                f"/v1/trades/{trade['trade_id']}/confirm-receipt",
                name="/v1/trades/{id}/confirm-receipt",
                keyed=True,
                expect=("state",),
            )
            if confirmed.outcome is Outcome.DONE:
                JOURNAL.record("trade_settled", trade_id=trade["trade_id"])

    @task(2 if SHAPE != "double11" else 6)
    def buy_with_huabei(self) -> None:
        """Checkout paid with the Huabei credit line (花呗) through wallet pay."""
        trade_id = self._open_trade(random.randint(500, 10_000))
        if trade_id is not None:
            self.operation("/v1/wallet/payments", {"trade_id": trade_id, "methods": ["huabei"]})

    @task(1)
    def repay_huabei(self) -> None:
        """Look at the Huabei line and repay part of what is used (bills oldest first)."""
        line = self.call(
            "GET", "/v1/loans/huabei", name="/v1/loans/huabei", expect=("line", "current_bill")
        )
        used_fen = int(
            ((line.payload or {}).get("line") or {}).get("used", {}).get("amount_fen", 0)
        )
        if used_fen <= 0:
            return
        self.operation(
            "/v1/loans/repayments",
            {
                "target": "huabei",
                "amount_fen": random.randint(1, used_fen),
                "methods": ["balance", "yuebao"],
            },
        )

    @task(4 if SHAPE != "double11" else 1)
    def transfer_to_a_friend(self) -> None:
        friends = [phone for phone in REGISTERED_PHONES[-200:] if phone != self.wallet.phone]
        if not friends:
            return
        friend = random.choice(friends)
        answer = self.call(
            "POST",
            "/v1/transfers",
            name="/v1/transfers",
            body={
                "amount_fen": random.randint(100, 20_000),
                "to_phone": friend,
                "payee_name": REGISTERED_NAMES[friend],
                "memo": "load test",
            },
            keyed=True,
            expect=("posting_id",),
            extra_headers=self.pay_headers(),
        )
        if answer.outcome is Outcome.DONE:
            JOURNAL.record("posting", posting_id=answer.payload["posting_id"], what="transfer")

    @task(2 if SHAPE != "payday" else 10)
    def subscribe_yuebao(self) -> None:
        self.operation(
            "/v1/wealth/yuebao/subscriptions", {"amount_fen": random.randint(1_000, 50_000)}
        )

    @task(1 if SHAPE != "payday" else 3)
    def redeem_yuebao(self) -> None:
        self.operation("/v1/wealth/yuebao/redemptions", {"amount_fen": random.randint(100, 10_000)})

    @task(2)
    def pay_the_water_bill(self) -> None:
        self.operation(
            "/v1/wallet/payments",
            {
                "bill": {**WATER_BILL, "amount_fen": random.randint(1_000, 20_000)},
                "methods": ["balance", "yuebao"],
            },
        )

    @task(1)
    def buy_travel_insurance(self) -> None:
        """A quote for a short trip, bought with the wallet (the premium saga); now and then
        cancelled at once, inside the cooling-off period (the whole premium back)."""
        quoted = self.call(
            "POST",
            "/v1/insurance/quotes",
            name="/v1/insurance/quotes",
            body={
                "product_id": "travel",
                "insured_age": random.randint(18, 59),
                "duration_days": random.randint(1, 15),
            },
            expect=("quote_id", "premium"),
        )
        if quoted.outcome is not Outcome.DONE:
            return
        bought = self.operation(
            "/v1/insurance/policies",
            {"quote_id": quoted.payload["quote_id"], "methods": ["balance", "yuebao"]},
        )
        if bought is None or random.random() >= INSURANCE_CANCEL_SHARE:
            return
        self.operation(
            f"/v1/insurance/policies/{bought['policy_id']}/cancellation",
            {},
            name="/v1/insurance/policies/{id}/cancellation",
        )

    def operation(
        self, path: str, body: dict[str, Any], name: str | None = None
    ) -> dict[str, Any] | None:
        """A saga across services: answered with the operation, journalled when completed;
        the completed operation's result (None otherwise)."""
        answer = self.call(
            "POST",
            path,
            name=name or path,
            body=body,
            keyed=True,
            expect=("operation_id", "state"),
            extra_headers=self.pay_headers(),
        )
        if answer.outcome is Outcome.DONE and answer.payload.get("state") == "completed":
            JOURNAL.record("operation", operation_id=answer.payload["operation_id"], path=path)
            return dict(answer.payload.get("result") or {})
        return None

    def _open_trade(self, amount_fen: int) -> str | None:
        """The merchant's server opens an escrow trade for this buyer (at checkout)."""
        merchant = self._choose_merchant()
        if merchant is None:
            return None
        opened = self.call(
            "POST",
            "/v1/merchant/trades",
            name="/v1/merchant/trades",
            body={
                "buyer_phone": self.wallet.phone,
                "amount_fen": amount_fen,
                "description": "load test order",
            },
            keyed=True,
            api_key=merchant.api_key,
            expect=("trade_id",),
        )
        return str(opened.payload["trade_id"]) if opened.outcome is Outcome.DONE else None

    def _choose_merchant(self) -> MerchantAccount | None:
        merchants = PLATFORM.merchants
        if not merchants:
            return None
        if random.random() < HOT_MERCHANT_SHARE:
            return merchants[0]
        return random.choice(merchants)


class Merchant(WalletClientUser):
    """A merchant's back office: ships what was paid, reads settlements."""

    weight = 2
    wait_time = between(1, 2)

    def on_start(self) -> None:
        self.merchant: MerchantAccount | None = random.choice(PLATFORM.merchants or [None])

    @task(5)
    def ship_paid_trades(self) -> None:
        if self.merchant is None:
            return
        listed = self.call(
            "GET",
            "/v1/merchant/trades?state=paid&page_size=20",
            name="/v1/merchant/trades?state=paid",
            api_key=self.merchant.api_key,
            expect=("trades",),
        )
        for trade in (listed.payload or {}).get("trades", [])[:10]:
            self.call(
                "POST",
                f"/v1/merchant/trades/{trade['trade_id']}/ship",
                name="/v1/merchant/trades/{id}/ship",
                keyed=True,
                api_key=self.merchant.api_key,
                expect=("state",),
            )

    @task(1)
    def read_settlements(self) -> None:
        if self.merchant is None:
            return
        self.call(
            "GET",
            "/v1/merchant/settlements?page_size=10",
            name="/v1/merchant/settlements",
            api_key=self.merchant.api_key,
            expect=("settlements",),
        )


class Operator(WalletClientUser):
    """The platform's operator, watching for stuck operations."""

    fixed_count = 1
    wait_time = between(3, 6)

    def on_start(self) -> None:
        self.token = PLATFORM.operator_token

    @task
    def look_at_stuck_operations(self) -> None:
        if not self.token:
            return
        self.call(
            "GET",
            "/v1/admin/operations?page_size=20",
            name="/v1/admin/operations",
            expect=("operations",),
        )


ALL_USERS: tuple[Callable[..., Any], ...] = (WalletHolder, Merchant, Operator)
