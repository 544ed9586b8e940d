"""The Python interpreter that runs a given MWAA version's Airflow.

The installed version (`validation.INSTALLED_AIRFLOW`, the one `requirements/workbook.in` pins) runs in the workbook's
own `.venv`: `sys.executable`, nothing extra. Every other supported version gets a virtual environment of its own,
`cache_dir()/airflow-venvs/<version>`, made on first use the way `make install` makes the workbook's: with uv, bytecode
compiled (this machine sets PYTHONDONTWRITEBYTECODE, and without compiled bytecode Airflow parses DAGs about 6x
slower), `apache-airflow==<version>` plus the providers the workbook's DAGs and the emulator's Airflow plugins import
(the `apache-airflow-providers-*` lines of requirements/workbook.in), each at the version that MWAA version's
constraints pin, all constrained by that version's `airflow_constraints.txt` and `mwaa_essential_constraints.txt`
(as the image's `safe-pip-install -c airflow_constraints.txt` does).

Python: MWAA's images run Python 3.12, and the constraint files they ship are Airflow's `constraints-3.12.txt` (each
file's header names it; see `constraints_python`). Airflow's `constraints-3.11.txt` for these versions is not
reachable here (raw.githubusercontent.com does not resolve), so the environments use the workbook's Python (3.11)
with the 3.12 files: 3.0.6's and 3.2.1's sets resolve on 3.11 as they are (checked 2026-12-03); 3.3.1's numpy and
pandas pins do not, which is why the workbook's lock uses `requirements/constraints.txt` (those two pins limited to
Python 3.12+, `make lock`), and so does this module for 3.3.1.

Several gateways or notebooks may ask for the same version at once: one lock file per version serialises the making.
An environment counts as made only when its marker file exists; the marker is written last (atomically), so a folder
without one (an install killed halfway) is removed and made again. The marker records the recipe (packages and
constraints), so an environment made from an older recipe is remade too.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from helpers.localcloud.emulators.mwaa.validation import AIRFLOW_VERSIONS, INSTALLED_AIRFLOW
from helpers.paths import REQUIREMENTS_DIR, cache_dir

MARKER = ".mwaa-venv.json"
INSTALL_TIMEOUT_SECONDS = 1800  # a cold uv cache downloads about 190 packages
_CONSTRAINTS_URL_PYTHON = re.compile(r"constraints-[0-9.]+/constraints-(\d+\.\d+)\.txt")

Installer = Callable[[Path, list[str], list[Path]], None]


class UnknownVersion(ValueError):
    pass


def check(version: str) -> None:
    if version not in AIRFLOW_VERSIONS:
        raise UnknownVersion(f"Unknown MWAA Airflow version {version!r}: the supported versions are {', '.join(AIRFLOW_VERSIONS)}.")


def folder(version: str) -> Path:
    """requirements/mwaa-<version>/: verbatim copies of that MWAA image's constraint files."""
    check(version)
    return REQUIREMENTS_DIR / f"mwaa-{version}"


def airflow_constraints(version: str) -> Path:
    """The version's Airflow constraints, as they apply to the workbook's Python (see the module docstring)."""
    if version_of_lock() == version:
        return REQUIREMENTS_DIR / "constraints.txt"
    return folder(version) / "airflow_constraints.txt"


def version_of_lock() -> str:
    """The MWAA version requirements/constraints.txt was generated from (its first line names the folder)."""
    first = (REQUIREMENTS_DIR / "constraints.txt").read_text().split("\n", 1)[0]
    match = re.search(r"mwaa-([0-9.]+)/", first)
    return match.group(1) if match else ""


def essential_constraints(version: str) -> Path:
    """The pins MWAA does not let a requirements.txt change."""
    return folder(version) / "mwaa_essential_constraints.txt"


def constraints_python(version: str) -> str:
    """The Python version the MWAA image's constraint file was made for (from the URL in its header)."""
    match = _CONSTRAINTS_URL_PYTHON.search((folder(version) / "airflow_constraints.txt").read_text()[:2000])
    return match.group(1) if match else ""


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """normalised name -> pinned version, from a constraints file (markers dropped)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[normalise(name.split("[", 1)[0])] = version.strip()
    return found


def providers() -> list[str]:
    """The providers the workbook's DAGs and plugins import, with extras, unpinned (requirements/workbook.in)."""
    names = []
    for line in (REQUIREMENTS_DIR / "workbook.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("apache-airflow-providers-"):
            names.append(re.split(r"[=<>!~; ]", line, maxsplit=1)[0])
    return names


def packages(version: str) -> list[str]:
    """What a version's environment installs: Airflow and the workbook's providers, each at the version's pin."""
    pinned = pins(folder(version) / "airflow_constraints.txt")
    chosen = [f"apache-airflow=={version}"]
    for name in providers():
        base = normalise(name.split("[", 1)[0])
        if base not in pinned:
            raise RuntimeError(f"MWAA {version}'s constraints do not pin {base}, which the workbook's DAGs use.")
        chosen.append(f"{name}=={pinned[base]}")
    return chosen


def venv_dir(version: str, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "airflow-venvs" / version


def _recipe(version: str) -> dict:
    files = [airflow_constraints(version), essential_constraints(version)]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    return {"version": version, "python": ".".join(map(str, sys.version_info[:2])), "packages": packages(version),
            "constraints": digest}


def is_made(venv: Path, recipe: dict) -> bool:
    try:
        return json.loads((venv / MARKER).read_text()) == recipe and (venv / "bin" / "python").exists()
    except (OSError, ValueError):
        return False


def uv() -> Path:
    return Path(sys.executable).with_name("uv")


def uv_install(venv: Path, wanted: list[str], constraints: list[Path]) -> None:
    """`make install`'s way: uv, compiled bytecode, the workbook's Python."""
    env = {**os.environ, "VIRTUAL_ENV": ""}  # the caller's venv must not be the one uv installs into
    steps = [
        [str(uv()), "venv", "--quiet", "--python", sys.executable, str(venv)],
        [str(uv()), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), "--compile-bytecode",
         *[arg for path in constraints for arg in ("-c", str(path))], *wanted],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT_SECONDS)
        if done.returncode != 0:
            raise RuntimeError(f"Making the Airflow environment {venv.name} failed ({' '.join(step[:3])}): "
                               f"{(done.stderr or done.stdout).strip()[-1500:]}")


def python_for(version: str, cache: Path | None = None, installer: Installer = uv_install) -> Path:
    """The interpreter whose `-m airflow` is MWAA `version`'s Airflow; makes its environment on first use."""
    check(version)
    if version == INSTALLED_AIRFLOW:
        return Path(sys.executable)
    venv, recipe = venv_dir(version, cache), _recipe(version)
    if is_made(venv, recipe):  # the common case: no lock, the marker is only ever written complete
        return venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_made(venv, recipe):  # another caller may have made it while this one waited
            shutil.rmtree(venv, ignore_errors=True)  # half made (killed mid-install) or an older recipe
            installer(venv, recipe["packages"], [airflow_constraints(version), essential_constraints(version)])
            partial = venv / f"{MARKER}.partial"
            partial.write_text(json.dumps(recipe))
            partial.replace(venv / MARKER)
    return venv / "bin" / "python"
