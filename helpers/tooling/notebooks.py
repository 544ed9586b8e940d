"""Notebook files: listing the workbook's notebooks and accepting executed outputs back into the repo.

    python -m helpers.tooling.notebooks accept [NAME ...]   # build/notebooks/NAME.ipynb -> notebooks/NAME.ipynb
    python -m helpers.tooling.notebooks install-kernel      # the workbook's Jupyter kernel and JupyterLab settings, inside the venv

Accepted notebooks keep outputs and execution counts (nbval compares them) and lose papermill's
metadata and progress-bar noise, so a diff shows only what changed for the learner.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from helpers.paths import BUILD_DIR, NOTEBOOKS_DIR

EXECUTED_DIR = BUILD_DIR / "notebooks"
_PROGRESS = re.compile(r"^.*\r(?!\n)", re.M)
# An Airflow UI sign-in link carries a web login token (a credential) and, locally, a port that changes every run:
# neither belongs in the committed notebook. tests/nbval_sanitize.cfg masks them the same way for the comparison.
_SIGN_IN = [(re.compile(r"([?&]token=)[^\"'&\s<]+"), r"\1WEB_TOKEN"),
            (re.compile(r'(name="token" value=")[^"]*'), r"\1WEB_TOKEN"),
            (re.compile(r"127\.0\.0\.1:\d+(/pluginsv2/)"), r"127.0.0.1:PORT\1")]


def mask_sign_in(text: str) -> str:
    for pattern, replacement in _SIGN_IN:
        text = pattern.sub(replacement, text)
    return text


def workbook_notebooks() -> list[str]:
    """Notebook names in run order (their NN_ prefix)."""
    return sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def stderr_texts(outputs: list[dict]) -> list[str]:
    """What cell outputs wrote to stderr (non-blank). Any of it fails a notebook, headless or under nbval."""
    return [o["text"].strip() for o in outputs
            if o.get("output_type") == "stream" and o.get("name") == "stderr" and o.get("text", "").strip()]


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata.pop("papermill", None)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                out["text"] = mask_sign_in(_PROGRESS.sub("", out["text"]))
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    out["data"][mime] = mask_sign_in(value)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "stream" and not o["text"].strip())]
    return nb


def accept(name: str) -> None:
    source = EXECUTED_DIR / f"{name}.ipynb"
    if not source.exists():
        raise SystemExit(f"error: {source.name} not in build/notebooks: run `make run NB={name}` first.")
    nb = clean(nbformat.read(source, as_version=4))
    nbformat.write(nb, NOTEBOOKS_DIR / f"{name}.ipynb")
    print(f"accepted {name}")


KERNEL_NAME = "mwaa-workbook"
# JupyterLab's first screen otherwise opens with "Would you like to get notified about official Jupyter news?",
# which covers part of the notebook and asks to fetch from a website this workbook never needs.
LAB_SETTINGS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}


def install_kernel() -> None:
    """Register the kernel under sys.prefix, so it is the venv's Python whatever the user's own kernels are."""
    import json

    from ipykernel.kernelspec import install

    path = Path(install(kernel_name=KERNEL_NAME, display_name="MWAA Workbook (Airflow 3.3.1)", prefix=sys.prefix))
    spec = json.loads((path / "kernel.json").read_text())
    # ipykernel warns on every start that TCP on loopback is unencrypted; that is noise on stderr here.
    spec["argv"] = [a for a in spec["argv"] if not a.startswith("--IPKernelApp.log_level")] + ["--IPKernelApp.log_level=ERROR"]
    (path / "kernel.json").write_text(json.dumps(spec, indent=1))
    install_lab_settings(Path(sys.prefix))


def install_lab_settings(prefix: Path) -> Path:
    """The workbook's JupyterLab defaults, as overrides under the venv (a learner's own settings still win)."""
    import json

    path = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    overrides = json.loads(path.read_text()) if path.exists() else {}
    for plugin, settings in LAB_SETTINGS.items():
        overrides.setdefault(plugin, {}).update(settings)
    path.write_text(json.dumps(overrides, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.tooling.notebooks")
    parser.add_argument("command", choices=["accept", "install-kernel"])
    parser.add_argument("names", nargs="*", help="notebooks to accept (default: all executed)")
    args = parser.parse_args(argv)
    if args.command == "install-kernel":
        install_kernel()
        return 0
    for name in args.names or workbook_notebooks():
        accept(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
