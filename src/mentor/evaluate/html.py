"""Small self-contained HTML pages (inline CSS, images as data URIs): one file a user can mail or open offline."""

from __future__ import annotations

import base64
from html import escape

_CSS = """
body{font-family:-apple-system,"Segoe UI","Noto Sans","PingFang SC","Microsoft YaHei",sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#1f2328;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
.sub{color:#59636e;margin-top:0}table{border-collapse:collapse;margin:.6rem 0;width:100%}
th,td{border:1px solid #d0d7de;padding:.35rem .55rem;text-align:left;vertical-align:top;font-size:.92rem}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.up{color:#1a7f37;font-weight:600}.down{color:#cf222e;font-weight:600}
.finding{border-left:4px solid #9a6700;background:#fff8c5;padding:.4rem .7rem;margin:.4rem 0}
.finding.ok{border-color:#1a7f37;background:#dafbe1}.finding.info{border-color:#0969da;background:#ddf4ff}
img{max-width:100%;border:1px solid #d0d7de;margin:.4rem 0}.answer{white-space:pre-wrap}
"""


def esc(value) -> str:
    return escape(str(value))


def page(title: str, subtitle: str, sections: list[str]) -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style></head>'
            f'<body><h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p>{"".join(sections)}</body></html>\n')


def section(heading: str, *parts: str) -> str:
    return f"<section><h2>{esc(heading)}</h2>{''.join(parts)}</section>"


def table(headers: list[str] | None, rows: list[list[str]]) -> str:
    """``rows`` hold ready HTML cells (use :func:`cell`, :func:`num`); no header row without ``headers``."""
    head = "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr></thead>" if headers else ""
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def cell(text, cls: str = "") -> str:
    return f'<td class="{cls}">{esc(text)}</td>' if cls else f"<td>{esc(text)}</td>"


def num(value: float | None, digits: int = 2, delta: bool = False, higher_is_better: bool = True) -> str:
    if value is None:
        return '<td class="num">-</td>'
    text = f"{value:+.{digits}f}" if delta else f"{value:.{digits}f}"
    cls = "num"
    if delta and abs(value) >= 10 ** -digits:
        cls += " up" if (value > 0) == higher_is_better else " down"
    return f'<td class="{cls}">{text}</td>'


def image(png: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def finding(severity: str, message: str) -> str:
    return f'<div class="finding {esc(severity)}">{esc(message)}</div>'
