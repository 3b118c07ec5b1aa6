"""Atomic writes: artifacts appear complete or not at all (write to a temp path, then rename)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temp folder next to ``target``; on success it replaces ``target`` in one rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text to ``path`` through a temp file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def read_json(path: Path, what: str) -> Any:
    """A JSON file a user named (``what``: the flag or field), or a MentorError saying what is wrong and where."""
    from mentor.errors import MentorError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise MentorError(f"{what} {path}: cannot read it ({e.strerror}).") from None
    except json.JSONDecodeError as e:
        raise MentorError(f"{what} {path}:{e.lineno}: not JSON ({e.msg}).") from None


def read_jsonl(path: Path, what: str) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL file a user named, or a DataError naming the
    file and line; an empty file is an error too."""
    from mentor.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} {path}: no such file.")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: not JSON ({e.msg}).") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{n}: expected a JSON object.")
        rows.append((n, row))
    if not rows:
        raise DataError(f"{what} {path}: no rows.")
    return rows
