"""The local MWAA's plugins.zip: unpacked into the environment's own folder beside the local MWAA's plugins, listed,
read at the S3 object version asked for; a broken plugin is an Airflow plugin import error, not a crash.
(A real environment loading a plugin from plugins.zip: tests/unit/test_mwaa_startup_script.py.)"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import pytest

from helpers.localcloud.emulators.mwaa import plugins
from helpers.localcloud.emulators.mwaa.runtime import MWAA_PLUGINS

GOOD = '''
from airflow.plugins_manager import AirflowPlugin


class GoodPlugin(AirflowPlugin):
    name = "good_plugin"
'''


def zipped(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def test_the_zip_is_unpacked_beside_the_local_mwaas_own_plugins(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "left_by_an_earlier_zip.py").write_text("")
    names = plugins.install(zipped({"good_plugin.py": GOOD, "helpers_pkg/__init__.py": "", "helpers_pkg/util.py": "X = 1\n",
                                    "aws_mwaa_login.py": "# a customer file of our plugin's name\n"}),
                            folder, MWAA_PLUGINS)
    assert sorted(names) == ["aws_mwaa_login.py", "good_plugin.py", "helpers_pkg/__init__.py", "helpers_pkg/util.py"]
    assert (folder / "good_plugin.py").read_text() == GOOD and (folder / "helpers_pkg" / "util.py").exists()
    assert not (folder / "left_by_an_earlier_zip.py").exists()
    # the UI sign-in route stays the local MWAA's
    assert (folder / "aws_mwaa_login.py").read_text() == (MWAA_PLUGINS / "aws_mwaa_login.py").read_text()


def test_entries_cannot_escape_the_folder(tmp_path):
    names = plugins.install(zipped({"../escaped.py": "", "/abs/escaped.py": ""}), tmp_path / "plugins", MWAA_PLUGINS)
    assert len(names) == 2
    assert not (tmp_path / "escaped.py").exists()
    assert sorted(p.name for p in (tmp_path / "plugins").rglob("escaped.py")) == ["escaped.py", "escaped.py"]


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    with pytest.raises(plugins.PluginsZipInvalid, match="plugins.zip is not a valid zip file"):
        plugins.install(b"#!/bin/bash\necho not a zip\n", tmp_path / "plugins", MWAA_PLUGINS)


def test_the_listing_names_the_source_and_every_file():
    lines = [text for _, text in plugins.listing(["b.py", "a/c.py"], "plugins.zip", "v42")]
    assert lines == ["[INFO] - Installed plugins from plugins.zip (version v42): 2 file(s)", "[INFO] - a/c.py",
                     "[INFO] - b.py"]
    assert plugins.stream_name("host", 12.5) == "plugins_host_12.5.log"


class VersionedBucket:
    """Just enough of S3's GetObject for `fetch`: objects by key and version, the newest without a version."""

    def __init__(self, versions: dict[str, bytes]):
        self.versions = versions

    def get_object(self, Bucket, Key, VersionId=None):
        assert (Bucket, Key) == ("bucket", "plugins.zip")
        data = self.versions[VersionId] if VersionId else list(self.versions.values())[-1]
        return {"Body": io.BytesIO(data)}


def test_the_object_version_asked_for_is_the_one_installed(tmp_path):
    s3 = VersionedBucket({"v1": zipped({"first.py": ""}), "v2": zipped({"second.py": ""})})
    assert plugins.install(plugins.fetch(s3, "bucket", "plugins.zip", "v1"), tmp_path / "p", MWAA_PLUGINS) == ["first.py"]
    assert plugins.install(plugins.fetch(s3, "bucket", "plugins.zip", None), tmp_path / "p", MWAA_PLUGINS) == ["second.py"]


def test_airflow_reports_a_broken_plugin_as_an_import_error_and_loads_the_others(tmp_path):
    folder = tmp_path / "plugins"
    plugins.install(zipped({"good_plugin.py": GOOD, "broken_plugin.py": "import no_such_module_anywhere\n"}), folder,
                    MWAA_PLUGINS)
    probe = ("import json\nfrom airflow import plugins_manager\n"
             "print(json.dumps({'errors': plugins_manager.get_import_errors(),"
             " 'loaded': sorted(p['name'] for p in plugins_manager.get_plugin_info())}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__PLUGINS_FOLDER":
                               str(folder), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}"})
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(found["errors"]) == [str(folder / "broken_plugin.py")]
    assert "No module named 'no_such_module_anywhere'" in found["errors"][str(folder / "broken_plugin.py")]
    assert {"good_plugin", "aws_mwaa_login_emulated"} <= set(found["loaded"])
