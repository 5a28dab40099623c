"""Proving a phone before it is registered: a 6-digit code sent by SMS (issue 21 item 5).

``POST /v1/auth/phone-verifications {"phone"}`` sends a code and answers a verification id —
the same answer whether or not the phone is registered, so the step tells a prober nothing
(a registered phone's owner is told so in the message instead). The registration then names
the verification and its code; only the phone's holder can have read it. Until then a phone
cannot be claimed, and the first comer cannot squat on somebody else's number.

The collection ``phone_verifications``: ``{_id: verification id, phone, code_sha256,
created_at, expires_at, failed_attempts, purge_at (TTL, chassis.retention)}``. A code lives
10 minutes and survives 5 wrong tries; a right code may be presented again until it expires
(a registration that failed halfway is retried with the same verification). A phone gets a
new code at most once a minute (429 RATE_LIMITED with Retry-After), so the step cannot be
used to flood a phone.

The SMS gateway is a port (SmsChannel). A deployment provides its adapter by import path
(COLONY_SMS_CHANNEL=package.module:factory, gateway.settings); the one shipped is
FakeSmsChannel — a named fake that keeps the messages in memory for the dev outbox
(``GET /v1/dev/sms``) and the tests, allowed only with COLONY_ENV=dev.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import logging
import math
import secrets
import uuid
from collections import OrderedDict, deque
from datetime import timedelta
from typing import Any, Protocol, cast

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import Clock
from chassis.errors import InvalidArgument
from chassis.retention import PURGE_FIELD, ensure_purge_index, purge_at
from gateway.edge.identities import mask_phone
from gateway.edge.rate_limits import RateLimited

log = logging.getLogger("colony.gateway.edge.phone_verification")

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
RESEND_AFTER = timedelta(minutes=1)
FAILED_ATTEMPTS_MAX = 5


class SmsChannel(Protocol):
    """The port to an SMS gateway: deliver one text to one mainland mobile number."""

    async def send(self, phone: str, text: str) -> None: ...


class FakeSmsChannel:
    """A FAKE SMS gateway for dev and tests: nothing leaves the process.

    It keeps the last few messages per phone (bounded) so a developer can read a code from
    the dev outbox and tests can read it directly. It never logs a code.
    """

    MESSAGES_PER_PHONE = 5
    PHONES_MAX = 10_000

    def __init__(self) -> None:
        self._outbox: OrderedDict[str, deque[str]] = OrderedDict()

    async def send(self, phone: str, text: str) -> None:
        messages = self._outbox.pop(phone, deque(maxlen=self.MESSAGES_PER_PHONE))
        messages.append(text)
        self._outbox[phone] = messages
        if len(self._outbox) > self.PHONES_MAX:
            self._outbox.popitem(last=False)
        log.info("fake SMS kept for the dev outbox", extra={"phone_masked": mask_phone(phone)})

    def messages(self, phone: str) -> list[str]:
        """The phone's messages, newest last."""
        return list(self._outbox.get(phone, ()))

    def last_code(self, phone: str) -> str:
        """The code in the phone's newest message (tests and the dev outbox)."""
        messages = self.messages(phone)
        if not messages:
            raise LookupError(f"no SMS for {mask_phone(phone)}")
        return code_in(messages[-1])


def code_in(text: str) -> str:
    """The verification code a message carries (its only run of CODE_DIGITS digits)."""
    digits = [word.strip(".,:;") for word in text.split()]
    return next(word for word in digits if word.isdigit() and len(word) == CODE_DIGITS)


def _digest(verification_id: str, code: str) -> str:
    return hashlib.sha256(f"{verification_id}:{code}".encode()).hexdigest()


def phone_not_verified(detail: str) -> InvalidArgument:
    return InvalidArgument(
        detail, reason="PHONE_NOT_VERIFIED", metadata={"field": "verification_code"}
    )


class PhoneVerifications:
    """Start a verification (send a code) and check one (before a registration)."""

    def __init__(
        self, collection: AsyncCollection[dict[str, Any]], sms: SmsChannel, clock: Clock
    ) -> None:
        self._collection = collection
        self._sms = sms
        self._clock = clock

    @property
    def dev_outbox(self) -> FakeSmsChannel | None:
        """The fake SMS gateway when that is what sends (dev and tests), for its outbox route."""
        return self._sms if isinstance(self._sms, FakeSmsChannel) else None

    async def ensure_indexes(self) -> None:
        await ensure_purge_index(
            self._collection, replaces={"expire": ("expires_at", timedelta(0))}
        )
        await self._collection.create_index(
            [("phone", ASCENDING), ("created_at", DESCENDING)], name="phone_newest"
        )

    async def start(self, phone: str, registered: bool) -> tuple[str, timedelta]:
        """Send a new code to the phone: (verification id, its lifetime)."""
        now = self._clock.now()
        newest = await self._collection.find_one(
            {"phone": phone, "created_at": {"$gt": now - RESEND_AFTER}},
            sort=[("created_at", DESCENDING)],
        )
        if newest is not None:
            wait = newest["created_at"] + RESEND_AFTER - now
            raise RateLimited(
                "a code was sent to this phone a moment ago; wait before asking again",
                math.ceil(wait.total_seconds()),
            )
        verification_id = "pv_" + uuid.uuid4().hex
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        await self._collection.insert_one(
            {
                "_id": verification_id,
                "phone": phone,
                "code_sha256": _digest(verification_id, code),
                "created_at": now,
                "expires_at": now + CODE_LIFETIME,
                "failed_attempts": 0,
                PURGE_FIELD: purge_at(self._clock, now + CODE_LIFETIME),
            }
        )
        minutes = int(CODE_LIFETIME.total_seconds() // 60)
        if registered:
            text = (
                f"Colony: your code is {code}. This phone already has a Colony account: "
                "log in instead. If you did not ask, ignore this message."
            )
        else:
            text = f"Colony: your code is {code}, valid {minutes} minutes. Never share it."
        await self._sms.send(phone, text)
        return verification_id, CODE_LIFETIME

    async def check(self, verification_id: str, phone: str, code: str) -> None:
        """Refuse (400 PHONE_NOT_VERIFIED) unless the code is the verification's, for phone.

        Each try first takes one of the verification's attempts (atomically), and a right
        code gives it back: concurrent guesses can never spend more than the attempts there
        are, and the owner's own retries never use them up.
        """
        now = self._clock.now()
        document = await self._collection.find_one_and_update(
            {
                "_id": verification_id,
                "phone": phone,
                "expires_at": {"$gt": now},
                "failed_attempts": {"$lt": FAILED_ATTEMPTS_MAX},
            },
            {"$inc": {"failed_attempts": 1}},
        )
        if document is None:
            raise phone_not_verified(
                "no live verification of this phone with that id: ask for a new code"
            )
        if not hmac.compare_digest(document["code_sha256"], _digest(verification_id, code)):
            raise phone_not_verified("the verification code is not the one sent to this phone")
        await self._collection.update_one(
            {"_id": verification_id}, {"$inc": {"failed_attempts": -1}}
        )


FAKE_SMS_CHANNEL = "fake"


def load_sms_channel(spec: str, environment: str) -> SmsChannel:
    """The SMS adapter COLONY_SMS_CHANNEL names: "fake" (dev only) or "package.module:factory".

    A deployment provides the adapter to its SMS gateway as an importable factory returning an
    object with ``async send(phone, text)``; there is no default outside dev, so a production
    gateway never runs with codes that go nowhere.
    """
    if spec == FAKE_SMS_CHANNEL:
        if environment != "dev":
            raise SystemExit("COLONY_SMS_CHANNEL=fake sends nothing: only with COLONY_ENV=dev")
        return FakeSmsChannel()
    if not spec:
        raise SystemExit(
            "COLONY_SMS_CHANNEL is required outside dev: the import path of your SMS "
            "gateway's adapter, package.module:factory (docs/security.md)"
        )
    module_name, _, factory_name = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), factory_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise SystemExit(f"COLONY_SMS_CHANNEL={spec!r} cannot be loaded: {error}") from None
    channel = factory()
    if not callable(getattr(channel, "send", None)):
        raise SystemExit(f"COLONY_SMS_CHANNEL={spec!r} made an object without send()")
    return cast(SmsChannel, channel)
