"""`make install` sets JupyterLab's defaults for the workbook: no Jupyter-news prompt over the first screen."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers.tooling import notebooks

NOTIFICATION = "@jupyterlab/apputils-extension:notification"


def test_install_kernel_also_turns_jupyter_news_off(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    notebooks.install_kernel()
    assert (tmp_path / "share" / "jupyter" / "kernels" / notebooks.KERNEL_NAME / "kernel.json").exists()
    overrides = json.loads((tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json").read_text())
    assert overrides[NOTIFICATION]["fetchNews"] == "false"


def test_lab_settings_keep_overrides_already_there(tmp_path):
    path = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
                                NOTIFICATION: {"doNotDisturbMode": True}}))
    overrides = json.loads(notebooks.install_lab_settings(tmp_path).read_text())
    assert overrides["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert overrides[NOTIFICATION] == {"doNotDisturbMode": True, "fetchNews": "false"}


def test_lab_settings_are_valid_for_the_installed_jupyterlab():
    """A misspelt plugin id or value is silently ignored by JupyterLab: check each against its schema."""
    schemas = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
    for plugin, settings in notebooks.LAB_SETTINGS.items():
        package, name = plugin.rsplit(":", 1)
        schema = json.loads((schemas / package / f"{name}.json").read_text())
        for key, value in settings.items():
            allowed = [choice["const"] for choice in schema["properties"][key].get("oneOf", [])]
            assert value in allowed, f"{plugin} {key}={value!r} not in {allowed}"
