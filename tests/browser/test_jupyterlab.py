"""`make lab`'s JupyterLab in a real browser: the workbook kernel, notebook 00 run through the UI to a checkpoint."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sys
import urllib.request
from pathlib import Path

import pytest

from helpers import procs
from helpers.paths import NOTEBOOKS_DIR, REPO_ROOT
from tests.browser.conftest import screenshot

KERNEL = "MWAA Workbook (Airflow 3.3.1)"
NOTEBOOK = "00_getting_started.ipynb"
# Run through the UI up to Step 3's checkpoint: the local cloud started by the kernel, a bucket with a DAG.
CELLS_TO_RUN = 11
CHECKPOINT = "Keys under dags/: ['dags/', 'dags/hello_mwaa.py']"
NEWS_PROMPT = "official Jupyter news"
# What the test session sets for itself (root conftest.py); `make lab` gives the kernel none of them.
TEST_SESSION_VARS = ("AIRFLOW_HOME", "AIRFLOW__CORE__LOAD_EXAMPLES", "AIRFLOW__CORE__DAGS_FOLDER", "WORKBOOK_HEADLESS")


def lab_command() -> list[str]:
    """The Makefile's `lab` recipe, so this test opens what a learner opens."""
    recipe = next(line.strip() for line in (REPO_ROOT / "Makefile").read_text().splitlines()
                  if line.strip().startswith("$(BIN)/jupyter lab"))
    recipe, root_switch = re.subn(r"\s*\$\(if \$\(filter 0,\$\(shell id -u\)\),(--allow-root)\)$", "", recipe)
    args = recipe.replace("$(BIN)/", str(Path(sys.prefix) / "bin") + "/").split()
    assert "$" not in " ".join(args), f"unexpected make syntax in the lab recipe: {recipe}"
    return args + (["--allow-root"] if root_switch and os.getuid() == 0 else [])


def test_lab_command_is_the_makefiles():
    command = lab_command()
    assert command[1:6] == ["lab", "--ip", "127.0.0.1", "--notebook-dir", "notebooks"]
    assert command[0] == str(Path(sys.prefix) / "bin" / "jupyter")


@pytest.fixture
def jupyterlab(fresh_state, tmp_path):
    """JupyterLab as `make lab` starts it, on a free port with a known token. Its kernel's local cloud is the test's
    own (`fresh_state` sets WORKBOOK_STATE_DIR, which the kernel inherits, and stops that local cloud at the end)."""
    token, port = secrets.token_hex(16), procs.free_port()
    settings = tmp_path / "lab-user-settings"
    # The learner's own JupyterLab settings and workspaces stay out of it; autosave off, so running cells
    # through the UI can never rewrite the committed notebook.
    (settings / "@jupyterlab" / "docmanager-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings").write_text('{"autosave": false}')
    env = {key: value for key, value in os.environ.items() if key not in TEST_SESSION_VARS}
    env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    command = lab_command() + [f"--port={port}", "--no-browser", f"--IdentityProvider.token={token}"]
    server = procs.spawn(command, tmp_path / "jupyterlab.log", env=env, cwd=REPO_ROOT)
    stamp = procs.started(server)
    fresh_state.mkdir(parents=True, exist_ok=True)
    (fresh_state / "jupyterlab.json").write_text(json.dumps({"pid": server.pid, "create_time": stamp}))
    notebook_before = hashlib.sha256((NOTEBOOKS_DIR / NOTEBOOK).read_bytes()).hexdigest()

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def exited() -> str | None:
        if procs.is_same_process(server.pid, stamp):
            return None
        return "JupyterLab exited: " + (tmp_path / "jupyterlab.log").read_text(errors="replace")[-500:]

    try:
        procs.wait_until(ready, 60, "JupyterLab", interval=0.3, failed=exited)
        yield f"http://127.0.0.1:{port}", token
    finally:
        procs.stop(server.pid, stamp)
    assert hashlib.sha256((NOTEBOOKS_DIR / NOTEBOOK).read_bytes()).hexdigest() == notebook_before, "the notebook was rewritten"


@pytest.mark.browser
def test_notebook_00_runs_to_a_checkpoint_in_jupyterlab(jupyterlab, page):
    url, token = jupyterlab
    page.goto(f"{url}/lab?token={token}")
    # The launcher offers the workbook's kernel.
    page.locator(".jp-LauncherCard", has_text=KERNEL).first.wait_for(timeout=60_000)

    page.locator(".jp-DirListing-item", has_text=NOTEBOOK).dblclick()
    notebook = page.locator(".jp-NotebookPanel:visible")
    notebook.locator(".jp-Toolbar-kernelName", has_text=KERNEL).wait_for(timeout=30_000)

    # Clear the committed outputs, so what shows below is what this run printed.
    page.locator(".lm-MenuBar-itemLabel", has_text="Edit").click()
    page.locator(".lm-Menu-itemLabel", has_text="Clear Outputs of All Cells").click()
    assert notebook.locator(".jp-OutputArea-output").count() == 0

    notebook.locator(".jp-Cell").first.click()
    page.keyboard.press("Escape")  # command mode: Shift+Enter runs the cell and moves to the next
    for _ in range(CELLS_TO_RUN):
        page.keyboard.press("Shift+Enter")

    checkpoint = notebook.locator(".jp-OutputArea-output", has_text=CHECKPOINT)
    checkpoint.wait_for(timeout=90_000)
    outputs = notebook.locator(".jp-OutputArea-output")
    assert notebook.locator(".jp-OutputArea-output", has_text="Airflow and providers match MWAA 3.3.1").count() == 1
    assert notebook.locator(".jp-OutputArea-output", has_text="target=local: AWS APIs emulated on loopback").count() == 1
    assert notebook.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0, outputs.all_inner_texts()
    checkpoint.scroll_into_view_if_needed()
    screenshot(page, "jupyterlab_00.png")
    # Asked for on first start unless the workbook's settings turn Jupyter news off.
    assert page.get_by_text(NEWS_PROMPT).count() == 0
