"""What a load test needs before its users start: merchants with API keys, the operator.

Done once per Locust process through the public REST API (as a merchant's staff and the
platform's operator would). On Double 11 the first merchant is the hot one: an operator
splits its account into sub-accounts so a flood of payments does not queue on one document.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from loadtests.wallet.people import new_phone

MERCHANTS = 5
OPERATOR_GRANT_WAIT_SECONDS = 60.0
# The verification code in a (fake) SMS: its one run of six digits.
SMS_CODE = re.compile(r"\b\d{6}\b")
MERCHANT_PASSWORD = "load-test-merchant-1"
OPERATOR_PHONE = "13800138009"  # the demo operator of `make run`
OPERATOR_PASSWORD = "colony-demo-1"
HOT_SHARDS = 16
REQUEST_TIMEOUT_SECONDS = 30


@dataclass(frozen=True, slots=True)
class MerchantAccount:
    phone: str
    account_id: str
    api_key: str


@dataclass
class Platform:
    """What the users of this process share."""

    merchants: list[MerchantAccount] = field(default_factory=list)
    operator_token: str = ""


class SetupError(Exception):
    pass


def _call(
    host: str, method: str, path: str, body: dict[str, Any] | None = None, token: str = ""
) -> Any:
    request = urllib.request.Request(
        host.rstrip("/") + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as error:
        raise SetupError(f"{method} {path}: {error.code} {error.read().decode()[:300]}") from None
    return json.loads(text) if text else None


def _log_in(host: str, phone: str, password: str) -> str:
    answer = _call(host, "POST", "/v1/auth/login", {"phone": phone, "password": password})
    return str(answer["access_token"])


def phone_proof(host: str, phone: str) -> dict[str, str]:
    """A registration's phone verification, its code read from the dev gateway's fake SMS
    outbox (GET /v1/dev/sms exists only under COLONY_ENV=dev, which load tests run in)."""
    started = _call(host, "POST", "/v1/auth/phone-verifications", {"phone": phone})
    outbox = _call(host, "GET", f"/v1/dev/sms?phone={phone}")
    code = SMS_CODE.search(outbox["messages"][-1])
    if code is None:
        raise SetupError(f"the SMS to {phone} carried no code")
    return {"verification_id": str(started["verification_id"]), "verification_code": code[0]}


def _new_merchant(host: str, index: int) -> MerchantAccount:
    phone = new_phone()
    registered = _call(
        host,
        "POST",
        "/v1/auth/register",
        {
            "phone": phone,
            "password": MERCHANT_PASSWORD,
            "account_type": "merchant",
            "merchant_name": f"Load Test Shop {index}",
            "business_licence": "91330100MA2LOADT01",
            **phone_proof(host, phone),
        },
    )
    token = _log_in(host, phone, MERCHANT_PASSWORD)
    key = _call(host, "POST", "/v1/merchant/api-keys", token=token)
    return MerchantAccount(phone, str(registered["account_id"]), str(key["api_key"]))


def _operator_token(host: str) -> str:
    """A token of the demo operator once their grant has landed; "" if there is none.

    /readyz answers before `make run` has loaded the demo data, and the operator is granted
    (colony operator grant) after being registered: a token taken in between carries no
    operator role, so this waits for one that does (bounded).
    """
    deadline = time.monotonic() + OPERATOR_GRANT_WAIT_SECONDS
    while True:
        try:
            token = _log_in(host, OPERATOR_PHONE, OPERATOR_PASSWORD)
            if "operator" in _call(host, "GET", "/v1/me", token=token).get("roles", []):
                return token
        except SetupError:
            pass  # not registered yet, or no demo operator on this platform
        if time.monotonic() > deadline:
            return ""  # no operator on this platform: no operator user
        time.sleep(1.0)


def prepare_platform(platform: Platform, host: str, *, hot: bool) -> None:
    """Register the merchants and log the operator in (idempotent per process)."""
    if platform.merchants:
        return
    platform.merchants = [_new_merchant(host, index) for index in range(MERCHANTS)]
    platform.operator_token = _operator_token(host)
    if hot and platform.operator_token:
        _call(
            host,
            "PUT",
            f"/v1/admin/accounts/{platform.merchants[0].account_id}/hot",
            {"hot_shards": HOT_SHARDS},
            token=platform.operator_token,
        )
