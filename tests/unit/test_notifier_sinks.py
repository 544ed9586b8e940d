"""Notebook 09's notifier sinks: SNS-to-SQS deliveries unwrapped (pure, then through moto's SNS and SQS on the local
cloud) and the incident records a custom notifier writes to S3."""

from __future__ import annotations

import json
import time

import pytest

from helpers.chapters.airflow3_features.notifications import Delivery, frame, incidents, sqs_messages, unwrap
from helpers.errors import WorkbookError

TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"


def envelope(subject: str | None, message: str, sent: str = "2026-12-03T10:00:00.000Z", message_id: str = "m-1") -> str:
    body = {"Type": "Notification", "MessageId": message_id, "TopicArn": TOPIC, "Message": message, "Timestamp": sent,
            "SignatureVersion": "1"}
    if subject is not None:
        body["Subject"] = subject
    return json.dumps(body)


def test_unwrap_takes_subject_and_message_out_of_the_sns_envelope():
    assert unwrap(envelope("Task failed", "extract failed in run r1")) == Delivery(
        "Task failed", "extract failed in run r1", TOPIC, "2026-12-03T10:00:00.000Z", "m-1")
    assert unwrap(envelope(None, "no subject")).subject is None


def test_a_raw_delivery_or_json_that_is_no_envelope_is_the_message_itself():
    assert unwrap("plain text", "sqs-1") == Delivery(None, "plain text", message_id="sqs-1")
    body = json.dumps({"Type": "Notification", "Message": "no topic: not SNS's"})
    assert unwrap(body, "sqs-2").message == body


def test_frame_shows_subject_message_and_time():
    shown = frame([unwrap(envelope("s", "m"))])
    assert shown.columns.tolist() == ["subject", "message", "sent"]
    assert shown.iloc[0].tolist() == ["s", "m", "2026-12-03T10:00:00.000Z"]


def test_nonsense_arguments_are_refused_before_any_call():
    with pytest.raises(WorkbookError, match="must be positive"):
        sqs_messages("https://sqs.us-east-1.amazonaws.com/1/q", 0)


def test_sns_deliveries_to_a_subscribed_queue_are_read_unwrapped_and_deleted(module_cloud):
    from helpers.aws import cloud

    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    topic = sns.create_topic(Name="tests-notifier-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="tests-notifier-sink")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sns.publish(TopicArn=topic, Subject="DAG succeeded", Message="orders_pipeline run r1 succeeded")
    sns.publish(TopicArn=topic, Subject="Task failed", Message="extract failed in run r2")

    read = sqs_messages(queue, expected=2, timeout=20)
    assert [(d.subject, d.message, d.topic_arn) for d in read] == [
        ("DAG succeeded", "orders_pipeline run r1 succeeded", topic), ("Task failed", "extract failed in run r2", topic)]
    left = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (left["ApproximateNumberOfMessages"], left["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")

    sns.publish(TopicArn=topic, Subject="only one", Message="of two")
    started = time.monotonic()
    with pytest.raises(WorkbookError, match="^1 of 2 notification\\(s\\) reached tests-notifier-sink within 2 s"):
        sqs_messages(queue, expected=2, timeout=2)
    assert time.monotonic() - started < 5


def test_incident_records_come_back_oldest_first_with_their_keys(module_cloud):
    from helpers.aws import cloud

    s3 = cloud.client("s3")
    bucket = "tests-notifier-incidents"
    s3.create_bucket(Bucket=bucket)
    first = {"dag_id": "orders", "task_id": "extract", "state": "failed", "reason": "HTTP 404"}
    second = {"dag_id": "orders", "task_id": "load", "state": "failed", "reason": "timeout"}
    s3.put_object(Bucket=bucket, Key="incidents/orders/z-first.json", Body=json.dumps(first).encode())
    time.sleep(1.1)  # S3's LastModified has second resolution
    s3.put_object(Bucket=bucket, Key="incidents/orders/a-second.json", Body=json.dumps(second).encode())
    s3.put_object(Bucket=bucket, Key="other/ignored.json", Body=b"{}")

    assert incidents(bucket, "incidents/") == [{**first, "key": "incidents/orders/z-first.json"},
                                                {**second, "key": "incidents/orders/a-second.json"}]
    assert incidents(bucket, "nothing-here/") == []
    s3.put_object(Bucket=bucket, Key="incidents/broken.json", Body=b"not json")
    with pytest.raises(WorkbookError, match="s3://tests-notifier-incidents/incidents/broken.json is not a JSON"):
        incidents(bucket, "incidents/")
