"""The log-secrets detector finds what it must (so the end-to-end test can fail) and no more."""

from __future__ import annotations

import json

from tests.log_secrets import find_secrets

KNOWN = {
    "password": "correct horse 1",
    "payment password": "503917",
    "card number": "6222020200112233446",
    "resident id": "110105194912300075",
}
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEyMyIsImV4cCI6MX0.c2lnbmF0dXJlLWJ5dGVz"
)


def line(**fields: object) -> str:
    return json.dumps({"ts": "2026-12-05T21:00:00.000+00:00", "level": "INFO", **fields})


def test_a_clean_line_has_no_finding() -> None:
    clean = [
        line(msg="rpc", method="/colony.payment.v1.PaymentService/TopUp", duration_ms=12.5),
        line(
            msg="registered", resident_id_masked="1101**********0075", account_id="2188000000000001"
        ),
        line(msg="trace", trace_id="4bf92f3577b34da6a3ce929d0e0e4736", amount_fen=503917000),
    ]
    assert find_secrets(clean, KNOWN, api_key_prefix="ck_live_") == []


def test_each_planted_secret_is_found() -> None:
    planted = {
        "known password": line(msg="login", body={"password": "correct horse 1"}),
        "known payment password": line(msg="set", new_password="503917"),
        "known card number": line(msg="topup", bank_card_number="6222020200112233446"),
        "known resident id": line(msg="kyc", resident_id="110105194912300075"),
        "JWT": line(msg="auth", token=JWT),
        "Authorization credentials": line(
            headers={"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz"}
        ),
        "API key": line(msg="key", api_key="ck_live_Q2xvdWQtbmF0aXZlLXRlc3Qta2V5"),
        "18-character id or payment code": line(msg="charge", code="281234567890123456"),
    }
    for what, planted_line in planted.items():
        found = {
            finding.what
            for finding in find_secrets([planted_line], KNOWN, api_key_prefix="ck_live_")
        }
        assert what in found, f"{what} not found in {planted_line}"


def test_findings_name_the_line() -> None:
    lines = [line(msg="fine"), line(msg="oops", password="correct horse 1")]
    [finding] = find_secrets(lines, KNOWN)
    assert (finding.line_number, finding.what) == (2, "known password")
