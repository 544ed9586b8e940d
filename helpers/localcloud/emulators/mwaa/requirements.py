"""An environment's requirements.txt: resolved for its MWAA version before anything is installed, then installed.

As MWAA's image does it (aws/amazon-mwaa-docker-images, images/airflow/<v>/python/mwaa/utils/user_requirements.py and
bin/airflow-user/safe-pip-install): the version's `mwaa_essential_constraints.txt` always applies, so a requirement
that would change one of those pins (Airflow, Celery, Flask, SQLAlchemy, ...) cannot resolve; the version's Airflow
constraints are forced, with the image's two warnings, unless the file has a constraints line of its own (the image's
check matches `-c ` or `--constraint ` anywhere on a line, commented out too, on purpose: it is MWAA's documented way to
opt out). A failure gets the image's own explanation after the tool's error. The resolver is uv (`uv pip compile`),
as `make install` uses, where the image runs pip: the error text is uv's, not pip's.

Offline, as MWAA's documented pattern for private packages: `--no-index` and `--find-links /usr/local/airflow/plugins`
(wheels shipped in plugins.zip) are honoured; that plugins path is MWAA's, so it is mapped to the environment's own
plugins folder. Airflow's constraints URLs for the supported versions (raw.githubusercontent.com, unreachable here)
are mapped to the copies in requirements/mwaa-<version>/.

Where the packages go: an overlay folder per environment (`uv pip install --target`, `<AIRFLOW_HOME>/requirements`),
on the PYTHONPATH of the environment's Airflow processes right after the local MWAA's own modules (`runtime`; so a
customer package cannot replace its executor). Not the interpreter's own site-packages: for 3.3.1 that is the
workbook's `.venv`, shared by every environment and by the notebooks' kernel, and for other versions a cached
environment shared by every environment of that version; one environment's requirements must not leak into another's,
and a failed update must leave the running one as it was. Not a venv with `--system-site-packages` either: that exposes
the base interpreter's site-packages (pyenv's Python), not the workbook's `.venv`, so Airflow would not import. The
overlay holds only what the interpreter lacks at the resolved version (`--no-deps`, the set is already resolved), is
built next to the old one and swapped in only once complete, and goes with the environment's folder. On PYTHONPATH it
comes before site-packages, so a package the file upgrades (possible when the file brings its own constraints) wins,
as pip's replacement does on MWAA.

Logged as the image logs it (python/mwaa/logging/config.py): each component container installs the file itself and
writes the install's output to its own log group (WorkerLogs, SchedulerLogs, WebserverLogs), stream
`requirements_install_<hostname>_<epoch>.log`, each line `[LEVEL] - message`, whatever the log level. Locally the file
is installed once per start and the same lines go to each of those groups that is enabled (`log_lines`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from helpers.localcloud.emulators.mwaa import versions

# The image's words (user_requirements.py, MWAA 3.3.1), so a learner can search for them.
MWAA_DOCS_REQUIREMENTS_GUIDE = ("https://docs.aws.amazon.com/mwaa/latest/userguide/"
                                "working-dags-dependencies.html#working-dags-dependencies-test-create")
NO_CONSTRAINTS_WARNINGS = (f"WARNING: Constraints should be specified for requirements.txt. Please see {MWAA_DOCS_REQUIREMENTS_GUIDE}",
                           "Forcing local constraints")
INSTALL_FAILED = ("ERROR: pip installation exited with a non-zero error code. This could be the result of package conflict. "
                  "Notice that MWAA enforces a list of critical packages, e.g. Airflow, Celery, among others, whose version "
                  "cannot be overridden by the customer as that can break our setup. Please double check your "
                  "requirements.txt file.")
MWAA_PLUGINS_PATHS = ("/usr/local/airflow/plugins", "${AIRFLOW_HOME}/plugins")
_HAS_CONSTRAINTS = re.compile(r"-c |--constraint ")  # the image's check, verbatim
_AIRFLOW_CONSTRAINTS_URL = re.compile(
    r"https://raw\.githubusercontent\.com/apache/airflow/constraints-([0-9.]+)/constraints-[0-9.]+\.txt")
_INDEX_OPTIONS = ("--no-index", "--find-links", "-f", "--index-url", "-i", "--extra-index-url")
TIMEOUT_SECONDS = 540  # MWAA gives the install 9 minutes (USER_REQUIREMENTS_MAX_INSTALL_TIME)
ERROR_LINES = 12
FOLDER = "requirements"  # the overlay, under the environment's AIRFLOW_HOME
# The image's containers that install the file, each logging to its own group (Triggerer: its own container on MWAA
# only when triggerers are separate; here it shares the scheduler's).
LOG_MODULES = ("WorkerLogs", "SchedulerLogs", "WebserverLogs")
TIMED_OUT = (f"error: installing requirements.txt did not finish within {TIMEOUT_SECONDS // 60} minutes\n"
             f"{INSTALL_FAILED}")
MAX_ERROR_MESSAGE = 1024  # UpdateError.ErrorMessage's length limit (MWAA API reference)


@dataclass(frozen=True)
class Resolution:
    ok: bool
    pins: tuple[str, ...] = ()  # the whole resolved set, "name==version"
    error: str = ""  # uv's error, trimmed, then MWAA's explanation
    essential: tuple[str, ...] = ()  # the essential-pinned packages the error is about
    log: tuple[str, ...] = ()  # what the image prints before installing
    options: tuple[str, ...] = field(default=(), repr=False)  # the file's index lines, for the install


@dataclass(frozen=True)
class Installed:
    ok: bool
    packages: tuple[str, ...] = ()  # what went into the overlay
    error: str = ""


def map_line(line: str, plugins_dir: Path | None) -> str:
    if plugins_dir is not None:
        for path in MWAA_PLUGINS_PATHS:
            line = line.replace(path, str(plugins_dir))
    match = _AIRFLOW_CONSTRAINTS_URL.search(line)
    if match and match.group(1) in versions.AIRFLOW_VERSIONS:
        line = line.replace(match.group(0), str(versions.airflow_constraints(match.group(1))))
    return line


def is_index_option(line: str) -> bool:
    return line.strip().split("=", 1)[0].split(" ", 1)[0] in _INDEX_OPTIONS


def trimmed(output: str) -> str:
    """From uv's first `error:` line on, at most ERROR_LINES lines: the resolver's explanation, not its progress."""
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("error:")), 0)
    kept = lines[start:start + ERROR_LINES]
    return "\n".join(kept + (["..."] if len(lines) - start > ERROR_LINES else []))


def mentioned(error: str, names) -> tuple[str, ...]:
    words = {versions.normalise(w) for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", error)}
    return tuple(sorted(n for n in names if n in words))


def parse_pins(output: str) -> tuple[str, ...]:
    return tuple(ln.strip() for ln in output.splitlines() if ln.strip() and not ln.lstrip().startswith(("#", "-")))


def resolve(text: str, version: str, plugins_dir: Path | None = None, python: Path | None = None) -> Resolution:
    """Resolve a requirements.txt's text for MWAA `version` without installing anything."""
    versions.check(version)
    lines = [map_line(line, plugins_dir) for line in text.splitlines()]
    log: tuple[str, ...] = ()
    constraints = [versions.essential_constraints(version)]
    if not any(_HAS_CONSTRAINTS.search(line) for line in text.splitlines()):
        log = NO_CONSTRAINTS_WARNINGS
        constraints.append(versions.airflow_constraints(version))
    with tempfile.TemporaryDirectory(prefix="mwaa-requirements-") as tmp:
        source = Path(tmp) / "requirements.txt"
        source.write_text("\n".join(lines) + "\n")
        done = _uv(["pip", "compile", str(source), *[a for c in constraints for a in ("-c", str(c))],
                    "--python", str(python or sys.executable), "--no-header", "--no-annotate", "--quiet"], cwd=tmp)
    if done.returncode != 0:
        error = trimmed(done.stderr or done.stdout)
        essential = mentioned(error, versions.pins(versions.essential_constraints(version)))
        return Resolution(ok=False, error=f"{error}\n{INSTALL_FAILED}", essential=essential, log=log)
    return Resolution(ok=True, pins=parse_pins(done.stdout), log=log,
                      options=tuple(line.strip() for line in lines if is_index_option(line)))


def installed(python: Path) -> dict[str, str]:
    """normalised name -> version of what `python`'s environment has."""
    done = _uv(["pip", "list", "--python", str(python), "--format", "json"])
    if done.returncode != 0:
        raise RuntimeError(f"uv pip list failed: {trimmed(done.stderr)}")
    return {versions.normalise(p["name"]): p["version"] for p in json.loads(done.stdout or "[]")}


def missing(pins, have: dict[str, str]) -> list[str]:
    """The pins `have` does not already satisfy exactly; a direct reference (`name @ url`) is always installed."""
    wanted = []
    for pin in pins:
        name, _, pinned = pin.partition("==")
        if not pinned or have.get(versions.normalise(name.split("[", 1)[0].strip())) != pinned.split(";", 1)[0].strip():
            wanted.append(pin)
    return wanted


def install(resolution: Resolution, python: Path, target: Path) -> Installed:
    """Install a resolved set for the interpreter `python` into the overlay folder `target`, swapped in only when
    complete: on failure the old overlay stays as it was."""
    if not resolution.ok:
        return Installed(ok=False, error=resolution.error)
    wanted = missing(resolution.pins, installed(python))
    staging = target.with_name(f"{target.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if wanted:
        listing = staging.parent / f"{target.name}.requirements.txt"
        listing.write_text("\n".join([*resolution.options, *wanted]) + "\n")
        try:
            done = _uv(["pip", "install", "--python", str(python), "--target", str(staging), "--no-deps",
                        "--compile-bytecode", "--quiet", "-r", str(listing)])
        finally:
            listing.unlink(missing_ok=True)
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            return Installed(ok=False, error=f"{trimmed(done.stderr or done.stdout)}\n{INSTALL_FAILED}")
    shutil.rmtree(target, ignore_errors=True)
    staging.replace(target)
    return Installed(ok=True, packages=tuple(wanted))


def overlay_env(target: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` with the overlay first on PYTHONPATH, for an environment's Airflow processes."""
    env = dict(env or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), env.get("PYTHONPATH", "")) if p)
    return env


def log_lines(source: str, resolution: Resolution, done: Installed | None) -> list[tuple[float, str]]:
    """What the image writes to the requirements_install stream: its warnings, the tool's output (INFO, as the image
    publishes every line of it), its ERROR line on failure."""
    at = time.time()
    lines = [f"[INFO] - Installing user requirements from {source} (uv, as the local MWAA installs them)"]
    lines += [f"[WARNING] - {text}" for text in resolution.log]
    error = resolution.error if not resolution.ok else (done.error if done is not None and not done.ok else "")
    if error:
        reason = error.removesuffix(INSTALL_FAILED).rstrip("\n")
        lines += [f"[INFO] - {text}" for text in reason.splitlines()] + [f"[ERROR] - {INSTALL_FAILED}"]
    elif done is not None:
        wanted = set(done.packages)
        if done.packages:
            lines.append("[INFO] - Successfully installed " + " ".join(p.replace("==", "-", 1) for p in done.packages))
        lines += [f"[INFO] - Requirement already satisfied: {pin}" for pin in resolution.pins if pin not in wanted]
    return [(at, text) for text in lines]


def error_message(error: str) -> str:
    """`error` within LastUpdate.Error.ErrorMessage's limit: the tool's reason cut short, the image's explanation
    kept whole at the end (the log stream has it all)."""
    if len(error) <= MAX_ERROR_MESSAGE:
        return error
    reason = error.removesuffix(INSTALL_FAILED).rstrip("\n")
    room = MAX_ERROR_MESSAGE - len(INSTALL_FAILED) - len("\n...\n")
    return f"{reason[:room]}\n...\n{INSTALL_FAILED}"


def stream_name(hostname: str | None = None, epoch: float | None = None) -> str:
    """As the image's SubprocessLogHandler names it: prefix, host name, epoch."""
    return f"requirements_install_{hostname or socket.gethostname()}_{time.time() if epoch is None else epoch}.log"


def _uv(args: list[str], cwd: str | None = None) -> subprocess.CompletedProcess:
    # NO_COLOR: the error lands in a CloudWatch log and LastUpdate.Error, not a terminal
    env = {**os.environ, "NO_COLOR": "1", "VIRTUAL_ENV": ""}
    return subprocess.run([str(versions.uv()), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=TIMEOUT_SECONDS)
