"""The studio's pages. Each handler calls the library function or the API route the CLI and the server use;
pages are server-rendered (Jinja2) and htmx swaps the fragments the forms return."""

from __future__ import annotations

import difflib
import hmac
import json
import threading
import time
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mentor.errors import MentorError, NotFound
from mentor.serve.app import SESSION_COOKIE, session_token
from mentor.studio.web import LANG_COOKIE, LANGUAGES, render, static_file

router = APIRouter(prefix="/studio", include_in_schema=False)
STATIC = {"htmx.min.js": "text/javascript", "studio.js": "text/javascript", "studio.css": "text/css"}
PROMPT_PARTS = ("role", "task", "scene", "boundaries", "requirements", "style")


def _html(text: str) -> HTMLResponse:
    from markupsafe import escape

    return HTMLResponse(f'<p class="ok">{escape(text)}</p>')


# -- session -------------------------------------------------------------------------------------------
@router.get("/login")
async def login_page(request: Request, next: str = "/studio"):
    return render(request, "login.html", next=_local(next), error=None)


@router.post("/login")
async def login(request: Request, key: str = Form(""), next: str = Form("/studio")):
    api_key = request.app.state.settings.api_key
    if api_key and not hmac.compare_digest(key.encode(), api_key.encode()):
        return render(request, "login.html", 401, next=_local(next), error=_t(request, "Incorrect API key."))
    reply = RedirectResponse(_local(next), 303)
    if api_key:
        reply.set_cookie(SESSION_COOKIE, session_token(api_key), httponly=True, samesite="strict", path="/")
    return reply


@router.get("/logout")
async def logout():
    reply = RedirectResponse("/studio/login", 303)
    reply.delete_cookie(SESSION_COOKIE, path="/")
    return reply


@router.get("/lang/{code}")
async def set_language(code: str, next: str = "/studio"):
    if code not in LANGUAGES:
        raise NotFound(f"No UI language '{code}' (have {', '.join(LANGUAGES)}).")
    reply = RedirectResponse(_local(next), 303)
    reply.set_cookie(LANG_COOKIE, code, samesite="strict", path="/", max_age=365 * 86400)
    return reply


def _local(target: str) -> str:
    """Only a studio path may follow a login or a language switch (no open redirect)."""
    return target if target.startswith("/studio") and "//" not in target else "/studio"


@router.get("/static/{name}")
async def static(name: str):
    if name not in STATIC:
        raise NotFound(f"No studio file '{name}'.")
    return Response(static_file(name), media_type=STATIC[name], headers={"Cache-Control": "max-age=3600"})


# -- chat ----------------------------------------------------------------------------------------------
@router.get("")
async def chat_page(request: Request, model: str | None = None):
    from mentor.serve.inference import list_models

    models = [m["id"] for m in (await list_models(request))["data"] if m["id"] not in _embedders()]
    return render(request, "chat.html", title=_t(request, "Chat"), models=models,
                  selected=model or request.app.state.settings.model)


def _embedders() -> set[str]:
    from mentor.models import ALIASES

    return {name for name, a in ALIASES.items() if a.kind == "embedder"}


def _t(request: Request, text: str, **values) -> str:
    from mentor.studio.i18n import translator
    from mentor.studio.web import language

    return translator(language(request))(text, **values)


# -- data ----------------------------------------------------------------------------------------------
@router.get("/data")
async def data_page(request: Request):
    return render(request, "data.html", title=_t(request, "Data"), files=request.app.state.files.list("fine-tune"))


@router.post("/data/check")
async def data_check(request: Request, file: UploadFile):
    files = request.app.state.files
    tmp, label, size = await run_in_threadpool(files.stage, file.file, file.filename or "", "fine-tune")
    try:
        context = await run_in_threadpool(_check_upload, request.app.state, tmp, label)
        if not context["errors"]:
            context["record"] = await run_in_threadpool(files.keep, tmp, label, "fine-tune", size)
    finally:
        tmp.unlink(missing_ok=True)
    return render(request, "data_report.html", label=label, **context)


def _check_upload(state, path: Path, label: str) -> dict:
    """``data check`` on an upload (problems by line, token statistics), its languages, a length histogram and
    the first rows as the model's chat template renders them. Preference pairs are checked as pairs."""
    from mentor.data.check import check
    from mentor.evaluate.text import has_cjk
    from mentor.tune.preference import is_preference_file, load_pairs

    if is_preference_file(path):
        try:
            pairs = load_pairs(path)
        except MentorError as e:
            return {"errors": [str(e)], "problems": [{"line": "", "field": "", "severity": "error",
                                                      "message": str(e).replace(str(path), label)}]}
        return {"errors": [], "problems": [], "summary": {"format": "preference pairs", "examples": len(pairs),
                                                          "tokens_per_epoch": "", "token_lengths": {}},
                "duplicates": 0, "languages": {}, "histogram": [], "preview": []}
    tokenizer = _tokenizer(state)
    report = check(path, tokenizer)
    problems = [{"line": p.line, "field": p.field, "severity": p.severity, "message": p.message.replace(str(path), label)}
                for p in report.problems]
    examples = report.result.examples
    languages = {"Chinese": 0, "English": 0}
    for ex in examples:
        languages["Chinese" if any(has_cjk(m.content) for m in ex.messages) else "English"] += 1
    preview = [tokenizer.apply_chat_template([{"role": m.role, "content": m.content} for m in ex.messages],
                                             tokenize=False) for ex in examples[:3]]
    return {"errors": report.errors, "problems": problems, "summary": report.summary(),
            "duplicates": sum("duplicate" in p.message for p in report.warnings), "languages": languages,
            "histogram": _histogram(report.lengths), "preview": preview}


def _tokenizer(state):
    """The default model's tokenizer, from the engine's cache (loaded once per server)."""
    return state.engine.tokenizer(state.engine.resolve(state.settings.model))


def _histogram(values: list[int], bins: int = 8) -> list[tuple[int, int, int, float]]:
    if not values:
        return []
    lo, hi = min(values), max(values)
    width = max(1, -(-(hi - lo + 1) // bins))
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, (v - lo) // width)] += 1
    top = max(counts)
    return [(lo + i * width, lo + (i + 1) * width - 1, n, round(100 * n / top, 1)) for i, n in enumerate(counts) if n]


@router.post("/data/{file_id}/prepare")
async def data_prepare(request: Request, file_id: str):
    from mentor.data.prepare import prepare

    state = request.app.state
    record = state.files.get(file_id)
    out = state.ws.home / "datasets" / file_id

    def work():
        return prepare(record["path"], out, _tokenizer(state), workspace=state.ws)

    stats = await run_in_threadpool(work)
    return _html(_t(request, "Prepared {file}: {train} training and {val} validation rows ({dups} duplicates, "
                             "{invalid} invalid, {long} too long dropped) in {out}.", file=record["filename"],
                    train=stats.train, val=stats.validation, dups=stats.exact_duplicates + stats.near_duplicates,
                    invalid=stats.invalid, long=stats.too_long, out=out))


# -- training ------------------------------------------------------------------------------------------
@router.get("/train")
async def train_page(request: Request, file: str | None = None):
    from mentor.methods import get_method, method_names
    from mentor.models import llm_names

    state = request.app.state
    bases = llm_names()
    bases += [f"ft:{r.name}" for r in state.ws.list_runs() if r.status == "succeeded"]
    return render(request, "train.html", title=_t(request, "Train"), bases=bases, file=file,
                  files=state.files.list("fine-tune"), methods=[get_method(n) for n in method_names()],
                  method="lora", options=_method_fields("lora"), jobs=state.jobs.list())


@router.get("/train/options")
async def train_options(request: Request, method: str = "lora"):
    return render(request, "train_options.html", method=method, options=_method_fields(method))


def _method_fields(method: str) -> list[dict]:
    """The method's options as form fields: name, default, choices, and help from peft's own config classes (the
    options keep peft's names), else the field's type."""
    import dataclasses
    import typing

    from mentor.methods import get_method

    options = get_method("lora" if method == "dpo" else method).options
    helps = _peft_help()
    out = []
    for f in dataclasses.fields(options):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "")
        args = typing.get_args(f.type) if not isinstance(f.type, str) else ()
        choices = [str(a) for a in args] if args and typing.get_origin(f.type) is typing.Literal else None
        if isinstance(default, bool) and choices is None:
            choices = ["True", "False"]
        out.append({"name": f.name, "default": "" if default is None else json.dumps(default) if isinstance(default, list)
                    else str(default), "choices": choices, "help": helps.get(f.name) or str(f.type)})
    return out


@lru_cache(maxsize=1)
def _peft_help() -> dict[str, str]:
    import dataclasses

    import peft

    helps: dict[str, str] = {}
    for cls in (peft.LoraConfig, peft.IA3Config, peft.PrefixTuningConfig, peft.PromptTuningConfig,
                peft.PromptEncoderConfig):
        for f in dataclasses.fields(cls):
            text = f.metadata.get("help")
            if text and f.name not in helps:
                helps[f.name] = " ".join(text.split())[:240]
    return helps


@router.get("/train/memory")
async def train_memory(request: Request, model: str = "", method: str = "lora", batch_size: str = ""):
    from mentor.deploy.memory import GiB, ModelShape, training_memory
    from mentor.models import resolve

    def estimate():
        from transformers import AutoConfig

        state = request.app.state
        name = model.removeprefix("ft:")
        run = state.ws.get_run(name)
        base = run.base_model if run else (name or state.settings.model)
        source = resolve(base, state.ws)
        config = AutoConfig.from_pretrained(source.location)
        h, layers, ffn = config.hidden_size, config.num_hidden_layers, config.intermediate_size
        kv = (getattr(config, "num_key_value_heads", None) or config.num_attention_heads) * (h // config.num_attention_heads)
        params = layers * (2 * h * h + 2 * h * kv + 3 * h * ffn) + config.vocab_size * h
        kind = "lora" if method == "dpo" else method
        batch = int(batch_size) if batch_size.isdigit() else 4
        m = training_memory(ModelShape.from_config(config, params), kind, batch, 512)
        return {"gb": m.total / GiB, "parts": {k: v for k, v in m.parts_gb().items() if k != "total"}, "model": base,
                "method": method, "batch": batch, "seq": 512, "where": "CPU"}

    try:
        values = await run_in_threadpool(estimate)
    except (MentorError, OSError, ValueError) as e:
        from markupsafe import escape

        return HTMLResponse(f'<p class="memory">{escape(_t(request, "No memory estimate"))}: {escape(str(e))}</p>')
    return render(request, "train_memory.html", **values)


@router.post("/train")
async def start_training(request: Request):
    """The form as an OpenAI fine-tuning job request (``method.type`` naming the method, its options, and the
    hyperparameters), created by the same job store as POST /v1/fine_tuning/jobs."""
    form = await request.form()
    method = form.get("method") or "lora"
    hyper = {}
    for key, cast in (("n_epochs", int), ("batch_size", int), ("learning_rate_multiplier", float)):
        value = (form.get(key) or "").strip()
        if value:
            try:
                hyper[key] = cast(value)
            except ValueError:
                raise MentorError(f"{key}: '{value}' is not a number.") from None
    options = {}
    defaults = {f["name"]: f["default"] for f in _method_fields(method)}
    for key, value in form.items():
        if key.startswith("opt.") and value != defaults.get(key[4:]):
            options[key[4:]] = _option_value(value)
    section = {"hyperparameters": hyper, **({"options": options} if options and method != "dpo" else {})}
    body = {"model": form.get("model") or request.app.state.settings.model, "training_file": form.get("training_file"),
            "method": {"type": method, method: section}, "suffix": (form.get("suffix") or "").strip() or None}
    if not body["training_file"]:
        raise MentorError(_t(request, "training_file: upload a training file on the Data page first."))
    state = request.app.state
    job = await run_in_threadpool(state.jobs.create, body, state.files)
    return Response(status_code=204, headers={"HX-Redirect": f"/studio/train/{job['id']}"})


def _option_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"True": True, "False": False}.get(text, text)


@router.get("/train/{job_id}")
async def job_page(request: Request, job_id: str):
    context = await run_in_threadpool(_job_progress, request.app.state, job_id)
    return render(request, "job.html", title=f"{_t(request, 'Job')} {job_id}", **context)


@router.get("/train/{job_id}/progress")
async def job_progress(request: Request, job_id: str):
    return render(request, "job_progress.html", **await run_in_threadpool(_job_progress, request.app.state, job_id))


@router.post("/train/{job_id}/{action}")
async def job_action(request: Request, job_id: str, action: str):
    jobs = request.app.state.jobs
    if action not in ("cancel", "pause", "resume"):
        raise NotFound(f"No job action '{action}'.")
    await run_in_threadpool(getattr(jobs, action), job_id)
    return await job_progress(request, job_id)


def _job_progress(state, job_id: str) -> dict:
    from mentor.metrics_log import MetricsLog
    from mentor.serve.jobs import FINISHED, _run_info

    job = state.jobs.get(job_id)
    run_dir = state.ws.runs_dir / job_id
    metrics = MetricsLog(run_dir / "metrics.jsonl").read()
    curves = _curves(metrics)
    info = _run_info(run_dir)
    steps = [m for m in metrics if "train_loss" in m]
    step, total, eta = (steps[-1]["step"] if steps else 0), info.get("steps"), None
    if steps and total and job["status"] == "running" and step < total:
        first = steps[0]
        rate = (steps[-1]["time"] - first["time"]) / max(1, step - first["step"]) if step > first["step"] else None
        eta = f"{int(rate * (total - step))} s" if rate else None
    events = [e for e in state.jobs.events(job_id) if e["type"] == "message"]
    return {"job": job, "curves": curves, "step": step, "total": total, "eta": eta, "events": events,
            "finished": job["status"] in FINISHED or job["status"] == "paused"}


def _curves(metrics: list[dict]) -> dict[str, list[tuple[float, float]]]:
    curves = {"train": [(m["step"], m["train_loss"]) for m in metrics if "train_loss" in m]}
    validation = [(m["step"], m["val_loss"]) for m in metrics if "val_loss" in m]
    if validation:
        curves["validation"] = validation
    return curves


# -- runs ----------------------------------------------------------------------------------------------
@router.get("/runs")
async def runs_page(request: Request):
    runs = list(reversed(await run_in_threadpool(request.app.state.ws.list_runs)))
    return render(request, "runs.html", title=_t(request, "Runs"), runs=runs)


@router.get("/runs/compare")
async def compare_runs(request: Request, run: list[str] = Query(default=[])):
    from mentor.metrics_log import MetricsLog

    ws = request.app.state.ws
    names = run
    if not 2 <= len(names) <= 4:
        raise MentorError(_t(request, "Check two to four runs to compare."))
    rows, curves, keys = [], {}, []
    for name in names:
        record = _run(ws, name)
        row = {"base model": record.base_model, "method": record.method, "status": record.status,
               **{k: v for k, v in (record.summary or {}).items()
                  if not isinstance(v, (dict, list)) and k not in _SAID_ELSEWHERE}}
        keys += [k for k in row if k not in keys]
        rows.append({"name": name, "row": row})
        curves[name] = _curves(MetricsLog(record.path / "metrics.jsonl").read())["train"]
    return render(request, "compare.html", title=_t(request, "Compare runs"), runs=rows, keys=keys, curves=curves)


_SAID_ELSEWHERE = {"name", "base_model", "method", "status", "run_dir", "created", "updated"}


def _run(ws, name: str):
    record = ws.get_run(name)
    if record is None:
        raise NotFound(f"No run named '{name}'.")
    return record


@router.get("/runs/{name}")
async def run_page(request: Request, name: str):
    from mentor.engine import store
    from mentor.metrics_log import MetricsLog

    ws = request.app.state.ws
    record = _run(ws, name)
    folder = Path(record.path)
    config = (folder / "config.yaml").read_text(encoding="utf-8") if (folder / "config.yaml").exists() else ""
    evaluations = {}
    for path in sorted(folder.glob("eval*.json")):
        evaluations[path.stem] = json.dumps(json.loads(path.read_text(encoding="utf-8")), indent=2, ensure_ascii=False)[:20000]
    return render(request, "run.html", title=f"{_t(request, 'Run')} {name}", run=record, config=config,
                  curves=_curves(MetricsLog(folder / "metrics.jsonl").read()), summary=record.summary,
                  evaluations=evaluations, report=(folder / "report.html").exists(),
                  apps=[a.config.name for a in store.list_apps(ws)], task=_tasks(request.app.state).get(f"deploy-{name}"))


@router.get("/runs/{name}/report")
async def run_report(request: Request, name: str):
    path = Path(_run(request.app.state.ws, name).path) / "report.html"
    if not path.exists():
        raise NotFound(f"Run {name} has no report (mentor report {name}).")
    return HTMLResponse(path.read_text(encoding="utf-8"))


@router.post("/runs/{name}/promote")
async def run_promote(request: Request, name: str, app: str = Form(...), force: bool = Form(False)):
    from mentor.apps import promote

    saved = await run_in_threadpool(promote, request.app.state.ws, app, name, force)
    return _html(_t(request, "App {app} version {version} now serves {run}.", app=app, version=saved.version, run=name))


@router.post("/runs/{name}/export")
async def run_export(request: Request, name: str, fmt: str = Form("hf"), quantize: str = Form("")):
    """``mentor export`` in the background, into a new folder under the workspace's exports/."""
    from mentor.deploy.export import export

    state = request.app.state
    _run(state.ws, name)
    out = _new_folder(state.ws.home / "exports", f"{name}-{fmt}" + (f"-{quantize}" if quantize else ""))

    def work(task: dict) -> dict:
        task["message"] = _t(request, "exporting to {out}", out=out)
        path = export(name, fmt, out, quantize or None, workspace=state.ws)
        return {"result": _t(request, "Exported {run} as {fmt} to {path}.", run=name, fmt=fmt, path=path)}

    return render(request, "task.html", task=start_task(state, f"deploy-{name}", _t(request, "Export"), 0, work))


@router.post("/runs/{name}/quantize")
async def run_quantize(request: Request, name: str, to: str = Form("int8")):
    """``mentor quantize`` (CPU) in the background, into a new folder under the workspace's exports/."""
    from mentor.deploy.quantize import quantize

    state = request.app.state
    _run(state.ws, name)
    out = _new_folder(state.ws.home / "exports", f"{name}-{to}")

    def work(task: dict) -> dict:
        task["message"] = _t(request, "quantising to {out}", out=out)
        path = quantize(name, to, out, workspace=state.ws)
        return {"result": _t(request, "Quantised {run} to {scheme} in {path}.", run=name, scheme=to, path=path)}

    return render(request, "task.html", task=start_task(state, f"deploy-{name}", _t(request, "Quantise"), 0, work))


def _new_folder(parent: Path, name: str) -> Path:
    out, n = parent / name, 1
    while out.exists():
        n += 1
        out = parent / f"{name}-{n}"
    return out


# -- knowledge bases -----------------------------------------------------------------------------------
@router.get("/kb")
async def kb_page(request: Request):
    from mentor.rag.knowledge_base import list_names
    from mentor.serve.inference import _knowledge_base

    state = request.app.state

    def rows():
        return [(n, _knowledge_base(state, n).count()) for n in list_names(state.ws)]

    return render(request, "kb.html", title=_t(request, "Knowledge bases"), kbs=await run_in_threadpool(rows),
                  embedders=sorted(_embedders()))


@router.post("/kb")
async def kb_create(request: Request, name: str = Form(...), embedder: str = Form("me5-small")):
    from mentor.rag.knowledge_base import KnowledgeBase

    state = request.app.state
    state.knowledge_bases[name] = await run_in_threadpool(
        lambda: KnowledgeBase.create(name, embedder=embedder, workspace=state.ws))
    return RedirectResponse(f"/studio/kb/{quote(name)}", 303)


@router.get("/kb/{name}")
async def kb_one(request: Request, name: str):

    state = request.app.state
    kb = await run_in_threadpool(_open_kb, state, name)
    names = {f["path"]: f["filename"] for f in state.files.list()}
    sources = [names.get(s, Path(s).name) for s in await run_in_threadpool(lambda: list(kb.store.sources()))]
    return render(request, "kb_one.html", title=f"{_t(request, 'Knowledge base')} {name}", name=name,
                  count=await run_in_threadpool(kb.count), embedder=kb.settings.embedder, sources=sources,
                  task=_tasks(state).get(f"kb-{name}"))


def _open_kb(state, name: str):
    from mentor.rag.knowledge_base import list_names
    from mentor.serve.inference import _knowledge_base

    if name not in list_names(state.ws):
        raise NotFound(f"No knowledge base named '{name}'.")
    return _knowledge_base(state, name)


@router.post("/kb/{name}/upload")
async def kb_upload(request: Request, name: str):
    """Store the documents (as /v1/files uploads, purpose ``assistants``) and index them in the background; the
    page polls the progress."""
    state = request.app.state
    kb = await run_in_threadpool(_open_kb, state, name)
    form = await request.form()
    records = []
    for upload in form.getlist("file"):
        records.append(await run_in_threadpool(state.files.save, upload.file, upload.filename or "", "assistants"))
    if not records:
        raise MentorError("file: choose at least one document.")
    labels = {r["path"]: r["filename"] for r in records}

    def work(task: dict) -> dict:
        def progress(source: str, total: int) -> None:  # called as each file starts
            task["message"] = _t(request, "Indexing {file}", file=labels.get(source, Path(source).name))
            task["done"] = task.get("started", 0)
            task["started"] = task["done"] + 1

        report = kb.add([r["path"] for r in records], progress)
        task["done"] = len(records)
        failed = [f"{labels.get(f, f)}: {why}" for f, why in report.failed]
        text = _t(request, "Indexed: {added} added, {updated} updated, {unchanged} unchanged, {chunks} chunks, in "
                           "{seconds:.1f} s.", added=len(report.added), updated=len(report.updated),
                  unchanged=len(report.unchanged), chunks=report.chunks_added, seconds=report.seconds)
        return {"result": " ".join([text, *report.notes]), "error": "; ".join(failed) or None}

    task = start_task(state, f"kb-{name}", _t(request, "Indexing"), len(records), work)
    return render(request, "task.html", task=task)


# -- background tasks (indexing, exports, evaluations, iteration rounds) ---------------------------------
def _tasks(state) -> dict:
    if not hasattr(state, "studio_tasks"):
        state.studio_tasks = {}
    return state.studio_tasks


def start_task(state, key: str, title: str, total: int, work) -> dict:
    """Run ``work(task) -> dict`` (fields to show: ``result`` text, ``html``, ``link``, ``error``) in a thread; the
    page polls ``/studio/tasks/{key}``. One task per key at a time."""
    tasks = _tasks(state)
    if tasks.get(key, {}).get("running"):
        raise MentorError(f"{title}: still running; wait for it to finish.")
    task = tasks[key] = {"key": key, "title": title, "running": True, "done": 0, "total": total, "message": "",
                         "result": None, "html": None, "link": None, "error": None, "started": time.time()}

    def target() -> None:
        try:
            task.update(work(task))
        except Exception as e:  # shown on the page: the thread has no caller to raise to
            task["error"] = str(e) if isinstance(e, MentorError) else f"{type(e).__name__}: {e}"
        finally:
            task["running"] = False
            task["seconds"] = time.time() - task["started"]

    threading.Thread(target=target, name=f"studio-{key}", daemon=True).start()
    return task


@router.get("/tasks/{key}")
async def task_progress(request: Request, key: str):
    task = _tasks(request.app.state).get(key)
    if task is None:
        raise NotFound(f"No task '{key}' (tasks last until the server restarts).")
    return render(request, "task.html", task=task)


@router.post("/kb/{name}/search")
async def kb_search(request: Request, name: str, query: str = Form(...), mode: str = Form("hybrid"), k: int = Form(5)):
    from mentor.rag.retrieval import search

    state = request.app.state
    kb = await run_in_threadpool(_open_kb, state, name)
    hits = await run_in_threadpool(search, kb, query, mode, max(1, min(k, 50)))
    names = {f["path"]: f["filename"] for f in state.files.list()}
    return render(request, "kb_hits.html", hits=[
        {"score": h.score, "source": names.get(h.chunk.source, Path(h.chunk.source).name), "location": h.chunk.location,
         "heading": h.chunk.heading, "text": h.chunk.text} for h in hits])


# -- apps ----------------------------------------------------------------------------------------------
@router.get("/apps")
async def apps_page(request: Request):
    from mentor.apps.templates import TEMPLATES
    from mentor.engine import store
    from mentor.rag.knowledge_base import list_names

    ws = request.app.state.ws
    return render(request, "apps.html", title=_t(request, "Apps"), apps=await run_in_threadpool(store.list_apps, ws),
                  templates=TEMPLATES, kbs=list_names(ws))


@router.post("/apps")
async def app_create(request: Request, template: str = Form(...), name: str = Form(...), kb: str = Form("")):
    from mentor.apps.templates import write
    from mentor.engine import config as app_config
    from mentor.engine import store

    ws = request.app.state.ws

    def create():
        if any(a.config.name == name for a in store.list_apps(ws)):
            raise MentorError(f"name: an app named '{name}' exists already.")
        app_file, _ = write(template, name, ws.home / "apps" / name, kb=kb or None)
        return store.save(app_config.load(app_file), ws, note=f"from the {template} template")[0]

    await run_in_threadpool(create)
    return Response(status_code=204, headers={"HX-Redirect": f"/studio/apps/{quote(name)}"})


@router.get("/apps/{name}")
async def app_page(request: Request, name: str):
    from mentor.apps import iterations, mine
    from mentor.apps.feedback import metrics
    from mentor.engine import store

    ws = request.app.state.ws

    def context():
        app = _app(ws, name)
        history = store.history(name, ws)
        tasks = _tasks(request.app.state)
        return {"app": app, "history": history, "diff": _diff(history), "yaml": app.config.to_yaml(),
                "parts": PROMPT_PARTS, "metrics": metrics(ws, name, 30), "cases": mine(ws, name, cluster=False),
                "iterations": iterations(ws, name), "eval_task": tasks.get(f"eval-{name}"),
                "round_task": tasks.get(f"iterate-{name}")}

    values = await run_in_threadpool(context)
    return render(request, "app.html", title=f"{_t(request, 'App')} {name}", **values)


def _app(ws, name: str):
    from mentor.engine import store

    try:
        return store.get(name, ws)
    except MentorError as e:
        raise NotFound(str(e)) from None


_REFERENCE_KEYS = {"python", "scorer", "cases", "replay", "general", "judge"}


def _references(config) -> set[tuple[str, str]]:
    """What an app names outside itself: Python callables, files, model folders, judges (key, value)."""
    found = set()

    def walk(value, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and value and (
                key in _REFERENCE_KEYS or (key == "flow" and ":" in value) or (key in ("model", "embedder") and "/" in value)):
            found.add((key, value))

    walk(config.model_dump(mode="json"))
    return found


def _diff(history: list) -> list[str]:
    """What the newest version changed (unified diff of the two newest configs' YAML)."""
    ordered = sorted(history, key=lambda h: h.version)
    if len(ordered) < 2:
        return []
    before, after = ordered[-2], ordered[-1]
    return list(difflib.unified_diff(before.config.to_yaml().splitlines(), after.config.to_yaml().splitlines(),
                                     f"version {before.version}", f"version {after.version}", lineterm=""))


@router.post("/apps/{name}/prompt")
async def app_prompt(request: Request, name: str):
    form = await request.form()
    ws = request.app.state.ws
    app = await run_in_threadpool(_app, ws, name)
    parts = {p: (form.get(p) or "").strip() or None for p in PROMPT_PARTS}
    prompt = app.config.prompt.model_copy(update={**parts, "reasoning": form.get("reasoning") or "none"})
    return await _save_app(request, app.config.model_copy(update={"prompt": prompt}))


@router.post("/apps/{name}/yaml")
async def app_yaml(request: Request, name: str, yaml: str = Form(...)):
    from mentor.engine.config import parse

    config = parse(yaml, "app.yaml")
    if config.name != name:
        raise MentorError(f"app.yaml: name: this page edits '{name}'; create a new app for '{config.name}'.")
    return await _save_app(request, config)


async def _save_app(request: Request, config) -> HTMLResponse:
    from mentor.engine import store

    state = request.app.state
    before = await run_in_threadpool(_app, state.ws, config.name)
    added = _references(config) - _references(before.config)
    if added:
        raise MentorError(f"app.yaml: {sorted(added)[0][0]}: '{sorted(added)[0][1]}' is new. Code (tools, custom flows, "
                          "scorers), files, model folders and judges are named from the command line only "
                          "(mentor app create --config FILE): over HTTP they would let a client run code or open "
                          "paths on this machine.")
    saved, changed = await run_in_threadpool(store.save, config, state.ws, "edited in the studio")
    text = (_t(request, "Saved version {version}.", version=saved.version) if changed
            else _t(request, "Unchanged: still version {version}.", version=saved.version))
    return Response(_html(text).body, media_type="text/html",
                    headers={"HX-Refresh": "true"} if changed else {})


@router.post("/apps/{name}/test")
async def app_test(request: Request, name: str, message: str = Form(...)):
    """One message through the app as it is served (guard, router, flow), shown with its verdicts; logged like
    any request."""
    from markupsafe import escape

    from mentor.data.conversation import Message
    from mentor.serve.apps import _runtime

    state = request.app.state
    runtime = await run_in_threadpool(_runtime, state, f"app:{name}")
    reply = await run_in_threadpool(runtime.respond, [Message("user", message)])
    text = await run_in_threadpool(reply.read)
    trace = reply.trace.to_json()
    details = "".join(f"<dt>{escape(_t(request, k))}</dt><dd>{escape(json.dumps(trace.get(k), ensure_ascii=False))}</dd>"
                      for k in ("route", "routed_by", "score", "flow", "blocked", "guard", "tool_calls", "citations")
                      if trace.get(k) not in (None, [], {}))
    return HTMLResponse(f'<p class="answer">{escape(text)}</p><dl class="stats">{details}</dl>')


@router.post("/apps/{name}/cases/{log_id}")
async def app_case(request: Request, name: str, log_id: int, decision: str = Form(...), correction: str = Form("")):
    """Accept (with the reviewer's correction, checked like any correction) or reject a mined case."""
    from mentor.apps import mine
    from mentor.apps import feedback

    ws = request.app.state.ws
    if decision == "accept":
        if not correction.strip():
            raise MentorError(_t(request, "correction: write the answer the app should have given."))
        await run_in_threadpool(feedback.record, ws, str(log_id), -1, "reviewed in the studio", correction)
    elif decision == "reject":
        await run_in_threadpool(feedback.dismiss, ws, log_id)
    else:
        raise MentorError(f"decision: 'accept' or 'reject', not '{decision}'.")
    app = await run_in_threadpool(_app, ws, name)
    return render(request, "app_cases.html", app=app, cases=await run_in_threadpool(mine, ws, name, None, False, False))


@router.post("/apps/{name}/eval")
async def app_eval(request: Request, name: str):
    """``mentor app eval``: the app's eval cases against the checked versions x models, through the server's
    engine; the summary in the page and the HTML report with the answers side by side."""
    from mentor.engine.evaluation import html_report, read_cases, run_matrix
    from mentor.files import atomic_write_text
    from mentor.serve.apps import apps

    state = request.app.state
    form = await request.form()
    app = await run_in_threadpool(_app, state.ws, name)
    if not app.config.evaluation.cases:
        raise MentorError(f"app '{name}' names no eval set: set evaluation.cases in its YAML.")
    cases = read_cases(app.config.evaluation.cases)
    versions = [int(v) for v in form.getlist("version")] or [None]
    models = [m.strip() for m in (form.get("models") or "").split(",") if m.strip()] or [None]
    report = state.ws.home / "reports" / f"app-{name}.html"

    def work(task: dict) -> dict:
        def advance() -> None:
            task["done"] += 1

        columns = run_matrix(name, cases, apps(state), versions, models, progress=advance)
        report.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(report, html_report(name, cases, columns))
        html = _render_fragment(request, "eval_table.html", columns=columns, cases=len(cases))
        return {"html": html, "link": f"/studio/apps/{quote(name)}/report"}

    total = len(cases) * len(versions) * len(models)
    task = start_task(state, f"eval-{name}", _t(request, "Evaluation"), total, work)
    return render(request, "task.html", task=task)


@router.get("/apps/{name}/report")
async def app_report(request: Request, name: str):
    path = request.app.state.ws.home / "reports" / f"app-{name}.html"
    if not path.exists():
        raise NotFound(f"No evaluation report for app '{name}' yet.")
    return HTMLResponse(path.read_text(encoding="utf-8"))


@router.post("/apps/{name}/iterate")
async def app_iterate(request: Request, name: str):
    """``mentor iterate APP``: mine, build the next dataset, fine-tune, compare, promote a winner; in the
    background, its log lines as the progress."""
    from mentor.apps import run_round

    state = request.app.state
    await run_in_threadpool(_app, state.ws, name)

    def work(task: dict) -> dict:
        record = run_round(state.ws, name, log=lambda line: task.update(message=line))
        text = f"{_t(request, 'Round')} {record['id']}: {_t(request, record['status'])}: {record.get('reason', '')}"
        compared = record.get("compare")
        return {"result": text, "link": f"/studio/apps/{quote(name)}/rounds/{record['id']}" if compared else None}

    task = start_task(state, f"iterate-{name}", _t(request, "Iteration round"), 0, work)
    return render(request, "task.html", task=task)


@router.get("/apps/{name}/rounds/{number}")
async def round_report(request: Request, name: str, number: int):
    """A round's comparison report (the HTML that ``compare`` wrote in the round's folder)."""
    from mentor.apps import iterations

    ws = request.app.state.ws
    record = next((r for r in await run_in_threadpool(iterations, ws, name) if r["id"] == number), None)
    report = Path(((record or {}).get("compare") or {}).get("report") or "")
    if record is None or not report.is_file() or not report.resolve().is_relative_to(ws.home.resolve()):
        raise NotFound(f"Round {number} of app '{name}' has no comparison report.")
    return HTMLResponse(report.read_text(encoding="utf-8"))


def _render_fragment(request: Request, template: str, **context):
    from markupsafe import Markup

    return Markup(render(request, template, **context).body.decode())


# -- advise --------------------------------------------------------------------------------------------
@router.get("/advise")
async def advise_page(request: Request):
    return render(request, "advise.html", title=_t(request, "Advise"), advice=None, form={})


@router.post("/advise")
async def advise_post(request: Request):
    from mentor.deploy.advise import Situation, advise
    from mentor.deploy.memory import parse_params

    form = await request.form()
    try:
        situation = Situation(
            data_changes_often="data_changes_often" in form, must_cite_sources="must_cite_sources" in form,
            needs_style_or_format="needs_style_or_format" in form, low_latency="low_latency" in form,
            low_budget="low_budget" in form, training_examples=int(form.get("training_examples") or 0),
            model_params=parse_params(form.get("model_params") or "135M"),
            gpu_memory_gb=float(form.get("gpu_memory_gb") or 0), ram_gb=float(form.get("ram_gb") or 16))
    except ValueError as e:
        raise MentorError(str(e)) from None
    return render(request, "advise.html", title=_t(request, "Advise"), advice=advise(situation), form=dict(form))

