"""What every studio page shares: the session cookie, the UI language, rendering, small SVG charts."""

from __future__ import annotations

import time
from functools import lru_cache
from importlib import resources

from fastapi import Request
from fastapi.responses import HTMLResponse

LANG_COOKIE = "mentor_lang"
LANGUAGES = ("en", "zh")


def language(request: Request) -> str:
    """The user's choice (cookie), else the browser's first language we have, else English."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("mentor.studio", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["chart"] = line_chart
    env.filters["enumerate_points"] = lambda values: [(i, v) for i, v in enumerate(values) if v is not None]
    env.filters["datetime"] = lambda t: time.strftime("%Y-%m-%d %H:%M", time.localtime(t))
    return env


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    from mentor.studio.i18n import translator

    lang = language(request)
    html = _environment().get_template(template).render(
        request=request, t=translator(lang), lang=lang, path=request.url.path, now=time.time(), **context)
    return HTMLResponse(html, status)


def static_file(name: str) -> bytes:
    return resources.files("mentor.studio").joinpath("static", name).read_bytes()


def line_chart(series: dict[str, list[tuple[float, float]]], width: int = 640, height: int = 220,
               label: str = "", x_max: float | None = None, x_names: list[str] | None = None) -> str:
    """An inline SVG line chart (one polyline per series, axes with min/max labels; ``x_max``: where the x axis
    ends, e.g. a job's last step; ``x_names``: labels of x = 0, 1, ... such as days): no chart library, no script, readable by screen readers through its title."""
    from markupsafe import Markup, escape

    points = [p for values in series.values() for p in values]
    colours = ("#2563eb", "#dc2626", "#059669", "#d97706")
    pad_l, pad_r, pad_t, pad_b = 48, 12, 10, 24
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">',
           f"<title>{escape(label)}</title>"]
    if points:
        x0, x1 = min(p[0] for p in points), max([p[0] for p in points] + [x_max or 0])
        y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
        x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1e-9)
        sx = lambda x: pad_l + (x - x0) / (x1 - x0) * w  # noqa: E731
        sy = lambda y: pad_t + (1 - (y - y0) / (y1 - y0)) * h  # noqa: E731
        out.append(f'<line x1="{pad_l}" y1="{pad_t + h}" x2="{pad_l + w}" y2="{pad_t + h}" stroke="#999"/>'
                   f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + h}" stroke="#999"/>'
                   f'<text x="{pad_l - 4}" y="{pad_t + 10}" text-anchor="end">{y1:.3g}</text>'
                   f'<text x="{pad_l - 4}" y="{pad_t + h}" text-anchor="end">{y0:.3g}</text>'
                   f'<text x="{pad_l}" y="{height - 6}">{escape(_x_name(x0, x_names))}</text>'
                   f'<text x="{pad_l + w}" y="{height - 6}" text-anchor="end">{escape(_x_name(x1, x_names))}</text>')
        for n, (name, values) in enumerate(series.items()):
            colour = colours[n % len(colours)]
            coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
            out.append(f'<polyline class="series" data-points="{len(values)}" fill="none" stroke="{colour}" '
                       f'stroke-width="2" points="{coords}"/>')
            if len(values) == 1:
                out.append(f'<circle cx="{sx(values[0][0]):.1f}" cy="{sy(values[0][1]):.1f}" r="3" fill="{colour}"/>')
            out.append(f'<text x="{pad_l + 8 + 110 * n}" y="{pad_t + 12}" fill="{colour}">{escape(name)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _x_name(x: float, names: list[str] | None) -> str:
    return names[int(x)] if names and 0 <= int(x) < len(names) else f"{x:g}"
