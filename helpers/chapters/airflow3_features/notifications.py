"""What notebook 09's notifiers delivered, read back where the learner can see it.

- `sqs_messages`: SnsNotifier publishes to an SNS topic; an SQS queue subscribed to it is the sink the notebook reads.
  SNS wraps each message in its JSON envelope (Type, MessageId, TopicArn, Subject, Message, Timestamp, ...) unless the
  subscription has RawMessageDelivery; `unwrap` takes either. Messages read are deleted, so a re-run of the notebook
  starts from an empty sink, and SQS's at-least-once duplicates are dropped by SNS MessageId.
- `incidents`: the JSON incident records a custom `BaseNotifier` writes to S3, one object per notification.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import pandas as pd

from helpers.aws import cloud
from helpers.errors import WorkbookError
from helpers.progress import progress

# SQS's longest long poll; shorter near the deadline so a timeout is kept to within a second
_LONGEST_POLL = 20


@dataclass(frozen=True)
class Delivery:
    """One notification as it reached the queue: SNS's Subject and Message (None for the subject of a raw delivery,
    which carries the message alone)."""

    subject: str | None
    message: str
    topic_arn: str | None = None
    sent: str | None = None
    message_id: str | None = None


def unwrap(body: str, sqs_message_id: str | None = None) -> Delivery:
    """The notification in an SQS body: SNS's envelope unwrapped, or a raw delivery's body as the message."""
    try:
        envelope = json.loads(body)
    except json.JSONDecodeError:
        envelope = None
    if isinstance(envelope, dict) and envelope.get("Type") == "Notification" and "TopicArn" in envelope:
        return Delivery(subject=envelope.get("Subject"), message=envelope.get("Message", ""),
                        topic_arn=envelope["TopicArn"], sent=envelope.get("Timestamp"),
                        message_id=envelope.get("MessageId"))
    return Delivery(subject=None, message=body, message_id=sqs_message_id)


def sqs_messages(queue_url: str, expected: int, timeout: float = 60) -> list[Delivery]:
    """Wait for `expected` notifications on the queue (deleting each one read) and return them in the order SNS sent
    them. Fails after `timeout` seconds with how many arrived; more than `expected` are returned if they came at once."""
    if expected < 1 or timeout <= 0:
        raise WorkbookError(f"expected ({expected}) and timeout ({timeout}) must be positive.")
    sqs = cloud.client("sqs")
    found: dict[str, Delivery] = {}
    deadline = time.monotonic() + timeout
    with progress(f"waiting for {expected} notification(s)", total=expected, unit="msg") as bar:
        while len(found) < expected:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkbookError(
                    f"{len(found)} of {expected} notification(s) reached {queue_url.rsplit('/', 1)[-1]} within "
                    f"{timeout:.0f} s: see the notifying task's log (and the topic's subscription to the queue).")
            answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                         WaitTimeSeconds=max(0, min(_LONGEST_POLL, int(left))))
            messages = answer.get("Messages", [])
            for message in messages:
                delivery = unwrap(message["Body"], message["MessageId"])
                found.setdefault(delivery.message_id or message["MessageId"], delivery)
            if messages:
                sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
            bar.n = min(len(found), expected)
            bar.refresh()
    return sorted(found.values(), key=lambda d: d.sent or "")


def frame(deliveries: list[Delivery]) -> pd.DataFrame:
    """One row per notification (subject, message, sent), for display."""
    return pd.DataFrame([asdict(d) for d in deliveries], columns=["subject", "message", "sent", "topic_arn",
                                                                  "message_id"])[["subject", "message", "sent"]]


def incidents(bucket: str, prefix: str) -> list[dict]:
    """The JSON incident records under `s3://bucket/prefix`, oldest object first, each with its `key` added."""
    s3 = cloud.client("s3")
    objects = [obj for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
               for obj in page.get("Contents", [])]
    records = []
    for obj in sorted(objects, key=lambda o: (o["LastModified"], o["Key"])):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        try:
            record = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise WorkbookError(f"s3://{bucket}/{obj['Key']} is not a JSON incident record: the notifier writes "
                                "one JSON object per notification.") from None
        if not isinstance(record, dict):
            raise WorkbookError(f"s3://{bucket}/{obj['Key']} holds JSON {type(record).__name__}, not an incident "
                                "record (a JSON object).")
        records.append({**record, "key": obj["Key"]})
    return records
