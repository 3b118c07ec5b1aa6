"""The `mentor` command: thin typer groups, each calling a public library function."""

from __future__ import annotations

import logging
import os
import sys
import warnings

import typer
from rich.console import Console

from mentor.errors import MentorError

app = typer.Typer(name="mentor", help="Turn a general LLM into a domain expert on your own machine.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
err_console = Console(stderr=True)


def _register() -> None:
    from mentor.cli import data, demo, deploy, distill, evaluate, generate, kb, methods, models, runs, serve, train

    app.add_typer(models.app, name="models", help="Embedded and local models.")
    app.add_typer(runs.app, name="runs", help="Training runs in the workspace.")
    app.add_typer(data.app, name="data", help="Check and prepare training data.")
    train.register(app)
    generate.register(app)
    evaluate.register(app)
    kb.register(app)
    methods.register(app)
    demo.register(app)
    serve.register(app)
    distill.register(app)
    deploy.register(app)


def _quiet_libraries() -> None:
    """Library progress bars and deprecation chatter would bury our own output."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="peft")
    # bitsandbytes' CPU backend logs a warning about an optional kernels package at import
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    logging.getLogger("jieba").setLevel(logging.WARNING)  # "Building prefix dict..." on first use
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def main() -> None:
    _quiet_libraries()
    _register()
    try:
        app()
    except MentorError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
