"""Uploaded files (``/v1/files``): stored in the workspace under generated names, validated before use."""

from __future__ import annotations

import os
import secrets
import time
from contextlib import closing
from pathlib import Path
from typing import BinaryIO

from mentor.errors import DataError, MentorError
from mentor.serve.engine import NotFound
from mentor.workspace import Workspace

FINE_TUNE_SUFFIXES = (".jsonl", ".json")
PURPOSES = ("fine-tune", "assistants", "user_data", "evals")


class TooLarge(MentorError):
    """A request or upload is larger than the server accepts."""


class FileStore:
    def __init__(self, workspace: Workspace, max_bytes: int):
        self.ws, self.max_bytes = workspace, max_bytes
        self.folder = workspace.home / "files"

    def save(self, stream: BinaryIO, filename: str, purpose: str) -> dict:
        """Copy the upload to a temp file (at most ``max_bytes``), validate it, then keep it as ``<id><ext>``.

        Only the extension of the client's file name is used; the name itself is just a label.
        """
        tmp, label, size = self.stage(stream, filename, purpose)
        try:
            if purpose == "fine-tune":
                _check_training_file(tmp, label)
            return self.keep(tmp, label, purpose, size)
        finally:
            tmp.unlink(missing_ok=True)

    def stage(self, stream: BinaryIO, filename: str, purpose: str) -> tuple[Path, str, int]:
        """The upload copied to a temp file in the store (size limit, purpose and extension checked): (temp path,
        the client's file name as a label, bytes). The caller validates it, then ``keep``s or deletes it."""
        from mentor.rag.documents import SUFFIXES

        if purpose not in PURPOSES:
            raise DataError(f"Unknown purpose '{purpose}' (expected one of {', '.join(PURPOSES)}).")
        label = Path(filename or "upload").name
        suffix = Path(label).suffix.lower()
        allowed = FINE_TUNE_SUFFIXES if purpose == "fine-tune" else SUFFIXES
        if suffix not in allowed:
            raise DataError(f"{label}: files for purpose '{purpose}' must end in {', '.join(allowed)}.")
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".upload-{secrets.token_hex(12)}.part{suffix}"
        size = 0
        try:
            with open(tmp, "wb") as out:
                while chunk := stream.read(1 << 20):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise TooLarge(f"{label} is larger than the server's upload limit of {self.max_bytes} bytes.")
                    out.write(chunk)
            if size == 0:
                raise DataError(f"{label} is empty.")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp, label, size

    def keep(self, tmp: Path, label: str, purpose: str, size: int) -> dict:
        """A staged, validated upload stored under a new file id."""
        file_id = f"file-{secrets.token_hex(12)}"
        path = self.folder / f"{file_id}{Path(label).suffix.lower()}"
        os.replace(tmp, path)
        record = {"id": file_id, "filename": label, "purpose": purpose, "bytes": size, "path": str(path),
                  "created": time.time()}
        with closing(self.ws.connect()) as con, con:
            con.execute("INSERT INTO files VALUES (:id, :filename, :purpose, :bytes, :path, :created)", record)
        return record

    def get(self, file_id: str) -> dict:
        record = self.ws.record("files", file_id)
        if record is None:
            raise NotFound(f"No such file: '{file_id}'.")
        return record

    def list(self, purpose: str | None = None) -> list[dict]:
        with closing(self.ws.connect()) as con:
            rows = con.execute("SELECT * FROM files WHERE ? IS NULL OR purpose = ? ORDER BY created DESC",
                               (purpose, purpose)).fetchall()
        return [dict(r) for r in rows]

    def delete(self, file_id: str) -> None:
        record = self.get(file_id)
        with closing(self.ws.connect()) as con, con:
            con.execute("DELETE FROM files WHERE id = ?", (file_id,))
        Path(record["path"]).unlink(missing_ok=True)


def _check_training_file(path: Path, label: str) -> None:
    """The data checker's first error, reported with the client's file name and the line. Preference rows
    (for a DPO job) are read as pairs."""
    from mentor.data.check import check
    from mentor.tune.preference import is_preference_file, load_pairs

    if is_preference_file(path):
        try:
            load_pairs(path)
        except DataError as e:
            raise DataError(str(e).replace(str(path), label)) from None
        return
    report = check(path)
    if report.errors:
        first = report.errors[0]
        where = f"{label}:{first.line}" + (f": {first.field}" if first.field else "")
        more = f" ({len(report.errors) - 1} more errors)" if len(report.errors) > 1 else ""
        raise DataError(f"{where}: {first.message}{more}; check the file with: mentor data check {label}")
    if not report.result.examples:
        raise DataError(f"{label}: no training examples found.")
