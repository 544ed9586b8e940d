"""Where the workbook keeps things. Generated state never lands in tracked folders."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGS_DIR = REPO_ROOT / "dags"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
SAMPLE_DATA_DIR = REPO_ROOT / "sample_data"
REQUIREMENTS_DIR = REPO_ROOT / "requirements"
BUILD_DIR = REPO_ROOT / "build"


def state_dir() -> Path:
    """Local cloud state, Airflow homes and logs (git-ignored). Overridable so tests stay isolated."""
    # absolute: the path ends up in SQLite URLs and in processes started from other directories
    path = Path(os.environ.get("WORKBOOK_STATE_DIR", REPO_ROOT / ".workbook")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Reusable, derived files (e.g. a migrated Airflow DB template), shared by every state folder."""
    path = Path(os.environ.get("WORKBOOK_CACHE_DIR", REPO_ROOT / ".workbook" / "cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def plots_dir() -> Path:
    path = BUILD_DIR / "plots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shown(path: Path | str) -> str:
    """A path as the learner should see it: relative to the repo, so outputs are the same on every machine."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return path.name
