"""Progress bars for long steps. On stdout, so a headless run's stderr stays empty unless something is wrong.

Headless runs (`make run`, `make test` set WORKBOOK_HEADLESS=1) hide them: nobody watches, and a bar's
redraws would make the executed notebook's outputs differ from run to run.
"""

from __future__ import annotations

import os
import sys

from tqdm import tqdm


def progress(desc: str, total: int | None = None, unit: str = "it", headless_too: bool = False) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stdout, mininterval=1.0, ncols=80,
                disable=not headless_too and os.environ.get("WORKBOOK_HEADLESS") == "1")
