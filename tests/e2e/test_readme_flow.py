"""The README's curl flow, run word for word against a freshly started platform.

If the README and the API drift apart, this fails: a newcomer's first commands must work.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.platform import RunningPlatform, platform_environment

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
FLOW_HEADING = "## Try it with curl"


def readme_curl_flow() -> str:
    """The first ```sh block after the "Try it with curl" heading."""
    text = README.read_text()
    section = text[text.index(FLOW_HEADING) :]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "the README's curl section has a ```sh block"
    return match.group(1)


def json_documents(output: str) -> list[dict]:
    """Each JSON object the flow printed, in order (curl -s prints one per call)."""
    decoder = json.JSONDecoder()
    documents, position = [], 0
    while (start := output.find("{", position)) != -1:
        document, position = decoder.raw_decode(output, start)
        documents.append(document)
    return documents


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README flow uses curl")
async def test_the_readme_curl_flow_works_as_written(tmp_path: Path) -> None:
    script = readme_curl_flow()
    async with RunningPlatform(platform_environment(tmp_path / "var")) as platform:
        script = script.replace("GW=http://127.0.0.1:8080", f"GW={platform.gateway_url}")
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            script,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    documents = json_documents(stdout.decode())
    assert len(documents) == 16, documents
    registered, topped_up, bound = documents[:3]
    transferred, subscribed, paid, wallet, statement, refused = documents[3:9]
    assert registered["account_type"] == "personal"
    assert topped_up["balance"]["amount_fen"] == 50_000
    assert bound["card"]["card_last4"] == "2417"
    assert bound["wallet"]["kyc_level"] == 3
    assert transferred["balance"]["amount_fen"] == 50_000 - 1_234
    assert (subscribed["kind"], subscribed["state"]) == ("yuebao_subscription", "completed")
    assert (paid["kind"], paid["state"]) == ("wallet_payment", "completed")
    assert [part["method"] for part in paid["result"]["funding"]] == ["yuebao"]
    assert wallet["balance"]["yuan"] == "287.66"
    assert wallet["wealth"]["yuebao"]["shares"]["amount_fen"] == 20_000 - 8_600
    amounts = [e["amount"]["amount_fen"] for e in statement["entries"]]
    assert sorted(amounts) == sorted([-8_600, 8_600, -20_000, -1_234, 50_000])
    assert sum(amounts) == 28_766
    assert (refused["status"], refused["reason"]) == (422, "INSUFFICIENT_FUNDS")
    line, huabei_paid, purchases, bills, repaid, cash_loan, statement_after = documents[9:]
    assert line["line"]["available"]["amount_fen"] == line["line"]["line"]["amount_fen"] > 0
    assert [part["method"] for part in huabei_paid["result"]["funding"]] == ["huabei"]
    assert [p["amount"]["amount_fen"] for p in purchases["purchases"]] == [5_000]
    assert bills["bills"] == []  # nothing is billed before the statement day
    assert (repaid["kind"], repaid["state"]) == ("loan_repayment", "completed")
    assert (cash_loan["result"]["decision"], cash_loan["state"]) == ("approved", "completed")
    labels = [entry.get("label") for entry in statement_after["entries"]]
    assert labels[:3] == ["cash_loan_disbursement", "huabei_repayment", "huabei_purchase"]
