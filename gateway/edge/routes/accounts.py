"""Accounts: register (identity + payment account), log in, and who the caller is."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.errors import InvalidArgument, Unauthenticated
from chassis.identifiers import validate_phone, validate_resident_id
from gateway.edge.authentication import CALLER, Authenticator
from gateway.edge.identities import AccountType
from gateway.edge.login_throttle import LoginThrottle
from gateway.edge.passwords import (
    PASSWORD_LENGTH_MAX,
    PASSWORD_LENGTH_MIN,
    require_acceptable_password,
)
from gateway.edge.payloads import read_json_object, require_text
from gateway.edge.registration import (
    MerchantDetails,
    PersonalDetails,
    Registration,
    RegistrationApplication,
)
from gateway.edge.representations import json_response
from gateway.edge.routing import AuthScheme, Route

PHONE_LENGTH_MAX = 32
NAME_LENGTH_MAX = 64
RESIDENT_ID_LENGTH_MAX = 32
BUSINESS_LICENCE_LENGTH_MAX = 64

_PERSONAL_FIELDS = ("real_name", "resident_id")
_MERCHANT_FIELDS = ("merchant_name", "business_licence")
REGISTER_FIELDS = ("phone", "password", "account_type", *_PERSONAL_FIELDS, *_MERCHANT_FIELDS)
LOGIN_FIELDS = ("phone", "password")

SCHEMAS: dict[str, dict[str, Any]] = {
    "RegisterRequest": {
        "type": "object",
        "description": (
            "A personal account needs real_name and resident_id; a merchant account needs "
            "merchant_name and business_licence. Fields of the other type are refused."
        ),
        "required": ["phone", "password"],
        "additionalProperties": False,
        "properties": {
            "phone": {
                "type": "string",
                "description": "11-digit mainland mobile number.",
                "example": "13800138000",
            },
            "password": {
                "type": "string",
                "minLength": PASSWORD_LENGTH_MIN,
                "maxLength": PASSWORD_LENGTH_MAX,
                "format": "password",
            },
            "account_type": {
                "type": "string",
                "enum": [t.value for t in AccountType],
                "default": AccountType.PERSONAL.value,
            },
            "real_name": {"type": "string", "maxLength": NAME_LENGTH_MAX},
            "resident_id": {
                "type": "string",
                "description": "18-character resident identity number (checksum validated).",
            },
            "merchant_name": {"type": "string", "maxLength": NAME_LENGTH_MAX},
            "business_licence": {"type": "string", "maxLength": BUSINESS_LICENCE_LENGTH_MAX},
        },
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
    "LoginRequest": {
        "type": "object",
        "required": ["phone", "password"],
        "additionalProperties": False,
        "properties": {
            "phone": {"type": "string"},
            "password": {"type": "string", "format": "password"},
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


def _refuse_fields_of_other_type(body: dict[str, Any], fields: tuple[str, ...], kind: str) -> None:
    present = [field for field in fields if field in body]
    if present:
        raise InvalidArgument(
            f"{', '.join(present)} do not apply to a {kind} account",
            metadata={"field": present[0]},
        )


def parse_registration(body: dict[str, Any]) -> RegistrationApplication:
    """The registration a request body asks for, or a 400 refusal.

    Everything that can be checked here is, before the password is hashed: the phone's and
    the resident id's formats and checksum (chassis.identifiers, the rules the ledger applies).
    """
    phone = validate_phone(require_text(body, "phone", PHONE_LENGTH_MAX))
    password = body.get("password")
    if not isinstance(password, str):
        raise InvalidArgument("password is required", metadata={"field": "password"})
    require_acceptable_password(password)
    account_type_text = body.get("account_type", AccountType.PERSONAL.value)
    if account_type_text not in {t.value for t in AccountType}:
        raise InvalidArgument(
            'account_type must be "personal" or "merchant"', metadata={"field": "account_type"}
        )
    holder: PersonalDetails | MerchantDetails
    if AccountType(account_type_text) is AccountType.PERSONAL:
        _refuse_fields_of_other_type(body, _MERCHANT_FIELDS, "personal")
        holder = PersonalDetails(
            real_name=require_text(body, "real_name", NAME_LENGTH_MAX),
            resident_id=validate_resident_id(
                require_text(body, "resident_id", RESIDENT_ID_LENGTH_MAX)
            ),
        )
    else:
        _refuse_fields_of_other_type(body, _PERSONAL_FIELDS, "merchant")
        holder = MerchantDetails(
            merchant_name=require_text(body, "merchant_name", NAME_LENGTH_MAX),
            business_licence=require_text(body, "business_licence", BUSINESS_LICENCE_LENGTH_MAX),
        )
    return RegistrationApplication(phone=phone, password=password, holder=holder)


class AccountRoutes:
    """POST /v1/auth/register, POST /v1/auth/login, GET /v1/me."""

    def __init__(
        self,
        registration: Registration,
        authenticator: Authenticator,
        login_throttle: LoginThrottle,
    ) -> None:
        self._registration = registration
        self._authenticator = authenticator
        self._login_throttle = login_throttle

    def routes(self) -> list[Route]:
        return [
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
                    HTTPStatus.BAD_REQUEST: ("INVALID_PHONE", "INVALID_RESIDENT_ID"),
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

    async def register(self, request: web.Request) -> web.Response:
        body = await read_json_object(request, REGISTER_FIELDS)
        identity = await self._registration.register(parse_registration(body))
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
        body = await read_json_object(request, LOGIN_FIELDS)
        phone = require_text(body, "phone", PHONE_LENGTH_MAX)
        password = require_text(body, "password", PASSWORD_LENGTH_MAX)
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
