"""Read documents into sections (text + where it came from): .txt .md .html .pdf .docx .jsonl .csv."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from mentor.errors import DataError

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".jsonl", ".csv")


@dataclass(frozen=True)
class Section:
    text: str
    location: str  # "page 3", "line 12", "row 4", "" for a whole text file
    title: str = ""  # a JSONL record's "title": the chunks' heading


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_files(paths: list[str | Path]) -> list[Path]:
    """Files with a known suffix, folders searched recursively (hidden ones skipped), sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES
                          and not any(part.startswith(".") for part in f.relative_to(p).parts))
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"{p} does not exist.")
    return out


def read_sections(path: Path) -> list[Section]:
    """The text of ``path`` as sections; raises DataError naming the file when it cannot be read."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".pdf":
            return _pdf(path)
        if suffix == ".docx":
            return _docx(path)
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8.") from None
    except DataError:
        raise
    except Exception as e:  # a corrupt PDF / DOCX: report it, the caller skips the file
        raise DataError(f"{path}: cannot read it as {suffix[1:].upper()} ({type(e).__name__}: {e}).") from None
    if suffix in (".html", ".htm"):
        return [Section(_html_text(text), "")]
    if suffix == ".jsonl":
        return _jsonl(path)
    if suffix == ".csv":
        return _csv(text)
    if suffix in (".txt", ".md", ".markdown") or not suffix:
        return [Section(text, "")]
    raise DataError(f"{path}: unsupported file type '{suffix}' (supported: {', '.join(SUFFIXES)}).")


def _pdf(path: Path) -> list[Section]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return [Section(page.extract_text() or "", f"page {i}") for i, page in enumerate(reader.pages, 1)]


def _docx(path: Path) -> list[Section]:
    import docx

    document = docx.Document(str(path))
    lines = []
    for p in document.paragraphs:
        style = (p.style.name or "").lower() if p.style is not None else ""
        if style.startswith("heading") and p.text.strip():
            level = "".join(c for c in style if c.isdigit()) or "1"
            lines.append("#" * int(level) + " " + p.text.strip())  # keep headings for the chunker
        else:
            lines.append(p.text)
    return [Section("\n\n".join(lines), "")]


def _html_text(text: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "nav", "footer", "noscript"]):
        tag.decompose()
    for level in range(1, 7):  # headings become Markdown headings so chunks keep them
        for h in soup.find_all(f"h{level}"):
            h.replace_with(f"\n\n{'#' * level} {h.get_text(' ', strip=True)}\n\n")
    for block in soup.find_all(["p", "li", "div", "br", "tr"]):
        block.insert_after("\n\n")
    return soup.get_text()


def _jsonl(path: Path) -> list[Section]:
    from mentor.data.formats import json_records

    out = []
    for number, record in json_records(path):
        title = ""
        if isinstance(record, dict):
            text = record.get("text") or record.get("content") or "\n".join(
                f"{k}: {v}" for k, v in record.items() if isinstance(v, str))
            title = str(record.get("title") or "")
        else:
            text = str(record)
        out.append(Section(str(text), f"line {number}", title))
    return out


def _csv(text: str) -> list[Section]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return [Section("\n".join(f"{k}: {v}" for k, v in row.items() if k and v), f"row {i}")
            for i, row in enumerate(rows, 2)]  # row 1 is the header
