"""Request bodies as pydantic models: strict, closed, their reasons, and their schemas."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

import pytest
from pydantic import Field

from chassis.errors import InvalidArgument
from gateway.edge.bodies import (
    AmountFen,
    Body,
    Currency,
    Moment,
    Phone,
    body_schemas,
    one_of,
    parse_body,
)
from gateway.edge.routes.accounts import (
    LoginRequest,
    MerchantRegistration,
    PersonalRegistration,
    parse_registration,
)


class Payment(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {"amount_fen": "INVALID_AMOUNT"}

    amount_fen: AmountFen
    to_phone: Phone
    memo: Annotated[str, Field(max_length=8)] = ""


def refusal(body: Any) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as raised:
        parse_body(Payment, body)
    return raised.value


def test_a_valid_body_reads_as_the_model() -> None:
    payment = parse_body(Payment, {"amount_fen": 1234, "to_phone": "13800138000"})
    assert (payment.amount_fen, payment.to_phone, payment.memo) == (1234, "13800138000", "")


@pytest.mark.parametrize("amount", [12.0, 12.5, "12", True, 0, -1, 10**18, None])
def test_money_is_a_json_integer_in_range_and_nothing_else(amount: Any) -> None:
    refused = refusal({"amount_fen": amount, "to_phone": "13800138000"})
    assert refused.reason == "INVALID_AMOUNT"
    assert refused.metadata == {"field": "amount_fen"}


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"amount_fen": 1, "to_phone": "13800138000", "from": "x"}, "from", "unknown field"),
        ({"to_phone": "13800138000"}, "amount_fen", "is required"),
        ({"amount_fen": 1, "to_phone": "13800138000\n"}, "to_phone", "pattern"),
        ({"amount_fen": 1, "to_phone": "13800138000", "memo": "x" * 9}, "memo", "at most"),
    ],
)
def test_each_problem_names_its_field(body: Any, field: str, detail: str) -> None:
    refused = refusal(body)
    assert refused.metadata == {"field": field}
    assert refused.reason == Payment.field_reasons.get(field, "INVALID_ARGUMENT")
    assert detail in refused.message


@pytest.mark.parametrize("body", [[], "x", 1, None])
def test_a_body_that_is_not_an_object_is_refused(body: Any) -> None:
    assert "JSON object" in refusal(body).message


def test_the_schema_states_every_constraint_without_generated_titles() -> None:
    schema = body_schemas(Payment)["Payment"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["amount_fen", "to_phone"]
    amount = schema["properties"]["amount_fen"]
    assert (amount["type"], amount["minimum"], amount["format"]) == ("integer", 1, "int64")
    assert schema["properties"]["to_phone"]["pattern"] == "^1[3-9][0-9]{9}$"
    assert schema["properties"]["memo"] == {"default": "", "maxLength": 8, "type": "string"}
    assert "title" not in str(schema)


def test_registration_picks_its_model_by_account_type() -> None:
    base = {
        "phone": "13800138000",
        "password": "correct horse",
        "verification_id": "pv_" + "a" * 32,
        "verification_code": "123456",
    }
    personal, proof = parse_registration(
        {**base, "real_name": "张三", "resident_id": "11010519491231002x"}
    )
    assert personal.holder.resident_id == "11010519491231002X"  # type: ignore[union-attr]
    assert (proof.verification_id, proof.code) == ("pv_" + "a" * 32, "123456")
    merchant, _ = parse_registration(
        {**base, "account_type": "merchant", "merchant_name": "茶铺", "business_licence": "L1"}
    )
    assert merchant.account_type.value == "merchant"
    for bad in (
        {**base, "account_type": {}},  # a 500 once (issue 21 item 13)
        {**base, "account_type": "merchant", "real_name": "张三", "resident_id": "x"},
        {**base, "real_name": "张三", "resident_id": "110105194912310021"},  # bad check char
        {**base, "real_name": " ", "resident_id": "11010519491231002X"},
    ):
        with pytest.raises(InvalidArgument):
            parse_registration(bad)


def test_the_registration_schema_is_one_of_its_two_models() -> None:
    schemas = body_schemas(PersonalRegistration, MerchantRegistration, LoginRequest)
    assert schemas["MerchantRegistration"]["required"] == [
        "phone",
        "password",
        "verification_id",
        "verification_code",
        "account_type",
        "merchant_name",
        "business_licence",
    ]
    assert schemas["PersonalRegistration"]["properties"]["account_type"]["default"] == "personal"
    assert schemas["LoginRequest"]["properties"]["password"]["format"] == "password"


class Window(Body):
    opens_at: Moment
    kind: Annotated[str, one_of(["court", "partner"])]
    currency: Currency = "CNY"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T08:00:00+08:00", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01t00:00:00z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01 00:00:00.123456789Z", datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_a_moment_is_rfc_3339_with_its_offset(text: str, expected: datetime) -> None:
    assert parse_body(Window, {"opens_at": text, "kind": "court"}).opens_at == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T00:00:00",  # no offset: a wall-clock time, not a moment
        "2026-13-01T00:00:00Z",
        "20260101T000000Z",  # ISO 8601 basic format, not RFC 3339
        "2026-01-01T00:00:00Z\n",
        1767225600,
        None,
    ],
)
def test_anything_else_is_no_moment(text: Any) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_body(Window, {"opens_at": text, "kind": "court"})
    assert raised.value.metadata == {"field": "opens_at"}


def test_one_of_is_an_enum_in_the_schema_and_a_rule_in_the_model() -> None:
    schema = body_schemas(Window)["Window"]["properties"]
    assert schema["kind"]["enum"] == ["court", "partner"]
    assert schema["opens_at"]["format"] == "date-time"
    assert schema["currency"] == {
        "const": "CNY",
        "default": "CNY",
        "description": "ISO 4217 code of the amount; CNY is the one supported.",
        "type": "string",
    }
    for kind in ("gossip", "court ", "Court", 1):
        with pytest.raises(InvalidArgument) as raised:
            parse_body(Window, {"opens_at": "2026-01-01T00:00:00Z", "kind": kind})
        assert raised.value.metadata == {"field": "kind"}
    with pytest.raises(InvalidArgument):
        parse_body(Window, {"opens_at": "2026-01-01T00:00:00Z", "kind": "court", "currency": "USD"})


def test_fields_sent_are_what_the_request_named_and_no_defaults() -> None:
    body = {"opens_at": "2026-01-01T00:00:00Z", "kind": "court"}
    assert parse_body(Window, body).fields_sent() == {
        "opens_at": "2026-01-01T00:00:00Z",
        "kind": "court",
    }
    assert parse_body(Window, {**body, "currency": "CNY"}).fields_sent()["currency"] == "CNY"
