"""The OpenAPI document is the contract, exactly (issue 21 item 13): a seeded schemathesis run.

The whole platform starts as `make run` starts it (tests/e2e/platform.py: real services,
real MongoDB, the demo data), and schemathesis (`st run --checks all`, deterministic
generation, a few examples per operation, the examples, coverage and fuzzing phases) tests
every operation of `/openapi.json` three times: as a personal user, a merchant and an
operator. Any failure fails the test with schemathesis' own report: a 5xx, a schema-valid
request refused (400), a schema-violating request accepted, an answer its schema or its
documented statuses and media types do not describe — every error is problem+json, so a
text/plain error is an undocumented content type.

What the run does not hold against the gateway, and why (each is a rule JSON Schema cannot
state, stated in the field's description instead; a request breaking one is still a 400):

- ``register``: the SMS code of a phone verification cannot be guessed, by design;
- ``createTopUp``/``createWithdrawal``: a bank card's Luhn check digit;
- ``createBillPayment``: each biller's own reference format;
- ``applyForMerchantFacility``: the fixed part is at most the facility (two fields);
- ``chargePaymentCode``: a code must be one a payer issued and has not used;
- ``runWealthJobs``/``runLoanJobs``/``runInsuranceJobs``: a business date that has begun;
- ``publishNav``: a trading day that has begun; ``createWealthProduct``: the sale window
  ends after it starts (two fields);
- ``setRiskRules``: rule ids distinct across the list (JSON Schema's uniqueItems compares
  whole items);
- ``page_token`` is sent empty: a token is opaque, only ever one the server handed out.

Those operations are still run for every other check (no 5xx, schema-violating bodies
refused, answers as documented). The per-user request budgets are lifted for the run
(COLONY_RATE_LIMIT_*_PER_MINUTE=0): with them most requests would be 429s and test nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import urllib.request
from pathlib import Path

import pytest

from infra.demo_data import DEMO_OPERATOR_PHONE, DEMO_PASSWORD
from tests.e2e.platform import RunningPlatform, platform_environment

pytestmark = pytest.mark.slow

# A personal user, the demo merchant and the demo operator (infra/demo_data.py).
CALLERS = {"personal": "13800138001", "merchant": "13900139000", "operator": DEMO_OPERATOR_PHONE}
EXAMPLES_PER_OPERATION = 3
# About a minute on an idle 2-core machine; far more when the rest of the suite runs beside it.
RUN_WITHIN_SECONDS = 900
# The document has some 150 operations; far fewer means it did not load whole.
MIN_OPERATIONS = 100

# Every check (`--checks all` on the command line would override the per-operation lines).
CONFIG = """
[checks]
enabled = true

[checks.positive_data_acceptance]
# A refusal for a business reason (404 unknown, 409 conflict, 422 refused, 429 throttled)
# is an answer to a valid request; a 400 is not.
expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

[checks.negative_data_rejection]
# schemathesis' list, and 413: a body over 64 KiB is refused whole before it is read.
expected-statuses = [
    "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx",
]

[parameters]
"query.page_token" = ""

[[operations]]
include-operation-id = [
    "register",
    "createTopUp",
    "createWithdrawal",
    "createBillPayment",
    "applyForMerchantFacility",
    "chargePaymentCode",
    "runWealthJobs",
    "runLoanJobs",
    "runInsuranceJobs",
    "publishNav",
    "createWealthProduct",
    "setRiskRules",
]
checks.positive_data_acceptance.enabled = false
"""


def log_in(gateway_url: str, phone: str) -> str:
    request = urllib.request.Request(
        f"{gateway_url}/v1/auth/login",
        data=json.dumps({"phone": phone, "password": DEMO_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(json.load(answer)["access_token"])


async def schemathesis_run(gateway_url: str, token: str, workdir: Path) -> tuple[int, str]:
    """st run over every operation with this caller's token: its exit status and report."""
    st = Path(sys.executable).with_name("st")
    process = await asyncio.create_subprocess_exec(
        str(st),
        "--config-file",
        str(workdir / "schemathesis.toml"),
        "run",
        f"{gateway_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--generation-deterministic",  # the same cases every run, and no example database
        "--workers",
        "1",
        "--no-color",
        "--request-timeout",
        "30",
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=RUN_WITHIN_SECONDS)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_every_operation_keeps_the_contract_for_every_kind_of_caller(
    tmp_path: Path,
) -> None:
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    environ = platform_environment(tmp_path / "var")
    for request_class in ("MONEY", "WRITE", "READ"):
        environ[f"COLONY_RATE_LIMIT_{request_class}_PER_MINUTE"] = "0"
    async with RunningPlatform(environ) as platform:
        tokens = {
            caller: await asyncio.to_thread(log_in, platform.gateway_url, phone)
            for caller, phone in CALLERS.items()
        }
        # The three runs at once: each mostly waits on the platform, so together they take
        # little longer than one.
        runs = await asyncio.gather(
            *(schemathesis_run(platform.gateway_url, token, tmp_path) for token in tokens.values())
        )
        reports = dict(zip(tokens, runs, strict=True))
    failed = {caller: report for caller, (status, report) in reports.items() if status != 0}
    assert not failed, "\n".join(
        f"as the {caller}:\n{report[-12000:]}" for caller, report in failed.items()
    )
    for report in (report for _, report in reports.values()):
        # Every operation of the document was tested (none skipped for want of a schema).
        selected = re.search(r"Selected: (\d+)/(\d+)", report)
        tested = re.search(r"Tested: (\d+)", report)
        assert selected and tested, report[-4000:]
        assert int(tested.group(1)) == int(selected.group(2)) > MIN_OPERATIONS, report[-4000:]
