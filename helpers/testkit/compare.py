"""Compare an executed notebook with its committed outputs, as `nbval --nbval-lax` does.

Only cells tagged `nbval-check-output` are compared; text outputs (streams, `text/plain`, `text/html`, ...)
must match after the sanitizer (`tests/nbval_sanitize.cfg`) has masked ports, times and ids; images, metadata,
tracebacks and execution counts are not compared. `make test` executes each notebook (most twice) in one local cloud
and compares the last execution, so the comparison is nbval's without another execution.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import nbformat

from helpers.paths import REPO_ROOT

CHECK_TAG = "nbval-check-output"
SANITIZE_FILE = REPO_ROOT / "tests" / "nbval_sanitize.cfg"
# as nbval: what differs between runs by nature, or cannot be compared as text
NOT_COMPARED = {"metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg"}


@dataclass
class Mismatch:
    cell: int
    reason: str
    expected: str = ""
    got: str = ""

    def __str__(self) -> str:
        text = f"cell {self.cell}: {self.reason}"
        if self.expected or self.got:
            text += f"\n  expected: {self.expected[:400]!r}\n  got:      {self.got[:400]!r}"
        return text


def sanitize_patterns(path: Path = SANITIZE_FILE) -> list[tuple[re.Pattern, str]]:
    """nbval's format: `regex:` and `replace:` line pairs."""
    pairs = re.findall(r"^regex: (.*)$\n^replace: (.*)$", path.read_text(), flags=re.M)
    return [(re.compile(regex), replace) for regex, replace in pairs]


def _sanitize(value, patterns):
    if isinstance(value, list):  # multi-line strings as stored in .ipynb files
        value = "".join(value)
    if not isinstance(value, str):
        return value
    for regex, replace in patterns:
        value = regex.sub(replace, value)
    return value


def _coalesced(outputs: list) -> list[dict]:
    """Consecutive writes to one stream are one output: how a kernel splits them depends on timing."""
    merged: list[dict] = []
    for out in outputs:
        if out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream" \
                and merged[-1].get("name") == out.get("name"):
            merged[-1] = {**merged[-1], "text": merged[-1]["text"] + "".join(out.get("text", ""))}
        else:
            merged.append(dict(out, text="".join(out["text"])) if out.get("output_type") == "stream" else dict(out))
    return merged


def _by_key(outputs: list, patterns) -> dict[str, list]:
    """nbval's shape: each compared key (a stream's name, each MIME type) -> its values in order."""
    keyed: dict[str, list] = defaultdict(list)
    for out in _coalesced(outputs):
        if out.get("output_type") == "stream":
            keyed[out["name"]].append(_sanitize(out["text"], patterns))
            continue
        for key, value in out.items():
            if key == "data":
                for mime, data in value.items():
                    if mime not in NOT_COMPARED:
                        keyed[mime].append(_sanitize(data, patterns))
            elif key not in NOT_COMPARED:
                keyed[key].append(_sanitize(value, patterns))
    return keyed


def compare_cell(index: int, executed: list, committed: list, patterns) -> Mismatch | None:
    got, expected = _by_key(executed, patterns), _by_key(committed, patterns)
    if set(expected) - set(got):
        return Mismatch(index, f"missing outputs {sorted(set(expected) - set(got))}")
    if set(got) - set(expected):
        return Mismatch(index, f"unexpected outputs {sorted(set(got) - set(expected))}",
                        got=str(next(iter(got[sorted(set(got) - set(expected))[0]]))))
    for key, values in expected.items():
        if len(values) != len(got[key]):
            return Mismatch(index, f"{len(got[key])} outputs of {key}, expected {len(values)}",
                            "\n".join(map(str, values)), "\n".join(map(str, got[key])))
        for want, have in zip(values, got[key], strict=True):
            if want != have:
                return Mismatch(index, f"{key} differs", str(want), str(have))
    return None


def compare(executed_path: Path, committed_path: Path) -> list[Mismatch]:
    """Every difference in the compared cells of `executed_path` against `committed_path`."""
    executed = nbformat.read(executed_path, as_version=4)
    committed = nbformat.read(committed_path, as_version=4)
    code = [(i, c) for i, c in enumerate(committed.cells) if c.cell_type == "code"]
    ran = [c for c in executed.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
    if [c.source for _, c in code] != [c.source for c in ran]:
        return [Mismatch(-1, "the executed notebook's code cells are not the committed notebook's")]
    patterns = sanitize_patterns()
    mismatches = []
    for (index, want), have in zip(code, ran, strict=True):
        if CHECK_TAG in want.metadata.get("tags", []):
            if (found := compare_cell(index, have.get("outputs", []), want.get("outputs", []), patterns)) is not None:
                mismatches.append(found)
    return mismatches
