"""Every money movement a load test saw succeed (2xx), for the check after the run.

One JSON line per movement: what it was, and the id by which its effect can be found — a
posting id (top-up, transfer), an operation id (a saga: Yu'e Bao, wallet pay), a trade id.
Each Locust process appends to its own file, so lines never interleave.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

JOURNAL_DIR_ENV = "COLONY_LOAD_JOURNAL_DIR"


class Journal:
    def __init__(self, directory: Path | None) -> None:
        self._file = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._file = (directory / f"journal-{os.getpid()}.jsonl").open("a", encoding="utf-8")

    @classmethod
    def from_env(cls) -> Journal:
        directory = os.environ.get(JOURNAL_DIR_ENV)
        return cls(Path(directory) if directory else None)

    def record(self, kind: str, **ids: Any) -> None:
        if self._file is not None:
            self._file.write(json.dumps({"kind": kind, **ids}) + "\n")
            self._file.flush()


def read_journal(directory: Path) -> list[dict[str, Any]]:
    """Every movement written by every Locust process of a run."""
    entries: list[dict[str, Any]] = []
    for path in sorted(directory.glob("journal-*.jsonl")):
        entries += [json.loads(line) for line in path.read_text().splitlines() if line]
    return entries
