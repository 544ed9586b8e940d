"""Lines the local MWAA itself writes to an environment's CloudWatch log group (startup script runs, plugins.zip), and
to a file under the environment's home, where they stay readable when that log type is not enabled."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions

BATCH = 1000  # well under PutLogEvents' 10,000 events and 1 MB per call


def publish(logs, group: str | None, stream: str, lines: list[tuple[float, str]], local: Path | None) -> None:
    """`lines` ((epoch seconds, text) pairs) into `group`/`stream` when a group is given, and into the file `local`
    when one is given."""
    if local is not None:
        local.parent.mkdir(parents=True, exist_ok=True)
        with open(local, "a") as out:
            out.writelines(f"{text}\n" for _, text in lines)
    if not group or not lines:
        return
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    events = [{"timestamp": int(at * 1000), "message": text or " "} for at, text in sorted(lines, key=lambda x: x[0])]
    for start in range(0, len(events), BATCH):
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events[start:start + BATCH])
