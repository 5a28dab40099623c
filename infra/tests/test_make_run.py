"""`make run` for real: mongod, the five services and the gateway, twice over the same data."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.demo_data import DEMO_USERS, format_yuan
from tests.e2e.platform import RunningPlatform, platform_environment

pytestmark = pytest.mark.slow


async def test_make_run_comes_up_loads_demo_data_once_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    environ = platform_environment(tmp_path / "var")
    for _ in ("first run", "second run over the same data"):
        async with RunningPlatform(environ) as platform:
            assert "Colony is ready" in platform.output
        output = platform.output
        assert platform.status == 0, output[-4000:]
        assert "SIGINT: stopping" in output
        assert output.rstrip().endswith("[run]       stopped")
        # The second run logs the demo users in again and does not top them up twice.
        for user in DEMO_USERS:
            balance = format_yuan(user.topup_fen)
            assert f"{user.phone}  {user.account_type:<8}  {balance:>12}" in output
