"""What `make run` shows a person (infra.console): short lines, no background noise."""

from __future__ import annotations

import json

from infra.console import render

TS = "2026-12-05T19:12:30.116+00:00"


def line(**fields: object) -> str:
    return json.dumps({"ts": TS, "level": "INFO", "service": "colony-payment", **fields})


def test_a_request_is_one_short_line_and_probes_are_not_shown() -> None:
    request = line(
        logger="aiohttp.access",
        msg='127.0.0.1 [05/Dec/2026:19:12:29 +0000] "POST /v1/transfers HTTP/1.1" 201 276',
        first_request_line="POST /v1/transfers HTTP/1.1",
        response_status=201,
    )
    assert render(request) == "19:12:30  POST /v1/transfers  201"
    for probe in ("GET /readyz HTTP/1.1", "GET /healthz HTTP/1.1", "GET /metrics HTTP/1.1"):
        assert render(line(logger="aiohttp.access", msg="x", first_request_line=probe)) is None


def test_an_rpc_shows_its_name_outcome_and_duration_but_health_and_feeds_do_not() -> None:
    rpc = line(
        msg="rpc",
        method="/colony.payment.v1.PaymentService/Transfer",
        outcome="OK",
        duration_ms=12.3,
    )
    assert render(rpc) == "19:12:30  rpc Transfer OK 12.3 ms"
    for quiet in ("/grpc.health.v1.Health/Check", "/colony.payment.v1.PaymentService/StreamEvents"):
        assert render(line(msg="rpc", method=quiet, outcome="OK", duration_ms=1)) is None


def test_warnings_keep_their_level_and_details() -> None:
    warning = json.dumps(
        {"ts": TS, "level": "WARNING", "logger": "colony.feeds", "msg": "feed broke", "feed": "x"}
    )
    assert render(warning) == "19:12:30  WARN  feed broke  (feed=x)"


def test_a_feed_that_is_caught_up_is_quiet_and_one_behind_is_shown() -> None:
    assert render(line(msg="feed lag", feed="payment", events_behind=0, seconds_behind=0)) is None
    behind = line(msg="feed lag", feed="payment", events_behind=12, seconds_behind=0.8)
    assert render(behind) == "19:12:30  feed payment is 12 events, 0.8 s behind"


def test_a_line_that_is_not_json_is_shown_as_it_is() -> None:
    assert render("Traceback (most recent call last):") == "Traceback (most recent call last):"
