"""`mentor serve`: the OpenAI-compatible API on this machine."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from mentor.errors import MentorError
from mentor.models import DEFAULT_LLM


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
    app.command("studio")(studio_cmd)


def serve_cmd(
    host: str = typer.Option("127.0.0.1", help="address to bind (other machines reach it only if you change this)"),
    port: int = typer.Option(8000, help="port"),
    api_key: str = typer.Option(None, envvar="MENTOR_API_KEY", help="require 'Authorization: Bearer KEY' (or MENTOR_API_KEY)"),
    model: str = typer.Option(DEFAULT_LLM, help="model that answers for kb: models"),
    max_batch: int = typer.Option(8, help="requests decoded together"),
    max_tokens: int = typer.Option(1024, help="cap on generated tokens per choice"),
    max_upload_mb: int = typer.Option(512, help="largest file upload"),
    worker: bool = typer.Option(True, help="run fine-tuning jobs in a worker process"),
    trust_remote_code: bool = typer.Option(False, help="allow model code from model folders (off: safer)"),
    serve: list[str] = typer.Option(None, "--serve", help="also serve this model folder (a merged or quantised "
                                    "export) as export:NAME; repeat for more. The workspace's exports/ are served anyway"),
    allowed_host: list[str] = typer.Option(None, "--allowed-host", help="a Host name to answer besides localhost / "
                                           "127.0.0.1, e.g. a reverse proxy's (others are refused: DNS rebinding)"),
    backend: str = typer.Option("auto", help="what decodes: auto (the fastest that runs the model with torch's "
                                "answers; printed as each model loads), torch, ctranslate2, ctranslate2:int8 "
                                "(faster, changes some answers)"),
) -> None:
    """Serve chat, completions, embeddings, files, fine-tuning jobs and vector stores (OpenAI's API)."""
    from mentor.serve.app import ServeSettings

    for folder in serve or []:
        if not (Path(folder) / "config.json").is_file():
            raise MentorError(f"--serve {folder}: not a model folder (no config.json): serve merged (hf) exports, "
                              "quantised folders or Hugging Face model folders.")
    _run(ServeSettings(os.environ.get("MENTOR_HOME"), host, port, api_key, model, max_batch=max_batch,
                       max_tokens=max_tokens, max_upload_bytes=max_upload_mb << 20, worker=worker,
                       trust_remote_code=trust_remote_code, backend=backend, serve=serve or [],
                       allowed_hosts=allowed_host or []))


def _run(settings) -> None:
    """Check the address and key, then serve the API and the studio until Ctrl-C."""
    import uvicorn

    from mentor.serve.app import LOOPBACK, create_app
    from mentor.studio import mount

    console = Console(stderr=True)
    host, port = settings.host, settings.port
    if host not in LOOPBACK and not settings.api_key:
        console.print(f"[yellow]warning:[/] serving on {host} without an API key: anyone who can reach this "
                      "machine can use it (set --api-key or MENTOR_API_KEY).")
    if settings.api_key is not None and not settings.api_key.strip():
        raise MentorError("--api-key (or MENTOR_API_KEY) is empty: an empty key would turn the check off. Give a key, "
                          "or leave it out to serve this machine only (127.0.0.1) without one.")
    if port < 1 or port > 65535:
        raise MentorError(f"--port {port} is not a valid port.")
    console.print(f"Mentor API on http://{host}:{port}/v1 (OpenAI-compatible; docs at /docs)")
    console.print(f"Mentor Studio on http://{host}:{port}/studio")
    uvicorn.run(mount(create_app(settings)), host=host, port=port, log_level="warning")


def studio_cmd(
    port: int = typer.Option(8000, help="port"),
    api_key: str = typer.Option(None, envvar="MENTOR_API_KEY", help="the key the studio asks for once (or MENTOR_API_KEY)"),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="open the studio in this machine's browser"),
) -> None:
    """Serve Mentor on this machine (as `mentor serve`) and open the studio, its web UI, in the browser."""
    import threading
    import webbrowser

    if open_browser:
        threading.Timer(3.0, webbrowser.open, [f"http://127.0.0.1:{port}/studio"]).start()
    from mentor.serve.app import ServeSettings

    _run(ServeSettings(os.environ.get("MENTOR_HOME"), port=port, api_key=api_key))  # otherwise mentor serve's defaults
