"""Registration: an identity in the gateway and a real-name account in the payment ledger.

The two live in different databases, so registration is a small saga made safe to retry:
1. write the identity "pending" under a new user_id (the unique phone index decides races);
2. open the payment account with idempotency key "register:<user_id>" and owner_ref user_id,
   so however often this step is repeated, the ledger opens one account for the user;
3. mark the identity "active" with that account id.
A retry after a failure at any point (same phone, same password) finds the pending identity
and repeats steps 2-3, ending with exactly one identity and one payment account.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from chassis.clock import Clock
from chassis.errors import AlreadyExists, DomainError, ErrorKind, Unavailable
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.identities import (
    ROLES_BY_ACCOUNT_TYPE,
    AccountType,
    Identity,
    IdentityState,
    IdentityStore,
    mask_phone,
)
from gateway.edge.passwords import PasswordHasher

log = logging.getLogger("colony.gateway.edge.registration")


@dataclass(frozen=True, slots=True)
class PersonalDetails:
    """Real-name (KYC) details of a personal account; the ledger validates them."""

    real_name: str
    resident_id: str


@dataclass(frozen=True, slots=True)
class MerchantDetails:
    merchant_name: str
    business_licence: str


@dataclass(frozen=True, slots=True)
class RegistrationApplication:
    phone: str
    password: str
    holder: PersonalDetails | MerchantDetails

    @property
    def account_type(self) -> AccountType:
        if isinstance(self.holder, PersonalDetails):
            return AccountType.PERSONAL
        return AccountType.MERCHANT


# Answers after which the account may or may not exist (the call may still land).
_UNSETTLED_KINDS = frozenset({ErrorKind.UNAVAILABLE, ErrorKind.ABORTED})


def payment_idempotency_key(user_id: str) -> str:
    """The key of the account-opening call: one per user, whatever the number of retries."""
    return f"register:{user_id}"


def _already_registered(detail: str) -> AlreadyExists:
    return AlreadyExists(detail, reason="ALREADY_REGISTERED")


class Registration:
    """The registration use case over the identity store and the payment ledger."""

    def __init__(
        self,
        identities: IdentityStore,
        payment: PaymentClient,
        passwords: PasswordHasher,
        clock: Clock,
    ) -> None:
        self._identities = identities
        self._payment = payment
        self._passwords = passwords
        self._clock = clock

    async def is_registered(self, phone: str) -> bool:
        """True if an active identity holds the phone (told only to the phone, by SMS)."""
        identity = await self._identities.find_by_phone(phone)
        return identity is not None and identity.state is IdentityState.ACTIVE

    async def register(self, application: RegistrationApplication) -> Identity:
        """Register a new phone, or finish a registration that failed halfway."""
        identity = await self._claim_phone(application)
        account_id = await self._open_payment_account(identity, application)
        active = await self._identities.activate(identity.user_id, account_id)
        log.info(
            "registered",
            extra={
                "user_id": active.user_id,
                "account_type": active.account_type.value,
                "phone_masked": mask_phone(active.phone),
            },
        )
        return active

    async def _claim_phone(self, application: RegistrationApplication) -> Identity:
        """A new pending identity for the phone, or the pending one a failed attempt left."""
        account_type = application.account_type
        candidate = Identity(
            user_id=uuid.uuid4().hex,
            phone=application.phone,
            password_hash=await self._passwords.hash(application.password),
            state=IdentityState.PENDING,
            account_type=account_type,
            roles=ROLES_BY_ACCOUNT_TYPE[account_type],
            created_at=self._clock.now(),
        )
        if await self._identities.add_pending(candidate):
            return candidate
        existing = await self._identities.find_by_phone(application.phone)
        if existing is None:
            # The holder of the phone was discarded between our insert and this read.
            raise Unavailable("registration for this phone is changing; retry")
        if existing.state is IdentityState.ACTIVE:
            raise _already_registered("this phone is already registered")
        # Only the person who started the registration may finish it.
        if not await self._passwords.verify(existing.password_hash, application.password):
            raise _already_registered("a registration for this phone is already in progress")
        if existing.account_type is not account_type:
            raise _already_registered(
                f"a {existing.account_type.value} registration for this phone is in progress"
            )
        return existing

    async def _open_payment_account(
        self, identity: Identity, application: RegistrationApplication
    ) -> str:
        try:
            account = await self._request_account(identity, application)
        except DomainError as refusal:
            if refusal.kind in _UNSETTLED_KINDS:
                raise  # the account may or may not exist: the pending identity awaits a retry
            if refusal.reason == "IDEMPOTENCY_KEY_REUSED":
                # The ledger holds this user's opening call with other details: it stands.
                raise _already_registered(
                    "a registration for this phone is in progress with other details; "
                    "retry with the details first sent"
                ) from None
            # The ledger refused the details, so no account exists: free the phone.
            await self._identities.discard_pending(identity.user_id)
            raise
        assert account.owner_ref == identity.user_id, "the ledger opened someone else's account"
        return account.account_id

    async def _request_account(
        self, identity: Identity, application: RegistrationApplication
    ) -> pb.Account:
        key = payment_idempotency_key(identity.user_id)
        holder = application.holder
        if isinstance(holder, PersonalDetails):
            personal = await self._payment.open_personal_account(
                pb.OpenPersonalAccountRequest(
                    idempotency_key=key,
                    owner_ref=identity.user_id,
                    real_name=holder.real_name,
                    resident_id=holder.resident_id,
                    phone=identity.phone,
                )
            )
            return personal.account
        merchant = await self._payment.open_merchant_account(
            pb.OpenMerchantAccountRequest(
                idempotency_key=key,
                owner_ref=identity.user_id,
                merchant_name=holder.merchant_name,
                phone=identity.phone,
                business_licence=holder.business_licence,
            )
        )
        return merchant.account
