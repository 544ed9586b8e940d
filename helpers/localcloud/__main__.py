"""python -m helpers.localcloud up [postgres]|down|status|env

`status` exits 1 when something needs action (a service gone or not answering, stray Airflow processes, half up),
saying what to do in one line each; every command exits 2 on a one-line error."""

from __future__ import annotations

import argparse
import shlex
import sys

from helpers import localcloud
from helpers.errors import WorkbookError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.localcloud", description="Manage the workbook's local cloud.")
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument("services", nargs="*", metavar="service",
                        help="with up: on-demand services to start too (postgres)")
    args = parser.parse_args(argv)
    try:
        if args.services and args.command != "up":
            raise WorkbookError(f"Only `up` takes service names ({' '.join(args.services)}).")
        if args.command == "up":
            localcloud.ensure_up(*args.services)
            print('Use it from a shell: eval "$(python -m helpers.localcloud env)"')
        elif args.command == "down":
            stopped = localcloud.down()
            for line in stopped.found:
                print(f"Found: {line}")
            print(f"Stopped: {', '.join(stopped)}" if stopped else "Nothing was running.")
        elif args.command == "status":
            rows = localcloud.status()
            for row in rows:
                print(f"{row['service']:<10} {row['state']:<8} {row['url'] or '-':<26} {row['emulated_by']}")
            problems = localcloud.problems(rows)
            for line in problems:
                print(line)
            return 1 if problems else 0
        else:
            for key, value in localcloud.exports().items():
                print(f"export {key}={shlex.quote(value)}")
    except WorkbookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
