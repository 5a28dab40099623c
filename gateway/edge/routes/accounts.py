"""Accounts: register (identity + payment account), log in, and who the caller is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, ClassVar, Literal

from aiohttp import web
from pydantic import Field

from chassis.errors import Unauthenticated
from chassis.identifiers import validate_resident_id
from gateway.edge.authentication import CALLER, Authenticator
from gateway.edge.bodies import (
    RESIDENT_ID_PATTERN,
    Body,
    Phone,
    body_schemas,
    parse_body,
    read_body,
)
from gateway.edge.identities import AccountType
from gateway.edge.login_throttle import LoginThrottle
from gateway.edge.openapi import schema_ref
from gateway.edge.passwords import PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN
from gateway.edge.payloads import read_json
from gateway.edge.phone_verification import RESEND_AFTER, FakeSmsChannel, PhoneVerifications
from gateway.edge.registration import (
    MerchantDetails,
    PersonalDetails,
    Registration,
    RegistrationApplication,
)
from gateway.edge.representations import json_response
from gateway.edge.routing import AuthScheme, QueryParameter, Route

NAME_LENGTH_MAX = 64
BUSINESS_LICENCE_LENGTH_MAX = 64

Password = Annotated[
    str,
    Field(
        min_length=PASSWORD_LENGTH_MIN,
        max_length=PASSWORD_LENGTH_MAX,
        json_schema_extra={"format": "password"},
    ),
]
VerificationId = Annotated[
    str,
    Field(
        pattern=r"^pv_[0-9a-f]{32}$",
        description="From POST /v1/auth/phone-verifications for this phone.",
    ),
]
VerificationCode = Annotated[
    str, Field(pattern=r"^[0-9]{6}$", description="The 6-digit code the SMS carried.")
]
Name = Annotated[str, Field(min_length=1, max_length=NAME_LENGTH_MAX, pattern=r"[^\s\u0085\ufeff]")]


class PersonalRegistration(Body):
    """A personal account: a real name and a resident id (KYC, DOMAIN.md §1)."""

    field_reasons: ClassVar[Mapping[str, str]] = {
        "phone": "INVALID_PHONE",
        "resident_id": "INVALID_RESIDENT_ID",
    }

    phone: Phone
    password: Password
    verification_id: VerificationId
    verification_code: VerificationCode
    account_type: Literal["personal"] = "personal"
    real_name: Name
    resident_id: Annotated[
        str,
        Field(
            pattern=RESIDENT_ID_PATTERN,
            description="18-character resident identity number; its date and check "
            "character (GB 11643) are validated too. Declared here, whoever else declared "
            "it (the answer is the same); claimed once proven, by binding a bank card the "
            "bank confirms in this name (POST /v1/wallet/cards).",
        ),
    ]


class MerchantRegistration(Body):
    """A merchant account: the business's name and licence."""

    field_reasons: ClassVar[Mapping[str, str]] = {"phone": "INVALID_PHONE"}

    phone: Phone
    password: Password
    verification_id: VerificationId
    verification_code: VerificationCode
    account_type: Literal["merchant"]
    merchant_name: Name
    business_licence: Annotated[
        str,
        Field(min_length=1, max_length=BUSINESS_LICENCE_LENGTH_MAX, pattern=r"[^\s\u0085\ufeff]"),
    ]


class PhoneVerificationRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {"phone": "INVALID_PHONE"}

    phone: Phone


class LoginRequest(Body):
    # Any phone-length string: a malformed phone is simply a phone nobody registered,
    # answered like a wrong password.
    phone: Annotated[str, Field(min_length=1, max_length=32)]
    password: Annotated[
        str,
        Field(
            min_length=1, max_length=PASSWORD_LENGTH_MAX, json_schema_extra={"format": "password"}
        ),
    ]


SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(
        PersonalRegistration, MerchantRegistration, LoginRequest, PhoneVerificationRequest
    ),
    "PhoneVerification": {
        "type": "object",
        "required": ["verification_id", "expires_in", "resend_after"],
        "properties": {
            "verification_id": {"type": "string"},
            "expires_in": {"type": "integer", "description": "Seconds the code lives."},
            "resend_after": {
                "type": "integer",
                "description": "Seconds before this phone may be sent another code.",
            },
        },
    },
    "DevSmsOutbox": {
        "type": "object",
        "required": ["phone", "messages"],
        "properties": {
            "phone": {"type": "string"},
            "messages": {"type": "array", "items": {"type": "string"}},
        },
    },
    "RegisterRequest": {
        "description": (
            "A personal account (account_type personal, the default) needs real_name and "
            "resident_id; a merchant account needs merchant_name and business_licence."
        ),
        "oneOf": [schema_ref("PersonalRegistration"), schema_ref("MerchantRegistration")],
    },
    "Registration": {
        "type": "object",
        "required": ["user_id", "phone", "account_id", "account_type"],
        "properties": {
            "user_id": {"type": "string"},
            "phone": {"type": "string"},
            "account_id": {"type": "string", "description": "The user's payment account."},
            "account_type": {"type": "string", "enum": [t.value for t in AccountType]},
        },
    },
    "AccessToken": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string", "description": "A JWT for the bearer scheme."},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer", "description": "Seconds until it expires."},
        },
    },
    "Me": {
        "type": "object",
        "required": ["user_id", "phone", "account_id", "account_type", "roles"],
        "properties": {
            "user_id": {"type": "string"},
            "phone": {"type": "string"},
            "account_id": {"type": "string"},
            "account_type": {"type": "string", "enum": [t.value for t in AccountType]},
            "roles": {"type": "array", "items": {"type": "string"}},
        },
    },
}


@dataclass(frozen=True, slots=True)
class VerificationProof:
    verification_id: str
    code: str


def parse_registration(body: object) -> tuple[RegistrationApplication, VerificationProof]:
    """The registration a request body asks for, or a 400 refusal.

    Everything that can be checked here is, before the password is hashed: the body's shape
    (the models), then the resident id's date and checksum (chassis.identifiers, the rules the
    ledger applies).
    """
    merchant = isinstance(body, dict) and body.get("account_type") == AccountType.MERCHANT.value
    holder: PersonalDetails | MerchantDetails
    if merchant:
        as_merchant = parse_body(MerchantRegistration, body)
        model: PersonalRegistration | MerchantRegistration = as_merchant
        holder = MerchantDetails(as_merchant.merchant_name, as_merchant.business_licence)
    else:
        personal = parse_body(PersonalRegistration, body)
        model = personal
        holder = PersonalDetails(personal.real_name, validate_resident_id(personal.resident_id))
    application = RegistrationApplication(phone=model.phone, password=model.password, holder=holder)
    return application, VerificationProof(model.verification_id, model.verification_code)


class AccountRoutes:
    """Phone verification, register, log in, who the caller is; the dev SMS outbox."""

    def __init__(
        self,
        registration: Registration,
        authenticator: Authenticator,
        login_throttle: LoginThrottle,
        verifications: PhoneVerifications,
        dev_sms: FakeSmsChannel | None = None,
    ) -> None:
        self._registration = registration
        self._authenticator = authenticator
        self._login_throttle = login_throttle
        self._verifications = verifications
        self._dev_sms = dev_sms

    def routes(self) -> list[Route]:
        return [*self._account_routes(), *self._dev_routes()]

    def _dev_routes(self) -> list[Route]:
        if self._dev_sms is None:
            return []
        return [
            Route(
                "GET",
                "/v1/dev/sms",
                self.dev_sms,
                operation_id="getDevSmsOutbox",
                summary="DEV ONLY: the fake SMS gateway's last messages to a phone",
                tag="development",
                query_parameters=(
                    QueryParameter("phone", {"type": "string"}, "The phone the SMS went to."),
                ),
                response_schema="DevSmsOutbox",
            )
        ]

    def _account_routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                "/v1/auth/phone-verifications",
                self.start_phone_verification,
                operation_id="startPhoneVerification",
                summary="Send a registration code to a phone by SMS",
                tag="accounts",
                request_schema="PhoneVerificationRequest",
                response_schema="PhoneVerification",
                response_status=HTTPStatus.ACCEPTED,
                response_description="Sent (the same answer whether or not the phone is "
                "registered).",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_PHONE",),
                    HTTPStatus.TOO_MANY_REQUESTS: ("RATE_LIMITED",),
                },
            ),
            Route(
                "POST",
                "/v1/auth/register",
                self.register,
                operation_id="register",
                summary="Register a phone and open its payment account",
                tag="accounts",
                request_schema="RegisterRequest",
                response_schema="Registration",
                response_status=HTTPStatus.CREATED,
                response_description="Registered (also the answer to a retry that finishes one).",
                problems={
                    HTTPStatus.BAD_REQUEST: (
                        "INVALID_PHONE",
                        "INVALID_RESIDENT_ID",
                        "PHONE_NOT_VERIFIED",
                    ),
                    HTTPStatus.CONFLICT: ("ALREADY_REGISTERED",),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
            ),
            Route(
                "POST",
                "/v1/auth/login",
                self.log_in,
                operation_id="logIn",
                summary="Exchange phone and password for an access token",
                tag="accounts",
                request_schema="LoginRequest",
                response_schema="AccessToken",
                problems={
                    HTTPStatus.UNAUTHORIZED: ("UNAUTHENTICATED",),
                    HTTPStatus.TOO_MANY_REQUESTS: ("RATE_LIMITED",),
                },
            ),
            Route(
                "GET",
                "/v1/me",
                self.me,
                operation_id="getMe",
                summary="The caller's identity and payment account",
                tag="accounts",
                auth=(AuthScheme.BEARER,),
                response_schema="Me",
            ),
        ]

    async def start_phone_verification(self, request: web.Request) -> web.Response:
        phone = (await read_body(request, PhoneVerificationRequest)).phone
        registered = await self._registration.is_registered(phone)
        verification_id, lifetime = await self._verifications.start(phone, registered)
        return json_response(
            {
                "verification_id": verification_id,
                "expires_in": int(lifetime.total_seconds()),
                "resend_after": int(RESEND_AFTER.total_seconds()),
            },
            status=HTTPStatus.ACCEPTED,
        )

    async def dev_sms(self, request: web.Request) -> web.Response:
        assert self._dev_sms is not None
        phone = request.query.get("phone", "")
        return json_response({"phone": phone, "messages": self._dev_sms.messages(phone)})

    async def register(self, request: web.Request) -> web.Response:
        application, proof = parse_registration(await read_json(request))
        # Before the password is hashed: an unproven phone costs the gateway one read.
        await self._verifications.check(proof.verification_id, application.phone, proof.code)
        identity = await self._registration.register(application)
        return json_response(
            {
                "user_id": identity.user_id,
                "phone": identity.phone,
                "account_id": identity.account_id,
                "account_type": identity.account_type.value,
            },
            status=HTTPStatus.CREATED,
        )

    async def log_in(self, request: web.Request) -> web.Response:
        body = await read_body(request, LoginRequest)
        phone, password = body.phone, body.password
        address = request.remote or "unknown"
        await self._login_throttle.check(phone, address)
        try:
            token = await self._authenticator.log_in(phone=phone, password=password)
        except Unauthenticated:
            await self._login_throttle.record_failure(phone, address)
            raise
        await self._login_throttle.record_success(phone)
        return json_response(
            {
                "access_token": token.access_token,
                "token_type": "Bearer",
                "expires_in": token.expires_in_seconds,
            }
        )

    async def me(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        return json_response(
            {
                "user_id": caller.user_id,
                "phone": caller.phone,
                "account_id": caller.account_id,
                "account_type": caller.account_type.value,
                "roles": list(caller.roles),
            }
        )
