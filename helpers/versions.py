"""The installed packages against the Amazon MWAA image they are pinned to."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

import pandas as pd

from helpers.paths import REQUIREMENTS_DIR

MWAA_VERSION = "3.3.1"
KEY_PACKAGES = (
    "apache-airflow", "apache-airflow-task-sdk", "apache-airflow-providers-amazon", "apache-airflow-providers-snowflake",
    "apache-airflow-providers-cncf-kubernetes", "apache-airflow-providers-openlineage",
    "apache-airflow-providers-common-sql", "apache-airflow-providers-postgres", "apache-airflow-providers-standard",
    "boto3", "botocore", "aiobotocore", "snowflake-connector-python", "s3fs", "pandas", "numpy",
)
# Packages the MWAA 3.3.1 pins for Python 3.12 that cannot install on Python 3.11.
RELAXED_ON_PY311 = {"pandas", "numpy"}


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def mwaa_pins(mwaa_version: str = MWAA_VERSION) -> dict[str, str]:
    """package -> version from MWAA's Airflow constraints and the list of what its image installs."""
    pins: dict[str, str] = {}
    folder = REQUIREMENTS_DIR / f"mwaa-{mwaa_version}"
    for name in ("airflow_constraints.txt", "mwaa_image_installed.txt"):
        for line in (folder / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                pkg, ver = line.split("==", 1)
                pins.setdefault(_norm(pkg), ver.split(";")[0].strip())
    return pins


def check(packages=KEY_PACKAGES) -> pd.DataFrame:
    """One row per key package: MWAA's pin, what is installed, and whether they match."""
    pins = mwaa_pins()
    py311 = platform.python_version_tuple()[:2] == ("3", "11")
    rows = []
    for pkg in packages:
        try:
            installed = version(pkg)
        except PackageNotFoundError:
            installed = "missing"
        pin = pins.get(_norm(pkg), "-")
        if installed == pin:
            verdict = "match"
        elif py311 and _norm(pkg) in RELAXED_ON_PY311:
            verdict = "relaxed (Python 3.11)"
        else:
            verdict = "DIFFERS"
        rows.append({"package": pkg, "mwaa_3.3.1": pin, "installed": installed, "verdict": verdict})
    return pd.DataFrame(rows)
