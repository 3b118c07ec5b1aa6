"""Ready apps: ``mentor app new NAME --template qa|writer|viewpoints|tutor|titles|summary`` writes the app's
YAML and its small English + Chinese eval set into a folder, to edit and create (or created at once).

Each template's evaluation fits its task: ROUGE-L for titles and summaries (and qa, besides "contains"
checks), a JSON schema plus leaf-by-leaf key match for viewpoints, an LLM judge for the writer and tutor.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import yaml

from mentor.engine.config import NAME
from mentor.errors import MentorError

TEMPLATES = ("qa", "writer", "viewpoints", "tutor", "titles", "summary")


def _read(name: str) -> str:
    return (resources.files("mentor.apps") / "templates_data" / name).read_text(encoding="utf-8")


def write(template: str, name: str, folder: Path, kb: str | None = None, model: str | None = None) -> tuple[Path, Path]:
    """The app ``name`` from ``template`` as ``folder/name.yaml`` and ``folder/name.eval.jsonl``; both paths.
    Existing files are not overwritten."""
    if template not in TEMPLATES:
        raise MentorError(f"--template: unknown template '{template}' (templates: {', '.join(TEMPLATES)}).")
    if not re.fullmatch(NAME, name):
        raise MentorError(f"name: '{name}' is not an app name (letters, digits, '_', '.', '-'; starting with a letter "
                          "or digit; at most 64).")
    raw = yaml.safe_load(_read(f"{template}.yaml"))
    if template == "qa":
        if not kb:
            raise MentorError("--kb: the qa template answers from a knowledge base; name it (mentor kb list shows them).")
        raw["flow"] = {"rag": kb}
    raw["name"] = name
    if model:
        raw["model"] = model
    app_file, cases = folder / f"{name}.yaml", folder / f"{name}.eval.jsonl"
    raw["evaluation"] = {**raw.get("evaluation", {}), "cases": str(cases)}
    for path in (app_file, cases):
        if path.exists():
            raise MentorError(f"{path} exists already: pick another --dir or app name.")
    folder.mkdir(parents=True, exist_ok=True)
    header = "".join(line + "\n" for line in _read(f"{template}.yaml").splitlines() if line.startswith("#"))
    app_file.write_text(header + yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    cases.write_text(_read(f"{template}.eval.jsonl"), encoding="utf-8")
    return app_file, cases
