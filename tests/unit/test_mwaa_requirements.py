"""requirements.txt for a local MWAA environment: resolved with uv against the version's constraints, offline, from
tiny wheels written by hand into a find-links folder; then installed into an overlay that leaves the .venv alone."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers.localcloud.emulators.mwaa import requirements, versions

VERSION = "3.0.6"


def wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A pure-Python wheel with one module (`<name>.VERSION`), valid enough for uv to install."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                            + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }

    def digest(text: str) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()

    files[f"{info}/RECORD"] = "".join(f"{p},sha256={digest(c)},{len(c.encode())}\n" for p, c in files.items()) + f"{info}/RECORD,,\n"
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name_in_zip, content in files.items():
            archive.writestr(name_in_zip, content)
    return path


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> Path:
    """An environment's plugins folder with the wheels a plugins.zip would ship."""
    folder = tmp_path_factory.mktemp("plugins")
    wheel(folder, "wheel-one", "1.0")
    wheel(folder, "wheel-two", "1.0", ("wheel-one>=1.0",))
    wheel(folder, "statsd", "9.9.9")  # MWAA 3.0.6's essential constraints pin statsd==4.0.1
    wheel(folder, "tabulate", "99.0")  # its Airflow constraints pin tabulate==0.9.0; not essential
    return folder


@pytest.fixture(autouse=True)
def own_uv_cache(tmp_path_factory, monkeypatch):
    # the hand-made statsd 9.9.9 and tabulate 99.0 stay out of the machine's uv cache
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache"))


OFFLINE = "--no-index\n--find-links /usr/local/airflow/plugins\n"


def test_a_requirement_from_the_plugins_folder_resolves_with_its_dependencies(plugins):
    result = requirements.resolve(OFFLINE + "wheel-two\n", VERSION, plugins)
    assert result.ok, result.error
    assert result.pins == ("wheel-one==1.0", "wheel-two==1.0")
    assert result.options == ("--no-index", f"--find-links {plugins}")  # MWAA's plugins path mapped to ours
    assert result.log == requirements.NO_CONSTRAINTS_WARNINGS  # no -c line: the image forces its constraints


def test_a_requirement_conflicting_with_the_airflow_constraints_fails_with_uvs_reason_and_mwaas_words(plugins):
    result = requirements.resolve(OFFLINE + "tabulate>=99\n", VERSION, plugins)
    assert not result.ok and result.pins == ()
    first, *rest = result.error.splitlines()
    assert first.startswith("error: No solution found")
    assert "tabulate>=99" in result.error and "tabulate==0.9.0" in result.error
    assert rest[-1] == requirements.INSTALL_FAILED
    assert result.essential == ()


def test_an_unknown_package_fails(plugins):
    result = requirements.resolve(OFFLINE + "no-such-package-xyz\n", VERSION, plugins)
    assert not result.ok
    assert "no-such-package-xyz was not found" in result.error


def test_a_requirement_changing_an_essential_pin_is_refused_even_with_the_files_own_constraints(plugins):
    # A constraints line (even commented out: the image's check is a plain regex) switches off the forced Airflow
    # constraints, so tabulate 99 is now allowed; the essential pins still hold.
    own = OFFLINE + "# -c my-constraints.txt\n"
    allowed = requirements.resolve(own + "tabulate>=99\n", VERSION, plugins)
    assert allowed.ok and allowed.pins == ("tabulate==99.0",) and allowed.log == ()
    refused = requirements.resolve(own + "statsd==9.9.9\n", VERSION, plugins)
    assert not refused.ok and refused.essential == ("statsd",)
    assert "statsd==4.0.1" in refused.error and refused.error.endswith(requirements.INSTALL_FAILED)


def test_an_unknown_version_is_refused(plugins):
    with pytest.raises(versions.UnknownVersion, match="3.0.6, 3.2.1, 3.3.1"):
        requirements.resolve("wheel-one\n", "2.10.3", plugins)


def test_airflows_constraints_url_for_a_supported_version_maps_to_the_local_copy():
    url = "https://raw.githubusercontent.com/apache/airflow/constraints-3.2.1/constraints-3.12.txt"
    assert requirements.map_line(f"--constraint {url}", None) == f"--constraint {versions.airflow_constraints('3.2.1')}"
    other = url.replace("3.2.1", "2.10.3")
    assert requirements.map_line(f"-c {other}", None) == f"-c {other}"  # not ours to map: uv reports it


def test_trimmed_keeps_the_error_and_its_reason_not_the_progress():
    output = "Resolved 3 packages\nUsing Python 3.11\nerror: No solution\n  cause: because\n" + "hint: x\n" * 30
    kept = requirements.trimmed(output).splitlines()
    assert kept[:2] == ["error: No solution", "  cause: because"]
    assert len(kept) == requirements.ERROR_LINES + 1 and kept[-1] == "..."


def test_only_what_the_interpreter_lacks_at_the_resolved_version_is_installed():
    have = {"wheel-one": "1.0", "tabulate": "0.9.0"}
    pins = ("Wheel_One==1.0", "tabulate==99.0", "wheel-two==1.0", "pkg @ file:///x.whl")
    assert requirements.missing(pins, have) == ["tabulate==99.0", "wheel-two==1.0", "pkg @ file:///x.whl"]


def _import(module: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", f"import {module}; print({module}.__file__)"], capture_output=True,
                          text=True, env=env, timeout=30)


def test_installing_goes_to_the_overlay_and_leaves_the_workbooks_venv_alone(plugins, tmp_path):
    result = requirements.resolve(OFFLINE + "wheel-two\n", VERSION, plugins)
    overlay = tmp_path / "env" / "requirements"
    done = requirements.install(result, Path(sys.executable), overlay)
    assert done.ok, done.error
    assert done.packages == ("wheel-one==1.0", "wheel-two==1.0")
    seen = _import("wheel_two", requirements.overlay_env(overlay, {"PATH": "/usr/bin:/bin"}))
    assert seen.returncode == 0 and seen.stdout.startswith(str(overlay)), seen.stderr
    assert _import("wheel_two", {"PATH": "/usr/bin:/bin"}).returncode != 0  # not in the .venv
    assert "wheel-two" not in requirements.installed(Path(sys.executable))


def test_a_failed_install_keeps_the_old_overlay(plugins, tmp_path):
    overlay = tmp_path / "requirements"
    assert requirements.install(requirements.resolve(OFFLINE + "wheel-one\n", VERSION, plugins), Path(sys.executable), overlay).ok
    gone = requirements.Resolution(ok=True, pins=("wheel-three==1.0",), options=("--no-index", f"--find-links {plugins}"))
    failed = requirements.install(gone, Path(sys.executable), overlay)
    assert not failed.ok and "wheel-three" in failed.error
    assert (overlay / "wheel_one" / "__init__.py").exists()
    assert not overlay.with_name("requirements.new").exists()


def test_an_unresolved_set_is_not_installed(tmp_path):
    refused = requirements.Resolution(ok=False, error="error: nope")
    done = requirements.install(refused, Path(sys.executable), tmp_path / "requirements")
    assert not done.ok and done.error == "error: nope" and not (tmp_path / "requirements").exists()


def test_overlay_goes_first_on_pythonpath(tmp_path):
    assert requirements.overlay_env(tmp_path, {"PYTHONPATH": "/a"})["PYTHONPATH"] == f"{tmp_path}:/a"
    assert requirements.overlay_env(tmp_path)["PYTHONPATH"] == str(tmp_path)
