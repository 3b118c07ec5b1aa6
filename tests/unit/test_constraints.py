"""Installs cannot rot: every dependency pyproject.toml names (base, test, models, postgres) is pinned to one
tested version in constraints.txt, which `make setup` installs with."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_is_pinned():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_name(r) for r in project["dependencies"] if _name(r) != "torch"}  # torch: the Makefile pins the CPU build
    for extra in ("test", "models", "postgres"):
        wanted |= {_name(r) for r in project["optional-dependencies"][extra]}
    pins = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: '{line}' is not pinned with =="
            pins[name.lower().replace("_", "-")] = version
    assert not wanted - set(pins), f"not pinned in constraints.txt: {sorted(wanted - set(pins))}"
    assert "-c constraints.txt" in (REPO / "Makefile").read_text(encoding="utf-8")
