"""Observability end to end: the whole platform (`make run`'s six processes) exporting real OTLP.

One platform run (module fixture) with tracing to an in-process OTLP receiver, metrics on a
free port per process and JSON logs captured from every process, and one end-to-end flow:
register, log in, set a payment password, top up from a card, transfer, a Yu'e Bao
subscription (a saga across payment and wealth), wallet pay, a merchant API key, a payment
code charged by the merchant, and a refusal. Then:

- the cross-process trace: the subscription's trace is one connected tree — the gateway's
  request span, the saga span and its step spans (with the saga id), the gRPC client spans,
  the payment and wealth services' server spans and their MongoDB commands — and the credit
  service's consumption of the payment feed links back to a payment span of that trace;
- metrics: the RED series and the business series the flow moved, scraped over HTTP; and
  every metric the Grafana dashboard and docs/operations.md name is exported by some process;
- the log-secrets test: no line any process logged holds a password, token, API key,
  payment code, card number or whole resident id.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.edge.api_keys import API_KEY_PREFIX
from gateway.edge.phone_verification import code_in
from tests.e2e.platform import PROCESS_NAMES, RunningPlatform, platform_environment
from tests.log_secrets import find_secrets
from tests.otlp_receiver import (
    SPAN_KIND_CLIENT,
    SPAN_KIND_CONSUMER,
    SPAN_KIND_SERVER,
    OtlpReceiver,
    ReceivedSpan,
    ancestors,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "infra" / "compose" / "grafana" / "dashboards" / "colony.json"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
WAIT_SECONDS = 60.0

PHONE = "13700137077"
PASSWORD = "obs-test correct horse"
PAYMENT_PASSWORD = "503917"
CARD = "6222020200112233446"
RESIDENT_ID = "110105194912300075"
DEMO_PASSWORD = "colony-demo-1"
MERCHANT_PHONE = "13900139000"
TOPUP_FEN = 50_000


@dataclass
class Observed:
    """What the flow did and what the platform emitted."""

    secrets: dict[str, str] = field(default_factory=dict)
    trace_id: str = ""
    saga_id: str = ""
    refusal: dict[str, Any] = field(default_factory=dict)
    refusal_header: str = ""
    replayed_refusal: dict[str, Any] = field(default_factory=dict)
    replay_header: str = ""
    spans: list[ReceivedSpan] = field(default_factory=list)
    scrapes: dict[str, str] = field(default_factory=dict)
    log_lines: list[str] = field(default_factory=list)


class Flow:
    """The end-to-end calls, over HTTP, keeping every secret it handles."""

    def __init__(self, session: aiohttp.ClientSession, observed: Observed) -> None:
        self.session = session
        self.observed = observed

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str = "",
        api_key: str = "",
        key: str = "",
        body: dict[str, Any] | None = None,
        expect: int | tuple[int, ...] = (200, 201, 204),
    ) -> tuple[dict[str, Any], aiohttp.ClientResponse]:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if api_key:
            headers["Authorization"] = f"ApiKey {api_key}"
        if key:
            headers["Idempotency-Key"] = key
        async with self.session.request(method, path, json=body, headers=headers) as response:
            document = await response.json(content_type=None) or {}
            expected = (expect,) if isinstance(expect, int) else expect
            assert response.status in expected, (method, path, response.status, document)
            return document, response

    async def login(self, phone: str, password: str) -> str:
        answer, _ = await self.call(
            "POST", "/v1/auth/login", body={"phone": phone, "password": password}
        )
        token = str(answer["access_token"])
        self.observed.secrets[f"access token of {phone}"] = token
        return token

    async def run(self) -> None:
        observed = self.observed
        observed.secrets.update(
            {
                "password": PASSWORD,
                "payment password": PAYMENT_PASSWORD,
                "card number": CARD,
                "resident id": RESIDENT_ID,
                "demo password": DEMO_PASSWORD,
            }
        )
        verification, _ = await self.call(
            "POST", "/v1/auth/phone-verifications", body={"phone": PHONE}, expect=202
        )
        outbox, _ = await self.call("GET", f"/v1/dev/sms?phone={PHONE}")
        code = code_in(outbox["messages"][-1])
        await self.call(
            "POST",
            "/v1/auth/register",
            body={
                "phone": PHONE,
                "password": PASSWORD,
                "real_name": "张伟",
                "resident_id": RESIDENT_ID,
                "verification_id": verification["verification_id"],
                "verification_code": code,
            },
        )
        token = await self.login(PHONE, PASSWORD)
        await self.call(
            "PUT",
            "/v1/payment-password",
            token=token,
            body={"login_password": PASSWORD, "new_password": PAYMENT_PASSWORD},
        )
        await self.call(
            "POST",
            "/v1/topups",
            token=token,
            key="obs-topup-1",
            body={"amount_fen": TOPUP_FEN, "bank_card_number": CARD},
        )
        await self.call(
            "POST",
            "/v1/transfers",
            token=token,
            key="obs-transfer-1",
            body={
                "amount_fen": 1_234,
                "to_phone": "13800138001",
                "payee_name": "李雷",
                "payment_password": PAYMENT_PASSWORD,
            },
        )
        subscribed, response = await self.call(
            "POST",
            "/v1/wealth/yuebao/subscriptions",
            token=token,
            key="obs-yuebao-1",
            body={"amount_fen": 20_000},
        )
        assert subscribed["state"] == "completed", subscribed
        observed.trace_id = response.headers["X-Trace-Id"]
        observed.saga_id = subscribed["operation_id"]
        await self.call(
            "POST",
            "/v1/wallet/payments",
            token=token,
            key="obs-water-1",
            body={
                "bill": {
                    "biller_id": "westlake-water",
                    "reference": "3301061234",
                    "amount_fen": 8_600,
                },
                "methods": ["yuebao", "balance"],
            },
        )
        merchant = await self.login(MERCHANT_PHONE, DEMO_PASSWORD)
        created, _ = await self.call("POST", "/v1/merchant/api-keys", token=merchant)
        api_key = str(created["api_key"])
        observed.secrets["API key"] = api_key
        issued, _ = await self.call("POST", "/v1/payment-codes", token=token)
        observed.secrets["payment code"] = str(issued["code"])
        await self.call(
            "POST",
            "/v1/merchant/payment-code-charges",
            api_key=api_key,
            key="obs-till-1",
            body={"code": issued["code"], "amount_fen": 1_800, "memo": "two teas"},
        )
        refusal, response = await self.call(
            "POST",
            "/v1/transfers",
            token=token,
            key="obs-transfer-2",
            body={
                "amount_fen": TOPUP_FEN - 10_000,
                "to_phone": "13800138001",
                "payee_name": "李雷",
            },
            expect=422,
        )
        observed.refusal = refusal
        observed.refusal_header = response.headers.get("X-Trace-Id", "")
        replayed, response = await self.call(
            "POST",
            "/v1/transfers",
            token=token,
            key="obs-transfer-2",
            body={
                "amount_fen": TOPUP_FEN - 10_000,
                "to_phone": "13800138001",
                "payee_name": "李雷",
            },
            expect=422,
        )
        observed.replayed_refusal = replayed
        observed.replay_header = response.headers.get("X-Trace-Id", "")
        # A saga refused at its first step: compensated (nothing to undo), answered 422.
        await self.call(
            "POST",
            "/v1/wealth/yuebao/subscriptions",
            token=token,
            key="obs-yuebao-2",
            body={"amount_fen": TOPUP_FEN * 10},
            expect=422,
        )


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of name whose labels include these."""
    return sum(
        sample_value
        for sample_name, sample_labels, sample_value in samples(text)
        if sample_name == name and labels.items() <= sample_labels.items()
    )


async def scrape(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        assert response.status == 200, url
        return await response.text()


def credit_links_into(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    payment_spans = {
        s.span_id for s in spans if s.trace_id == trace_id and s.service == "colony-payment"
    }
    return [
        s
        for s in spans
        if s.service == "colony-credit"
        and any(t == trace_id and span_id in payment_spans for t, span_id in s.links)
    ]


@pytest.fixture(scope="module")
async def observed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Observed]:
    receiver = OtlpReceiver()
    endpoint = await receiver.start()
    environ = {
        **platform_environment(tmp_path_factory.mktemp("observability") / "var"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "COLONY_LOG_LEVEL": "INFO",
    }
    result = Observed()
    try:
        async with RunningPlatform(environ) as platform:
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(platform.gateway_url, timeout=timeout) as session:
                await Flow(session, result).run()
            async with aiohttp.ClientSession(timeout=timeout) as session:
                # Spans are exported in batches, the credit service consumes the payment feed
                # asynchronously and gauges refresh periodically: wait for all three.
                loop = asyncio.get_running_loop()
                deadline = loop.time() + WAIT_SECONDS
                while True:
                    result.scrapes = {
                        name: await scrape(session, platform.metrics_url(name))
                        for name in PROCESS_NAMES
                    }
                    ready = (
                        credit_links_into(receiver.spans, result.trace_id)
                        and value(result.scrapes["wealth"], "colony_yuebao_aum_fen") > 0
                        and value(
                            result.scrapes["credit"], "colony_feed_lag_events", feed="payment"
                        )
                        == 0
                        and "colony_feed_lag_events" in result.scrapes["credit"]
                    )
                    if ready or loop.time() > deadline:
                        break
                    await asyncio.sleep(1.0)
        result.spans = list(receiver.spans)
        result.log_lines = platform.lines
        yield result
    finally:
        await receiver.stop()


# --- the cross-process trace -------------------------------------------------------------


def test_one_wallet_operation_is_one_connected_trace_across_processes(observed: Observed) -> None:
    spans = [s for s in observed.spans if s.trace_id == observed.trace_id]
    assert spans, f"no span of trace {observed.trace_id} was received"
    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if s.parent_span_id not in by_id]
    assert len(roots) == 1, f"not one tree: roots {[(r.service, r.name) for r in roots]}"
    [root] = roots
    assert (root.service, root.kind) == ("colony-gateway", SPAN_KIND_SERVER), root

    sagas = [
        s for s in spans if s.name.startswith("saga ") and "colony.saga.step" not in s.attributes
    ]
    assert [s.attributes.get("colony.saga.id") for s in sagas] == [observed.saga_id], sagas
    [saga] = sagas
    steps = [
        s
        for s in spans
        if s.parent_span_id == saga.span_id and s.name.startswith(("saga step", "saga compensate"))
    ]
    assert steps and all(s.attributes["colony.saga.id"] == observed.saga_id for s in steps)

    def under(span: ReceivedSpan, ancestor: ReceivedSpan) -> bool:
        return any(a.span_id == ancestor.span_id for a in ancestors(span, by_id))

    for service in ("colony-payment", "colony-wealth"):
        servers = [s for s in spans if s.service == service and s.kind == SPAN_KIND_SERVER]
        assert servers, f"no {service} server span in the trace"
        for server in servers:
            client = by_id[server.parent_span_id]
            assert (client.service, client.kind) == ("colony-gateway", SPAN_KIND_CLIENT)
            assert under(client, saga) and any(under(client, step) for step in steps)
        commands = [
            s
            for s in spans
            if s.service == service
            and s.kind == SPAN_KIND_CLIENT
            and s.attributes.get("db.system") == "mongodb"
        ]
        assert commands, f"no MongoDB command span of {service}"
        assert all(any(under(c, server) for server in servers) for c in commands)


def test_the_credit_service_consumption_links_to_the_payment_that_caused_it(
    observed: Observed,
) -> None:
    consumers = credit_links_into(observed.spans, observed.trace_id)
    assert consumers, "no credit span links to a payment span of the subscription's trace"
    assert all(s.kind == SPAN_KIND_CONSUMER and s.name == "apply payment events" for s in consumers)


def test_every_answer_names_its_trace_and_a_problem_carries_it_in_its_body(
    observed: Observed,
) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", observed.trace_id)
    assert observed.refusal["reason"] == "INSUFFICIENT_FUNDS"
    assert observed.refusal["trace_id"] == observed.refusal_header
    assert any(s.trace_id == observed.refusal_header for s in observed.spans)
    # The same key again: the stored refusal, byte for byte, naming the trace that refused.
    assert observed.replayed_refusal == observed.refusal
    assert observed.replay_header not in ("", observed.refusal_header)


# --- metrics ------------------------------------------------------------------------------


def test_the_red_series_and_the_business_series_the_flow_moved_are_scraped(
    observed: Observed,
) -> None:
    gateway, payment = observed.scrapes["gateway"], observed.scrapes["payment"]
    route = {"route": "/v1/wealth/yuebao/subscriptions", "method": "POST"}
    assert value(gateway, "colony_http_server_requests_total", **route) >= 1
    assert value(gateway, "colony_http_server_duration_seconds_count", **route) >= 1
    assert value(gateway, "colony_http_server_requests_total", status="422") >= 1
    assert value(gateway, "colony_saga_outcomes_total", outcome="completed") >= 2
    assert (
        value(
            gateway,
            "colony_saga_outcomes_total",
            saga="yuebao_subscription",
            outcome="compensated",
        )
        == 1
    )
    for name, rpc in (
        ("payment", "colony.payment.v1.PaymentService/TopUp"),
        ("wealth", "colony.wealth.v1.WealthService/IssueShares"),
    ):
        scraped = observed.scrapes[name]
        assert value(scraped, "colony_rpc_server_requests_total", rpc=rpc, code="OK") >= 1, rpc
        assert value(scraped, "colony_rpc_server_duration_seconds_count", rpc=rpc) >= 1
        assert value(scraped, "colony_rpc_server_duration_seconds_bucket", rpc=rpc, le="+Inf") >= 1
    assert value(payment, "colony_payments_total", kind="top_up") >= 1
    assert value(payment, "colony_payments_amount_fen_total", kind="top_up") >= TOPUP_FEN
    assert value(payment, "colony_payments_total", kind="transfer") >= 1
    assert value(payment, "colony_payments_total", kind="code_payment") >= 1
    assert value(observed.scrapes["wealth"], "colony_yuebao_aum_fen") > 0
    assert "colony_feed_lag_seconds" in observed.scrapes["credit"]


def documented_metrics() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = re.findall(r'"expr":\s*"([^"]*)"', json.dumps(dashboard))
    named = {m for expression in expressions for m in re.findall(r"\bcolony_[a-z_]+", expression)}
    table = re.findall(r"^\| `(colony_[a-z_]+)`", OPERATIONS_DOC.read_text(), re.MULTILINE)
    assert named and table
    return named | set(table)


def test_every_metric_the_dashboard_and_the_docs_name_is_exported_by_some_process(
    observed: Observed,
) -> None:
    exported = set()
    for text in observed.scrapes.values():
        for family in text_string_to_metric_families(text):
            exported.add(family.name)
            exported.update(sample.name for sample in family.samples)
            if family.type in ("histogram", "counter"):
                exported.add(family.name + ("_total" if family.type == "counter" else ""))
    missing = sorted(documented_metrics() - exported)
    assert missing == []


# --- the log-secrets test -----------------------------------------------------------------


def test_no_process_logs_a_secret(observed: Observed) -> None:
    prefixes = tuple(f"[{name}]" for name in PROCESS_NAMES)
    logged = [line for line in observed.log_lines if line.startswith(prefixes)]
    assert len(logged) > 50, "the processes' log lines were captured"
    assert any('"aiohttp.access"' in line for line in logged), "the gateway's access log is in"
    assert len(observed.secrets) >= 9
    findings = find_secrets(logged, observed.secrets, api_key_prefix=API_KEY_PREFIX)
    assert findings == [], "\n".join(f"{f.what}: {f.line}" for f in findings[:20])
