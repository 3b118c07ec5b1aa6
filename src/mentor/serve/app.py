"""``create_app(settings)``: the OpenAI-compatible HTTP API over one workspace (no globals).

Layers as in vLLM's entrypoints: ``protocol`` (schemas and response shapes), the ``Engine`` (models and
batched generation) and thin route modules (``inference``, ``training``, ``vector_stores``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
import sys
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from mentor.errors import MentorError
from mentor.models import DEFAULT_LLM
from mentor.serve.engine import Busy, Engine, NotFound
from mentor.serve.files import FileStore, TooLarge
from mentor.serve.jobs import JobStore
from mentor.serve.protocol import error_body
from mentor.workspace import Workspace


@dataclass
class ServeSettings:
    home: str | None = None  # the workspace (MENTOR_HOME or ./.mentor by default)
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None  # when set, every request (/v1, /docs, /openapi.json) needs "Authorization: Bearer <key>"
    model: str = DEFAULT_LLM  # answers for kb: models
    max_request_bytes: int = 4 << 20  # JSON requests
    max_upload_bytes: int = 512 << 20  # /v1/files uploads
    max_tokens: int = 1024  # cap on max_tokens per choice
    max_batch: int = 8  # rows decoded together
    max_waiting: int = 64  # rows waiting beyond which requests get 429
    worker: bool = True  # run fine-tuning jobs in a worker process
    trust_remote_code: bool = False
    backend: str = "auto"  # what decodes: auto, torch, ctranslate2[:int8|:float32] (mentor.inference.backends)
    serve: list[str] = field(default_factory=list)  # model folders to serve as export:NAME besides the workspace's
    allowed_hosts: list[str] = field(default_factory=list)  # Host names accepted besides loopback ones (a proxy's)


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    ws = Workspace(settings.home)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = app.state
        state.engine = Engine(ws, settings.model, settings.max_batch, settings.max_waiting,
                              trust_remote_code=settings.trust_remote_code, backend=settings.backend,
                              model_folders=settings.serve)
        supervisor = WorkerSupervisor(ws, state.jobs) if settings.worker else None
        if supervisor:
            supervisor.start()
        try:
            yield
        finally:
            if supervisor:
                supervisor.stop()
            state.engine.close()

    app = FastAPI(title="Mentor", version="0.1.0", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.settings, app.state.ws = settings, ws
    app.state.files = FileStore(ws, settings.max_upload_bytes)
    app.state.jobs = JobStore(ws)
    app.state.knowledge_bases = {}
    app.state.embedders = {}
    app.state.apps = None  # mentor.serve.apps builds them on first use, over the engine
    app.add_middleware(Guard, api_key=settings.api_key, max_request_bytes=settings.max_request_bytes,
                       max_upload_bytes=settings.max_upload_bytes,
                       hosts=(*LOOPBACK, *settings.allowed_hosts) if settings.host in LOOPBACK else None)
    _errors(app)
    from mentor.serve import apps, inference, responses, training, vector_stores

    app.include_router(inference.router)
    app.include_router(apps.router)
    app.include_router(responses.router)
    app.include_router(training.router)
    app.include_router(vector_stores.router)
    return app


def _errors(app: FastAPI) -> None:
    status = ((NotFound, 404, "not_found"), (Busy, 429, "rate_limit_exceeded"), (TooLarge, 413, "request_too_large"))

    @app.exception_handler(MentorError)
    async def mentor_error(request: Request, exc: MentorError) -> JSONResponse:
        for kind, code, name in status:
            if isinstance(exc, kind):
                return JSONResponse(error_body(str(exc), "invalid_request_error", name), code)
        return JSONResponse(error_body(str(exc)), 400)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        return JSONResponse(error_body(f"{where}: {first['msg']}" if where else first["msg"], param=where or None), 400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(str(exc.detail)), exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:  # a bug: still OpenAI's error shape
        return JSONResponse(error_body(f"internal error: {type(exc).__name__}: {exc}", "server_error"), 500)


SESSION_COOKIE = "mentor_studio"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def session_token(api_key: str) -> str:
    """The cookie the studio's login sets: derived from the key (never the key itself); a new key ends old
    sessions."""
    return hmac.new(api_key.encode(), b"mentor-studio-session", hashlib.sha256).hexdigest()


def has_session(cookie: str | None, api_key: str) -> bool:
    return bool(cookie) and hmac.compare_digest(cookie.encode("utf-8", "replace"), session_token(api_key).encode())


class Guard:
    """ASGI middleware: API key check and request size limits, before any route runs."""

    def __init__(self, app, api_key: str | None, max_request_bytes: int, max_upload_bytes: int,
                 hosts: tuple[str, ...] | None = LOOPBACK):
        self.app, self.api_key, self.hosts = app, api_key or None, hosts  # hosts: None when bound beyond loopback
        self.max_request_bytes, self.max_upload_bytes = max_request_bytes, max_upload_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        if self.hosts is not None and _host_name(headers.get("host", "")) not in self.hosts:
            # bound to this machine only: a page elsewhere that points its own name at 127.0.0.1 (DNS rebinding)
            # must not reach the API through the user's browser
            return await _reply(send, 421, error_body("This server answers requests for localhost / 127.0.0.1 only "
                                                      "(it is bound to this machine; a proxy's name: --allowed-host).",
                                                      code="misdirected_request"))
        if self.api_key and not self._allowed(path, headers):
            if path.startswith("/studio") and scope["method"] == "GET":  # a page: the login form, then back here
                return await _redirect(send, "/studio/login?next=" + quote(path))
            return await _reply(send, 401, error_body("Incorrect API key provided.", code="invalid_api_key"))
        upload = (path.rstrip("/") == "/v1/files" or path in ("/studio/data/check",) or
                  (path.startswith("/studio/kb/") and path.endswith("/upload"))) and scope["method"] == "POST"
        limit = self.max_upload_bytes if upload else self.max_request_bytes
        if int(headers.get("content-length") or 0) > limit:
            return await _reply(send, 413, error_body(f"Request body larger than {limit} bytes.", code="request_too_large"))
        seen = 0

        async def limited():  # bodies without a length (chunked) are counted as they arrive
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise TooLarge(f"Request body larger than {limit} bytes.")
            return message

        return await self.app(scope, limited, send)

    def _allowed(self, path: str, headers: dict[str, str]) -> bool:
        """The key as a bearer token, or the studio's session cookie (set by its login). The cookie counts for the
        API only with the studio's own header, which a form on another site cannot send (and the cookie is
        SameSite=Strict)."""
        # bytes: compare_digest refuses non-ASCII str (a 500 for a non-ASCII header or key)
        if hmac.compare_digest(headers.get("authorization", "").encode("latin-1"), f"Bearer {self.api_key}".encode()):
            return True
        if path in ("/studio/login", "/studio/logout") or path.startswith("/studio/lang/"):
            return True  # the studio's login form (it sets the session) and its language switch
        cookies = SimpleCookie(headers.get("cookie", ""))
        session = cookies[SESSION_COOKIE].value if SESSION_COOKIE in cookies else None
        if not has_session(session, self.api_key):
            return False
        return path.startswith("/studio") or headers.get("x-mentor-studio") == "1"


def _host_name(host: str) -> str:
    """'127.0.0.1:8000' -> '127.0.0.1', '[::1]:8000' -> '::1'."""
    if host.startswith("["):
        return host[1:host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _redirect(send, location: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _reply(send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


class WorkerSupervisor:
    """Keeps one fine-tuning worker process alive; jobs a dead worker left running are queued again."""

    def __init__(self, ws: Workspace, jobs: JobStore):
        self.ws, self.jobs = ws, jobs
        self.process: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="mentor-worker-supervisor", daemon=True)

    @property
    def pid_file(self) -> Path:
        return self.ws.home / "worker.pid"

    def start(self) -> None:
        self.jobs.recover("The server stopped while this job was running")
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "mentor.serve.worker", str(self.ws.home)])
        self.pid_file.write_text(str(self.process.pid))

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            code = self.process.poll()
            if code is not None and not self._stop.is_set():
                self.jobs.recover(f"The worker process stopped (exit code {code}) during training")
                self._spawn()

    def stop(self) -> None:
        """SIGTERM: the worker checkpoints a running job and queues it again for the next start."""
        self._stop.set()
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.pid_file.unlink(missing_ok=True)
