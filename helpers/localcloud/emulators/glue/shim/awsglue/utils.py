"""`getResolvedOptions` as in AWS Glue: the named `--option value` job arguments, as a dict.

Like Glue's, it fails (exit code 2, usage on stderr) when a required option is missing, and ignores the
arguments it was not asked for (Glue passes its own, such as --JOB_RUN_ID and --scriptLocation).
"""

from __future__ import annotations

import argparse


def getResolvedOptions(args: list[str], options: list[str]) -> dict[str, str]:  # Glue's name and signature
    parser = argparse.ArgumentParser(prog=args[0] if args else "glue-job")
    for option in options:
        parser.add_argument(f"--{option}", required=True)
    known, _ = parser.parse_known_args(args[1:])
    return vars(known)
