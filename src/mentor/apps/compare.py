"""A candidate run against the model an app serves: the app's eval set, held-out mined cases and a forgetting
probe, side by side; promotion only for a winner that forgets at most ``iterate.max_forgetting`` points."""

from __future__ import annotations

import time
from pathlib import Path

from mentor.engine import store
from mentor.errors import MentorError
from mentor.workspace import Workspace


def compare(ws: Workspace, app: str, candidate: str, held: str | Path | None = None, apps=None,
            report: Path | None = None, progress=None) -> dict:
    """Score the app on its current model and on ``candidate``; the verdict and where the HTML report is."""
    from mentor.engine.app import Apps
    from mentor.engine.evaluation import read_cases, report_sections, run_matrix
    from mentor.engine.generator import LocalGenerator
    from mentor.evaluate.html import cell, num, page, section, table

    stored = store.get(app, ws)
    config = stored.config
    _same_base(ws, config.model, candidate)
    apps = apps or Apps(ws, LocalGenerator(ws))
    sets = []
    if config.evaluation.cases:
        sets.append(("eval set", read_cases(config.evaluation.cases)))
    if held and Path(held).exists() and Path(held).read_text(encoding="utf-8").strip():
        sets.append(("held-out cases", read_cases(held)))
    if not sets:
        raise MentorError(f"app '{app}' has nothing to compare on: set evaluation.cases in its YAML (an eval set of "
                          "{\"q\", \"reference\"} rows), or pass held-out cases.")
    result: dict = {"app": app, "version": stored.version, "current": config.model, "candidate": candidate, "sets": {}}
    sections = []
    for label, cases in sets:
        columns = run_matrix(app, cases, apps, [stored.version], [config.model, candidate], progress=progress)
        result["sets"][label] = {"cases": len(cases), "current": columns[0].score, "candidate": columns[1].score,
                                 "columns": [c.to_json() for c in columns]}
        sections += report_sections(cases, columns, f"{label}: ")
    probe = _forgetting(ws, config, candidate)
    result["forgetting"] = probe
    headline = result["sets"][sets[0][0]]
    cur, cand = headline["current"] or 0.0, headline["candidate"] or 0.0
    result["score"] = {"set": sets[0][0], "current": cur, "candidate": cand, "delta": round(cand - cur, 2)}
    if cand <= cur:
        result["promote"], result["reason"] = False, f"the candidate scores {cand:.1f} on the {sets[0][0]}, not above {cur:.1f}"
    elif probe.get("drop") is not None and probe["drop"] > config.iterate.max_forgetting:
        result["promote"], result["reason"] = False, (f"it forgets {probe['drop']:.1f} points of general knowledge "
                                                      f"(at most {config.iterate.max_forgetting:g} allowed)")
    else:
        result["promote"] = True
        result["reason"] = (f"the candidate scores {cand:.1f} vs {cur:.1f} on the {sets[0][0]}" +
                            (f", general knowledge {-probe['drop']:+.1f} points" if probe.get("drop") is not None
                             else " (no forgetting probe: set iterate.general)"))
    report = report or ws.home / "iterations" / app / f"compare-{Path(candidate).name}-{int(time.time())}.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    verdict = table(["current", "candidate", "score delta", "general accuracy", "promote", "why"], [[
        cell(config.model), cell(candidate), num(result["score"]["delta"], delta=True), cell(_accuracy_text(probe)),
        cell("yes" if result["promote"] else "no"), cell(result["reason"])]])
    from mentor.files import atomic_write_json, atomic_write_text

    atomic_write_text(report, page(f"Iteration compare: {app}", f"{config.model} vs {candidate}",
                                   [section("Verdict", verdict), *sections]))
    atomic_write_json(report.with_suffix(".json"), result)
    result["report"] = str(report)
    return result


def _accuracy_text(probe: dict) -> str:
    if probe.get("drop") is None:
        return "not measured"
    return f"{probe['current']:.1f} -> {probe['candidate']:.1f} ({probe['questions']} questions)"


def _forgetting(ws: Workspace, config, candidate: str) -> dict:
    """General multiple-choice accuracy of the current model and the candidate (``iterate.general``)."""
    if not config.iterate.general:
        return {"questions": 0, "drop": None}
    from mentor.evaluate.general import load_questions, measure
    from mentor.generation import load_run_or_model

    questions = load_questions(config.iterate.general, config.iterate.questions)
    scores = {}
    for key, model in (("current", config.model), ("candidate", candidate)):
        scores[key] = measure(load_run_or_model(model, ws), questions)["accuracy"]
    return {"questions": len(questions), **scores, "drop": round(scores["current"] - scores["candidate"], 2)}


def run_dir(ws: Workspace, model: str) -> Path | None:
    """The run folder when ``model`` names a run (by name or folder), else None (an alias or model folder)."""
    record = ws.get_run(model)
    return record.path if record else (Path(model) if (Path(model) / "run.json").exists() else None)


def base_of(ws: Workspace, model: str) -> str:
    """The base model under ``model``: a run's base (followed through continued runs), else the model itself."""
    from mentor.methods.artifact import artifact_dir, read_method

    folder = run_dir(ws, model)
    if folder is None:
        return model
    artifact = artifact_dir(folder)
    if artifact is None:
        raise MentorError(f"Run '{model}' has no trained model yet.")
    return read_method(artifact)[2]


def _same_base(ws: Workspace, current: str, candidate: str) -> None:
    if run_dir(ws, candidate) is None:
        raise MentorError(f"'{candidate}' is not a run of this workspace (mentor runs list shows them).")
    a, b = base_of(ws, current), base_of(ws, candidate)
    if a != b:
        raise MentorError(f"The run '{candidate}' is built on '{b}', but the app serves a model built on '{a}': "
                          "its answers cannot be compared as a next version (train it with --from the app's model).")


def promote(ws: Workspace, app: str, run: str, force: bool = False, comparison: dict | None = None) -> store.StoredApp:
    """Switch the app to ``run`` as a new version, if the comparison says it wins (``force``: without asking)."""
    stored = store.get(app, ws)
    if stored.config.model == run:
        raise MentorError(f"app '{app}' already serves '{run}'.")
    _same_base(ws, stored.config.model, run)
    if not force:
        comparison = comparison or compare(ws, app, run)
        if not comparison["promote"]:
            raise MentorError(f"Not promoted: {comparison['reason']} (--force promotes anyway).")
    note = f"promoted {run} (was {stored.config.model})" + (f": {comparison['reason']}" if comparison else ", forced")
    saved, _ = store.save(stored.config.model_copy(update={"model": run}), ws, note=note)
    return saved


def rollback(ws: Workspace, app: str) -> store.StoredApp:
    """Serve the model the app served before its current one (a new version; the history keeps both)."""
    versions = store.history(app, ws)
    current = versions[-1].config.model
    earlier = next((v for v in reversed(versions[:-1]) if v.config.model != current), None)
    if earlier is None:
        raise MentorError(f"app '{app}' has served only '{current}': there is nothing to roll back to.")
    saved, _ = store.save(versions[-1].config.model_copy(update={"model": earlier.config.model}), ws,
                          note=f"rolled back to {earlier.config.model} (was {current})")
    return saved

