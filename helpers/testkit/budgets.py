"""The notebooks' time budgets and the unit tests that belong to each (tests/notebook_budgets.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field

from helpers.paths import REPO_ROOT

BUDGETS_FILE = REPO_ROOT / "tests" / "notebook_budgets.toml"
CLEAN_UP = "99_clean_up"


@dataclass
class Budget:
    notebook: str
    seconds: float
    unit_tests: list[str] = field(default_factory=list)


def load() -> dict[str, Budget]:
    raw = tomllib.loads(BUDGETS_FILE.read_text())
    return {name: Budget(name, float(spec["seconds"]), list(spec.get("unit_tests", [])))
            for name, spec in raw["notebooks"].items()}


def _run() -> dict:
    return tomllib.loads(BUDGETS_FILE.read_text())["run"]


def peak_memory_mb() -> float:
    return float(_run()["peak_memory_mb"])


def shared_cores_factor() -> float:
    """How many times its budget a notebook may take in `make test`, where lanes and unit tests share the cores."""
    return float(_run()["shared_cores_factor"])
