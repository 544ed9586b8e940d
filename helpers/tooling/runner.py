"""The headless workbook run (`make run`): every notebook in order with papermill, then a summary.

    python -m helpers.tooling.runner [--only NAME ...] [--target local|aws] [--keep-cloud]

Executed notebooks go to build/notebooks/ (kept for debugging, failed ones included); the summary
to build/summary.json. A notebook fails if a cell raises or anything is written to stderr.
Exits non-zero if any notebook failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from helpers.paths import BUILD_DIR, NOTEBOOKS_DIR
from helpers.procs import tree_memory_mb
from helpers.tooling.notebooks import EXECUTED_DIR, KERNEL_NAME, stderr_texts, workbook_notebooks


def workbook_memory_mb() -> float:
    """This process's tree (kernel, Airflow test runs) plus the local cloud's (gateway, MWAA environments)."""
    from helpers import localcloud

    return tree_memory_mb(os.getpid(), *(rec.pid for rec in localcloud.running().values()))


class PeakMemory:
    """Samples the resident memory of everything the workbook runs."""

    def __init__(self, interval: float = 0.5):
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.peak = max(self.peak, workbook_memory_mb())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def stderr_outputs(nb) -> list[str]:
    return [f"cell {index}: {text.splitlines()[0][:160]}"
            for index, cell in enumerate(nb.cells) for text in stderr_texts(cell.get("outputs", []))]


def run_notebook(name: str, timeout: int, output: Path | None = None, source: Path | None = None) -> dict:
    import nbformat
    import papermill

    output = output or EXECUTED_DIR / f"{name}.ipynb"
    started = time.monotonic()
    row = {"notebook": name, "status": "ok", "seconds": 0.0}
    with PeakMemory() as memory:
        try:
            papermill.execute_notebook(str(source or NOTEBOOKS_DIR / f"{name}.ipynb"), str(output), kernel_name=KERNEL_NAME,
                                       cwd=str(NOTEBOOKS_DIR), progress_bar=False, execution_timeout=timeout)
        except Exception as exc:  # papermill raises PapermillExecutionError with the cell's error
            status = "stopped" if getattr(exc, "ename", "") == "NotebookStopped" else "failed"
            row.update(status=status, error=str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else repr(exc))
    row["seconds"] = round(time.monotonic() - started, 1)
    row["peak_memory_mb"] = round(memory.peak)
    if row["status"] == "ok" and (noise := stderr_outputs(nbformat.read(output, as_version=4))):
        row.update(status="failed", error=f"stderr output ({len(noise)}): {noise[0]}")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.tooling.runner", description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="notebook names (e.g. 00_getting_started); default: all")
    parser.add_argument("--target", choices=["local", "aws"], help="overrides WORKBOOK_TARGET")
    parser.add_argument("--keep-cloud", action="store_true", help="leave the local cloud running afterwards")
    parser.add_argument("--timeout", type=int, default=900, help="seconds a cell may run")
    args = parser.parse_args(argv)
    if args.target:
        os.environ["WORKBOOK_TARGET"] = args.target

    names = workbook_notebooks()
    os.environ["WORKBOOK_HEADLESS"] = "1"  # inherited by the kernels: no progress-bar redraws in outputs
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        print(f"error: no notebook {', '.join(unknown)}; notebooks: {', '.join(names)}", file=sys.stderr)
        return 2
    selected = [n for n in names if not args.only or n in args.only]
    EXECUTED_DIR.mkdir(parents=True, exist_ok=True)

    from helpers.progress import progress

    rows = []
    try:
        with progress("workbook", total=len(selected), unit=" notebooks", headless_too=True) as bar:
            for name in selected:
                bar.set_postfix_str(name)
                rows.append(run_notebook(name, args.timeout))
                bar.update()
    finally:
        if not args.keep_cloud:
            from helpers import localcloud

            localcloud.down()
    (BUILD_DIR / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    width = max(len(r["notebook"]) for r in rows)
    print(f"\n{'notebook':<{width}}  status   seconds  peak PSS MB")
    for r in rows:
        print(f"{r['notebook']:<{width}}  {r['status']:<7} {r['seconds']:>8.1f} {r['peak_memory_mb']:>8}")
        if r.get("error"):
            print(f"{'':<{width}}  -> {r['error']}  (see build/notebooks/{r['notebook']}.ipynb)")
    print(f"total {sum(r['seconds'] for r in rows):.1f} s; summary in build/summary.json")
    return 0 if all(r["status"] in ("ok", "stopped") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
