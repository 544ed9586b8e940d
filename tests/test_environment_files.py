"""The venv path (Makefile) and the conda path (environment.yml) install the same pins."""

from __future__ import annotations

import re

import yaml

from helpers.paths import REPO_ROOT, REQUIREMENTS_DIR
from helpers.versions import mwaa_pins


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REQUIREMENTS_DIR / "workbook.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, rest = line.split("==", 1)
            if ";" not in rest or "python_full_version < '3.12'" in rest:
                pins[name.strip().lower()] = rest.split(";")[0].strip()
    return pins


def test_environment_yml_installs_exactly_the_lock():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["-r requirements/workbook.lock", "-e ."]
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python=3.11"


def test_makefile_syncs_the_same_lock_with_compiled_bytecode():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "uv pip sync --quiet --python $(BIN)/python --compile-bytecode requirements/workbook.lock" in makefile


def test_lock_pins_airflow_and_providers_to_mwaa():
    lock, mwaa = _lock(), mwaa_pins()
    pinned = [n for n in lock if n.startswith("apache-airflow")]
    assert "apache-airflow-providers-amazon" in pinned and lock["apache-airflow"] == "3.3.1"
    assert {n: lock[n] for n in pinned} == {n: mwaa[n] for n in pinned}


def test_workbook_in_pins_providers_exactly():
    wanted = (REQUIREMENTS_DIR / "workbook.in").read_text()
    for line in wanted.splitlines():
        if line.startswith("apache-airflow"):
            assert re.search(r"==\d", line), f"pin exactly: {line}"


def test_known_traps_are_avoided():
    lock = _lock()
    assert lock["snowflake-connector-python"].startswith("4.")  # fakesnow breaks with 5.x
    assert lock["s3fs"] == "2026.7.0"  # unpinned s3fs backtracks to 0.4.2
    assert "aiobotocore" in lock  # deferrable AWS operators need it
