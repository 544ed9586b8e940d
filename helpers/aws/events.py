"""EventBridge: watch MWAA status-change events by delivering them, through a real rule, to an SQS queue."""

from __future__ import annotations

import json

import pandas as pd

from helpers.aws import cloud
from helpers.aws.tags import tag_list, tags

MWAA_STATUS_PATTERN = {"source": ["aws.airflow"], "detail-type": ["MWAA Environment Status Change"]}


def status_event_queue(notebook: str, name: str) -> str:
    """A rule with MWAA's status-change pattern targeting a new queue. Returns the queue URL."""
    sqs, events = cloud.client("sqs"), cloud.client("events")
    url = sqs.create_queue(QueueName=name, tags=tags(notebook))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_arn = events.put_rule(Name=name, EventPattern=json.dumps(MWAA_STATUS_PATTERN), Tags=tag_list(notebook))["RuleArn"]
    # On AWS the queue must let EventBridge send to it, and only for this rule.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]})})
    events.put_targets(Rule=name, Targets=[{"Id": "status-queue", "Arn": queue_arn}])
    return url


def received(queue_url: str, environment: str | None = None, wait_seconds: int = 1) -> pd.DataFrame:
    """Drain the queue: one row per status event (environment, previous status, status)."""
    sqs = cloud.client("sqs")
    rows = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds).get("Messages", [])
        if not batch:
            break
        for msg in batch:
            event = json.loads(msg["Body"])
            detail = event["detail"]
            rows.append({"environment": detail["name"], "previous": detail.get("previousStatus"), "status": detail["status"],
                         "time": event.get("time")})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
    frame = pd.DataFrame(rows, columns=["environment", "previous", "status", "time"])
    if environment:
        frame = frame[frame.environment == environment]
    return frame.sort_values("time", kind="stable").reset_index(drop=True)
