"""The notebooks' time budgets and the unit tests that belong to each (tests/notebook_budgets.toml)."""

from __future__ import annotations

import os
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
    rerun: bool = True  # `make test` executes it a second time in the same local cloud

    @property
    def executions(self) -> tuple[int, ...]:
        return (1, 2) if self.rerun else (1,)


def load() -> dict[str, Budget]:
    raw = tomllib.loads(BUDGETS_FILE.read_text())
    return {name: Budget(name, float(spec["seconds"]), list(spec.get("unit_tests", [])), bool(spec.get("rerun", True)))
            for name, spec in raw["notebooks"].items()}


def executions(name: str) -> tuple[int, ...]:
    """The executions `make test` runs of a notebook: (1, 2), or (1,) where tests/notebook_budgets.toml says
    `rerun = false`. The last one is compared with the committed outputs."""
    if os.environ.get("WORKBOOK_TEST_NOTEBOOKS"):  # `make test NB=...`: the re-run too, whatever the file says
        return (1, 2)
    found = load().get(name)
    return found.executions if found else (1, 2)


def _run() -> dict:
    return tomllib.loads(BUDGETS_FILE.read_text())["run"]


def peak_memory_mb() -> float:
    return float(_run()["peak_memory_mb"])


def shared_cores_factor() -> float:
    """How many times its budget a notebook may take in `make test`, where lanes and unit tests share the cores."""
    return float(_run()["shared_cores_factor"])
