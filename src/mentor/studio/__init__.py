"""Mentor Studio: the web UI at ``/studio`` on ``mentor serve`` (``mentor studio`` opens it). Server-rendered pages
(Jinja2 + the vendored htmx) over the same library functions and API routes as the CLI and the server; behind the
same API key, kept in a cookie session after one login."""

import json

from fastapi import FastAPI, Request

from mentor.studio.pages import router
from mentor.studio.web import render


def mount(app: FastAPI) -> FastAPI:
    """The studio's pages on an API app from ``mentor.serve.app.create_app`` (whose middleware checks the key and
    the studio's session cookie). A page that fails to open shows the API's error text in a page; fragments
    (htmx requests) keep the API's JSON error, which the page shows."""
    app.include_router(router)
    for kind, handler in list(app.exception_handlers.items()):
        app.add_exception_handler(kind, _page_errors(handler))
    return app


def _page_errors(handler):
    async def handle(request: Request, exc: Exception):
        response = await handler(request, exc)
        if not request.url.path.startswith("/studio") or request.method != "GET" or "hx-request" in request.headers:
            return response
        try:
            message = json.loads(response.body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = str(exc)
        return render(request, "error.html", response.status_code, title=f"{response.status_code}", message=message)

    return handle


__all__ = ["mount", "router"]
