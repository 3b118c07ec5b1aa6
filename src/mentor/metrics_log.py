"""metrics.jsonl: one JSON object per line, written as training goes (readable mid-run)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mentor.files import atomic_write_text


class MetricsLog:
    def __init__(self, path: Path):
        self.path = Path(path)

    def write(self, **record: Any) -> None:
        record = {"time": round(time.time(), 3), **record}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()

    def read(self) -> list[dict[str, Any]]:
        """The records; a line torn by a crash mid-write (only the last can be) is skipped, not an error."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def truncate_after(self, step: int) -> None:
        """Drop records logged after ``step`` (a resumed run redoes those steps)."""
        kept = [r for r in self.read() if r.get("step", 0) <= step]
        atomic_write_text(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
