"""Every reason code the code can raise is in the published catalogue (errors.proto).

Clients switch on `reason`; a reason missing from colony.common.v1.ErrorReason would be
an undocumented contract. This reads the sources, so a new reason cannot slip past.
"""

from __future__ import annotations

import re
from pathlib import Path

from colony.common.v1 import errors_pb2
from gateway.edge.openapi import GATEWAY_ONLY_REASONS

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = ("chassis", "services", "gateway")
REASON_PATTERN = re.compile(r'(?:reason=|default_reason = )"([A-Z][A-Z_]+)"')


def reasons_in_code() -> dict[str, str]:
    found: dict[str, str] = {}
    for folder in SOURCE_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            if "tests" in path.parts:
                continue
            for reason in REASON_PATTERN.findall(path.read_text()):
                found.setdefault(reason, str(path.relative_to(ROOT)))
    return found


def test_every_raised_reason_is_in_the_error_catalogue() -> None:
    catalogue = {
        name.removeprefix("ERROR_REASON_")
        for name in errors_pb2.ErrorReason.DESCRIPTOR.values_by_name
    } | set(GATEWAY_ONLY_REASONS)
    found = reasons_in_code()
    assert len(found) > 20, "the scan found the reasons the services raise"
    missing = {reason: where for reason, where in found.items() if reason not in catalogue}
    assert missing == {}
