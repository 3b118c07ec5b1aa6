"""The `mentor` command: thin typer groups, each calling a public library function."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from mentor.errors import MentorError
from mentor.quiet import quiet_libraries

app = typer.Typer(name="mentor", help="Turn a general LLM into a domain expert on your own machine.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
err_console = Console(stderr=True)


def _register() -> None:
    from mentor.cli import (apps, data, demo, deploy, distill, evaluate, generate, iterate, kb, methods, models, runs,
                            serve, train)

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
    apps.register(app)
    iterate.register(app)


def main() -> None:
    quiet_libraries()
    _register()
    code = 0
    try:
        app()
    except MentorError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        code = e.exit_code
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    if "ctranslate2" in sys.modules:  # its worker threads were seen to abort interpreter teardown (SIGABRT)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
