"""Per-version Airflow environments: which interpreter runs which MWAA version, made once, under a lock, remade when
half made. A fake installer stands in for uv (a real environment takes minutes and 700 MB; measured by hand)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers.localcloud.emulators.mwaa import versions
from helpers.localcloud.emulators.mwaa.validation import AIRFLOW_VERSIONS, INSTALLED_AIRFLOW
from helpers.paths import REQUIREMENTS_DIR
from helpers.procs import wait_until

OTHER = next(v for v in AIRFLOW_VERSIONS if v != INSTALLED_AIRFLOW)


class FakeInstaller:
    """Makes a venv-shaped folder; can be slow (to overlap callers) or die halfway (as a killed install)."""

    def __init__(self, delay: float = 0.0, fail: bool = False):
        self.calls: list[tuple[Path, list[str], list[Path]]] = []
        self.delay, self.fail = delay, fail
        self._lock = threading.Lock()

    def __call__(self, venv: Path, wanted: list[str], constraints: list[Path]) -> None:
        with self._lock:
            self.calls.append((venv, wanted, constraints))
        (venv / "bin").mkdir(parents=True)
        (venv / "lib" / "half-installed.txt").parent.mkdir(parents=True)
        (venv / "lib" / "half-installed.txt").write_text("x")
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("killed mid-install")
        (venv / "bin" / "python").write_text("#!/bin/sh\n")


def test_the_installed_version_runs_in_the_workbooks_own_venv(tmp_path):
    installer = FakeInstaller()
    assert versions.python_for(INSTALLED_AIRFLOW, cache=tmp_path, installer=installer) == Path(sys.executable)
    assert installer.calls == []
    assert not (tmp_path / "airflow-venvs").exists()


@pytest.mark.parametrize("version", ["2.10.3", "3.3", "latest"])
def test_an_unknown_version_is_refused_in_one_line_naming_the_supported_ones(tmp_path, version):
    with pytest.raises(versions.UnknownVersion) as err:
        versions.python_for(version, cache=tmp_path, installer=FakeInstaller())
    message = str(err.value)
    assert "\n" not in message and repr(version) in message
    assert all(v in message for v in AIRFLOW_VERSIONS)


def test_another_version_gets_its_environment_made_once_then_reused(tmp_path):
    installer = FakeInstaller()
    python = versions.python_for(OTHER, cache=tmp_path, installer=installer)
    assert python == tmp_path / "airflow-venvs" / OTHER / "bin" / "python"
    assert versions.python_for(OTHER, cache=tmp_path, installer=installer) == python
    assert len(installer.calls) == 1
    venv, wanted, constraints = installer.calls[0]
    assert venv == tmp_path / "airflow-venvs" / OTHER
    assert wanted[0] == f"apache-airflow=={OTHER}"
    assert constraints == [REQUIREMENTS_DIR / f"mwaa-{OTHER}" / "airflow_constraints.txt",
                           REQUIREMENTS_DIR / f"mwaa-{OTHER}" / "mwaa_essential_constraints.txt"]
    assert json.loads((venv / versions.MARKER).read_text())["packages"] == wanted


def test_concurrent_callers_make_the_environment_once(tmp_path):
    installer = FakeInstaller(delay=0.3)
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(versions.python_for(OTHER, cache=tmp_path, installer=installer)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(installer.calls) == 1
    assert len(set(results)) == 1 and len(results) == 3


def test_an_install_that_dies_halfway_leaves_no_marker_and_is_remade(tmp_path):
    with pytest.raises(RuntimeError, match="killed mid-install"):
        versions.python_for(OTHER, cache=tmp_path, installer=FakeInstaller(fail=True))
    venv = versions.venv_dir(OTHER, tmp_path)
    assert (venv / "lib" / "half-installed.txt").exists() and not (venv / versions.MARKER).exists()
    installer = FakeInstaller()
    versions.python_for(OTHER, cache=tmp_path, installer=installer)
    assert len(installer.calls) == 1 and (venv / versions.MARKER).exists()


def test_a_folder_with_a_python_but_no_marker_is_not_trusted(tmp_path):
    venv = versions.venv_dir(OTHER, tmp_path)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("left by a killed install")
    (venv / "stray.txt").write_text("x")
    installer = FakeInstaller()
    versions.python_for(OTHER, cache=tmp_path, installer=installer)
    assert len(installer.calls) == 1
    assert not (venv / "stray.txt").exists()  # removed before remaking, not installed over


def test_an_environment_made_from_another_recipe_is_remade(tmp_path):
    installer = FakeInstaller()
    versions.python_for(OTHER, cache=tmp_path, installer=installer)
    marker = versions.venv_dir(OTHER, tmp_path) / versions.MARKER
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "constraints": "older"}))
    versions.python_for(OTHER, cache=tmp_path, installer=installer)
    assert len(installer.calls) == 2


@pytest.mark.parametrize("version", AIRFLOW_VERSIONS)
def test_each_version_pins_airflow_and_the_workbooks_providers_from_its_own_constraints(version):
    pinned = versions.pins(REQUIREMENTS_DIR / f"mwaa-{version}" / "airflow_constraints.txt")
    wanted = versions.packages(version)
    assert wanted[0] == f"apache-airflow=={version}"
    assert "apache-airflow-providers-amazon[aiobotocore]" in [w.split("==")[0] for w in wanted]  # extras kept
    for pin in wanted[1:]:
        name, version_pinned = pin.split("==")
        assert pinned[versions.normalise(name.split("[")[0])] == version_pinned
    essential = versions.pins(versions.essential_constraints(version))
    assert essential["apache-airflow"] == version


def test_the_provider_list_follows_workbook_in():
    listed = [ln.split("==")[0] for ln in (REQUIREMENTS_DIR / "workbook.in").read_text().splitlines()
              if ln.startswith("apache-airflow-providers-")]
    assert versions.providers() == listed and len(listed) >= 5


def test_the_constraint_files_are_made_for_python_3_12_and_3_3_1_uses_the_relaxed_copy():
    # Airflow publishes constraints per Python version; MWAA ships the 3.12 ones (the files' headers say so). The
    # environments use the workbook's Python with them; 3.3.1's numpy/pandas pins need the relaxed copy on 3.11.
    assert {versions.constraints_python(v) for v in AIRFLOW_VERSIONS} == {"3.12"}
    assert versions.version_of_lock() == INSTALLED_AIRFLOW
    assert versions.airflow_constraints(INSTALLED_AIRFLOW) == REQUIREMENTS_DIR / "constraints.txt"
    assert versions.airflow_constraints(OTHER) == REQUIREMENTS_DIR / f"mwaa-{OTHER}" / "airflow_constraints.txt"


def test_a_failing_uv_step_reports_the_tools_error(tmp_path, monkeypatch):
    def fake_run(args, **kwargs):
        return subprocess.CompletedProcess(args, 2, "", "error: No solution found when resolving dependencies")

    monkeypatch.setattr(versions.subprocess, "run", fake_run)
    with pytest.raises(RuntimeError, match="No solution found"):
        versions.uv_install(tmp_path / "venv", ["apache-airflow==3.0.6"], [])


FAKE_PYTHON = """#!/bin/bash
# A version's interpreter, faked: says which Airflow it has, "migrates" a DB, records every call; components exit at once.
echo "$*" >> "$(dirname "$0")/calls.log"
if [ "$1" = "-c" ]; then echo 3.0.6; exit 0; fi
if [ "$3 $4" = "db migrate" ]; then echo "migrated by $0" > "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN#sqlite:///}"; fi
"""


def test_a_runtime_runs_every_component_and_its_template_db_with_its_versions_interpreter(tmp_path):
    from helpers.localcloud.emulators.mwaa.runtime import COMPONENTS, AirflowRuntime, template_db

    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    cache = tmp_path / "cache"
    template = template_db(cache, python)
    assert template == cache / "airflow-3.0.6.db"  # named by the version that interpreter runs
    assert template.read_text() == f"migrated by {python}\n"
    assert template_db(cache, python) == template  # made once
    calls = (python.parent / "calls.log").read_text().splitlines()
    assert calls == ["-c import importlib.metadata as m; print(m.version('apache-airflow'))", "-m airflow db migrate"]

    runtime = AirflowRuntime(tmp_path / "env" / "home", tmp_path / "dags", cache, {}, tmp_path / "localcloud", python=python)
    assert runtime.environment({}, None, "INFO")["PATH"].split(":")[0] == str(python.parent)  # the version's python3.11
    log = python.parent / "calls.log"
    try:
        runtime.start({})
        assert (runtime.home / "airflow.db").read_text() == template.read_text()  # a copy of that version's template
        wait_until(lambda: len(log.read_text().splitlines()) == 2 + len(COMPONENTS), 10, "every component started")
    finally:
        runtime.stop()
    started = log.read_text().splitlines()[2:]
    assert sorted(started) == sorted(" ".join(["-m", "airflow", *args]) for args in COMPONENTS.values())
