"""Finding secrets in log lines: what the log-secrets test greps every process's output for.

Two kinds of finding: a *known* secret (a password, token, API key, payment code, card
number or resident id the test itself used) anywhere in a line, not merely as part of a longer
run of letters and digits; and anything *shaped* like one whatever its value — a JWT, an
``Authorization`` header's credentials, a Colony API key, or a whole 18-character resident
id / payment code (masked forms such as ``1101**********0075`` are fine).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SHAPES = {
    "JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "Authorization credentials": re.compile(r"(?i)\b(bearer|apikey)\s+[A-Za-z0-9._~+/-]{16,}"),
    "18-character id or payment code": re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"),
}


@dataclass(frozen=True, slots=True)
class Finding:
    line_number: int
    what: str
    line: str


def _known(secret: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])")


def find_secrets(
    lines: Iterable[str], known: dict[str, str], *, api_key_prefix: str = ""
) -> list[Finding]:
    """Every line holding a known secret (by its label) or something shaped like one."""
    patterns = {f"known {label}": _known(value) for label, value in known.items() if value}
    patterns.update(SHAPES)
    if api_key_prefix:
        patterns["API key"] = re.compile(rf"{re.escape(api_key_prefix)}[A-Za-z0-9_-]{{16,}}")
    findings = []
    for number, line in enumerate(lines, 1):
        for what, pattern in patterns.items():
            if pattern.search(line):
                findings.append(Finding(number, what, line[:300]))
    return findings
