"""How emulators reach the local cloud they run in: one boto3-client factory, one CloudWatch Logs writer, the account.

Emulators call moto (and each other) over HTTP like any client would, so what they write is visible through
the same APIs a learner uses.
"""

from __future__ import annotations

import threading
import time

import boto3
from botocore.config import Config

ACCOUNT_ID = "123456789012"  # moto's default account: every local resource lives in it
_clients: dict[tuple[str, str, str], object] = {}
_lock = threading.Lock()


def client(endpoint: str, service: str, region: str):
    """A boto3 client for the local cloud at `endpoint`, shared per service and region (clients are thread-safe)."""
    key = (endpoint, service, region)
    with _lock:
        if key not in _clients:
            _clients[key] = boto3.session.Session().client(
                service, region_name=region, endpoint_url=endpoint, aws_access_key_id="testing",
                aws_secret_access_key="testing", config=Config(retries={"max_attempts": 3}, inject_host_prefix=False))
        return _clients[key]


def write_log(endpoint: str, region: str, group: str, stream: str, lines: list[str]) -> None:
    """Append lines to a CloudWatch Logs stream, creating the group and stream when missing."""
    logs = client(endpoint, "logs", region)
    for create, args in ((logs.create_log_group, {"logGroupName": group}),
                         (logs.create_log_stream, {"logGroupName": group, "logStreamName": stream})):
        try:
            create(**args)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
    now = int(time.time() * 1000)
    for start in range(0, len(lines), 5000):  # nothing written: the stream exists and is empty, as on AWS
        batch = lines[start:start + 5000]
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": now + start + i, "message": m or " "} for i, m in enumerate(batch)])
