"""Mentor Studio: the web UI at ``/studio`` on ``mentor serve`` (``mentor studio`` opens it). Server-rendered pages
(Jinja2 + the vendored htmx) over the same library functions and API routes as the CLI and the server; behind the
same API key, kept in a cookie session after one login."""

from fastapi import FastAPI

from mentor.studio.pages import router


def mount(app: FastAPI) -> FastAPI:
    """The studio's pages on an API app from ``mentor.serve.app.create_app`` (whose middleware checks the key and
    the studio's session cookie)."""
    app.include_router(router)
    return app


__all__ = ["mount", "router"]
