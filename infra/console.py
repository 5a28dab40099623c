"""What `make run` shows a person: one short line per thing worth seeing.

Every process logs JSON lines (chassis.telemetry), which is what deployments collect. In a
terminal that is unreadable — every RPC, health check and feed poll is a raw JSON object
every few seconds, and the ready banner drowns. The supervisor passes each child's line
through ``render``: a request becomes ``12:30:01  POST /v1/transfers  201``, an RPC
``12:30:01  rpc Transfer OK 12.3 ms``, a warning keeps its level, and the background noise of
a healthy platform (health and readiness probes, feed subscriptions, "0 events behind") is not
shown. ``COLONY_LOG_FORMAT=json`` (or ``make run ARGS=--json``) shows the raw lines instead.
"""

from __future__ import annotations

import json
from typing import Any

# RPCs that run all the time by design: health probes and the long-lived feed subscriptions.
QUIET_RPC_SUFFIXES = ("/Check", "/Watch", "/StreamEvents")
QUIET_PATHS = ("/healthz", "/readyz", "/metrics")
QUIET_MESSAGES = frozenset({"health check failed: UNAVAILABLE", "periodic job"})
# Fields every JSON line has; the rest are shown as key=value after the message.
ENVELOPE_FIELDS = frozenset({"ts", "level", "service", "logger", "msg", "trace_id", "span_id"})
EXTRA_TEXT_LENGTH_MAX = 160


def render(line: str) -> str | None:
    """The human-readable form of one log line, or None when it is not worth a person's look."""
    try:
        record = json.loads(line)
    except ValueError:
        return line  # not ours (a traceback line, a library's print): shown as it is
    if not isinstance(record, dict) or "msg" not in record:
        return line
    return _render_record(record)


def _render_record(record: dict[str, Any]) -> str | None:
    level = str(record.get("level", "INFO"))
    if level in ("WARNING", "ERROR", "CRITICAL"):
        return _line(record, f"{level[:4]}  {record['msg']}{_extras(record)}")
    if record.get("logger") == "aiohttp.access":
        return _request(record)
    message = str(record["msg"])
    if message == "rpc":
        return _rpc(record)
    if message == "feed lag":
        if not record.get("events_behind"):
            return None
        return _line(
            record,
            f"feed {record.get('feed')} is {record['events_behind']} events, "
            f"{record.get('seconds_behind')} s behind",
        )
    if message in QUIET_MESSAGES:
        return None
    return _line(record, f"{message}{_extras(record)}")


def _request(record: dict[str, Any]) -> str | None:
    request_line = str(record.get("first_request_line", ""))
    method, _, rest = request_line.partition(" ")
    path = rest.rsplit(" ", 1)[0] if rest else ""
    if path.split("?", 1)[0] in QUIET_PATHS:
        return None
    return _line(record, f"{method} {path}  {record.get('response_status', '')}")


def _rpc(record: dict[str, Any]) -> str | None:
    method = str(record.get("method", ""))
    if method.endswith(QUIET_RPC_SUFFIXES):
        return None
    name = method.rsplit("/", 1)[-1]
    return _line(
        record, f"rpc {name} {record.get('outcome', '')} {record.get('duration_ms', '')} ms"
    )


def _line(record: dict[str, Any], text: str) -> str:
    """`HH:MM:SS  text`, the time read from the record's ISO timestamp."""
    stamp = str(record.get("ts", ""))
    clock = stamp[11:19] if len(stamp) >= 19 else "--:--:--"
    return f"{clock}  {text}"


def _extras(record: dict[str, Any]) -> str:
    extras = [f"{key}={value}" for key, value in record.items() if key not in ENVELOPE_FIELDS]
    if not extras:
        return ""
    text = " ".join(extras)
    if len(text) > EXTRA_TEXT_LENGTH_MAX:
        text = text[: EXTRA_TEXT_LENGTH_MAX - 1] + "…"
    return f"  ({text})"
