"""Request bodies as pydantic models: strict, closed, their reasons, and their schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import pytest
from pydantic import Field

from chassis.errors import InvalidArgument
from gateway.edge.bodies import AmountFen, Body, Phone, body_schemas, parse_body
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
    base = {"phone": "13800138000", "password": "correct horse"}
    personal = parse_registration(
        {**base, "real_name": "张三", "resident_id": "11010519491231002x"}
    )
    assert personal.holder.resident_id == "11010519491231002X"  # type: ignore[union-attr]
    merchant = parse_registration(
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
        "account_type",
        "merchant_name",
        "business_licence",
    ]
    assert schemas["PersonalRegistration"]["properties"]["account_type"]["default"] == "personal"
    assert schemas["LoginRequest"]["properties"]["password"]["format"] == "password"
