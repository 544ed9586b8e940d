"""MWAA's Airflow versions on this machine, for checks a team runs before an upgrade, on either target: the
interpreter of a version (its virtual environment, with that MWAA version's packages, made on first use and cached)
and a requirements.txt resolved against a version's constraints, as the MWAA image's test-requirements does.

The local MWAA runs its environments with the same two (helpers.localcloud.emulators.mwaa.versions and .requirements):
one implementation, so a check here and an environment there agree.
"""

from __future__ import annotations

from pathlib import Path

from helpers.localcloud.emulators.mwaa import requirements, versions
from helpers.progress import progress


def python(version: str) -> Path:
    """An interpreter whose `-m airflow` is MWAA `version`'s Airflow. Made on first use (about 20 s), then cached."""
    if version == versions.INSTALLED_AIRFLOW or (versions.venv_dir(version) / versions.MARKER).exists():
        return versions.python_for(version)
    with progress(f"Airflow {version}: making its virtual environment (once, about 20 s)", total=None):
        return versions.python_for(version)


def resolve(requirements_txt: str, version: str) -> dict:
    """requirements.txt resolved against MWAA `version`'s constraints without installing anything: ok and the pins, or
    the resolver's error."""
    result = requirements.resolve(requirements_txt, version, python=python(version))
    return {"ok": result.ok, "pins": list(result.pins), "error": result.error}
