"""`mentor generate` and `mentor chat`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from mentor.data.conversation import Conversation, Message
from mentor.data.tools import parse_calls, read_tools, with_tools
from mentor.errors import MentorError
from mentor.files import read_json
from mentor.generation import (
    GenerationOptions,
    generate,
    generate_file,
    load_for_inference,
    stream,
)

_MODEL = typer.Option(None, help="alias, local folder or hub id (default: the run's base, else smollm2-135m-instruct)")
_RUN = typer.Option(None, help="fine-tuned run whose adapter to apply")
_MAX_NEW = typer.Option(256, "--max-new-tokens")
_TEMP = typer.Option(0.0, help="0 = greedy")
_TOP_P = typer.Option(1.0, "--top-p")
_DEVICE = typer.Option("auto", help="auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda, cuda:N")
_BACKEND = typer.Option("auto", help="what decodes: auto (the fastest backend that runs the model with torch's "
                        "answers; printed), torch, ctranslate2, ctranslate2:int8 (faster, changes some answers)")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
    app.command("chat")(chat_cmd)


def generate_cmd(
    model: Optional[str] = _MODEL, run: Optional[str] = _RUN,
    prompt: Optional[str] = typer.Option(None, help="one prompt"),
    data: Optional[Path] = typer.Option(None, help="conversations: the last assistant turn is regenerated"),
    out: Optional[Path] = typer.Option(None, help="JSONL output with prompt, reference and prediction"),
    system: Optional[str] = typer.Option(None, help="system prompt for --prompt"),
    max_new_tokens: int = _MAX_NEW, temperature: float = _TEMP, top_p: float = _TOP_P,
    seed: Optional[int] = typer.Option(None), device: str = _DEVICE, backend: str = _BACKEND,
    json_schema: Optional[Path] = typer.Option(None, "--json-schema", help="a JSON schema file: every reply is JSON "
                                               "that validates against it (constrained decoding)"),
    tools: Optional[Path] = typer.Option(None, help="a JSON file with OpenAI function tools (a list, or {\"tools\": "
                                         "[...]}): the model may call them; calls print as JSON"),
    tool_choice: str = typer.Option("auto", "--tool-choice", help="auto (text or calls), required, or a tool's name"),
) -> None:
    """Generate a reply to --prompt, or to every conversation in --data (written to --out)."""
    if (prompt is None) == (data is None):
        raise MentorError("Pass exactly one of --prompt TEXT or --data FILE (with --out FILE).")
    if data is not None and out is None:
        raise MentorError("--data needs --out FILE for the predictions.")
    declared, constraint = _structure(json_schema, tools, tool_choice)
    options = GenerationOptions(max_new_tokens, temperature, top_p, seed, constraint=constraint)
    lm = load_for_inference(model, run, device=device, backend=backend)
    if data is not None:
        n = generate_file(lm, data, out, options, tools=declared)
        Console(stderr=True).print(f"wrote {n} predictions to {out}")
        return
    messages = ((Message("system", system),) if system else ()) + (Message("user", prompt),)
    reply = generate(lm, [with_tools(Conversation(messages), declared)], options)[0]
    if declared:
        content, calls = parse_calls(reply)
        print(json.dumps({"content": content, "tool_calls": [{"name": c.name, "arguments": json.loads(c.arguments)}
                                                              for c in calls]}, ensure_ascii=False))
    else:
        print(reply)


def _structure(json_schema: Path | None, tools: Path | None, tool_choice: str):
    """(tools, constraint) from --json-schema / --tools."""
    from mentor.inference import grammar

    if json_schema is not None and tools is not None:
        raise MentorError("Pass one of --json-schema and --tools.")
    if json_schema is not None:
        return [], grammar.json_schema(read_json(json_schema, "--json-schema"))
    if tools is None:
        return [], None
    spec = read_json(tools, "--tools")
    spec = spec.get("tools") if isinstance(spec, dict) else spec
    if not isinstance(spec, list) or not spec:
        raise MentorError(f"--tools {tools}: expected a list of function tools, or {{\"tools\": [...]}}.")
    declared = read_tools(spec, where=str(tools))
    return declared, grammar.tool_calls(declared, tool_choice)



def chat_cmd(
    model: Optional[str] = _MODEL, run: Optional[str] = _RUN,
    system: Optional[str] = typer.Option(None, help="system prompt"),
    max_new_tokens: int = _MAX_NEW, temperature: float = _TEMP, top_p: float = _TOP_P, device: str = _DEVICE,
    backend: str = _BACKEND,
) -> None:
    """Interactive chat, streamed to the terminal. Empty line or Ctrl-D ends it; /reset clears history."""
    console = Console()
    lm = load_for_inference(model, run, device=device, backend=backend)
    options = GenerationOptions(max_new_tokens, temperature, top_p)
    history: list[Message] = [Message("system", system)] if system else []
    console.print(f"[dim]chatting with {lm.name}{' + run ' + lm.run.name if lm.run else ''}; empty line to quit[/]")
    while True:
        try:
            text = console.input("[bold green]you>[/] ")
        except (EOFError, KeyboardInterrupt):
            break
        if not text.strip():
            break
        if text.strip() == "/reset":
            history = history[:1] if system else []
            continue
        history.append(Message("user", text))
        console.print("[bold blue]mentor>[/] ", end="")
        reply = ""
        for piece in stream(lm, Conversation(tuple(history)), options):
            reply += piece
            console.print(piece, end="", highlight=False, markup=False)
        console.print()
        history.append(Message("assistant", reply.strip()))
