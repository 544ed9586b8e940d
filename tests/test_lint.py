"""ruff over the code, including its AIR rules, which flag Airflow 2 idioms that break on Airflow 3."""

from __future__ import annotations

import subprocess
import sys

from helpers.paths import REPO_ROOT


def test_ruff_is_clean():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", "helpers", "dags", "tests",
                           "conftest.py"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
