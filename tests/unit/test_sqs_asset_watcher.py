"""Event-driven scheduling on the local cloud: an `AssetWatcher` whose `MessageQueueTrigger` watches an SQS queue.

What the triggerer does with a watcher is reproduced without an Airflow process: the DAG is serialized as the DAG
processor stores it, the watcher's trigger is rebuilt from the stored classpath and kwargs as the triggerer rebuilds
it, and its `run()` is driven against moto's SQS on the gateway through `aws_default`."""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
import warnings

import pytest

ACCOUNT = "123456789012"
AWS_FORM = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/orders"
SQS_TRIGGER = "airflow.providers.amazon.aws.triggers.sqs.SqsSensorTrigger"


def message_queue_trigger(**kwargs):
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # `queue=` is deprecated in favour of `scheme=`; both forms are checked
        return MessageQueueTrigger(**kwargs)


def watched_dag(trigger):
    """A consumer scheduled on an asset that an SQS watcher updates, as notebook 09 writes it."""
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG, Asset, AssetWatcher

    orders = Asset("sqs_orders", watchers=[AssetWatcher(name="orders_watcher", trigger=trigger)])
    with DAG("tests_sqs_watched", schedule=[orders]) as dag:
        EmptyOperator(task_id="consume")
    return dag


def stored_watchers(dag) -> list[dict]:
    """The watchers of the DAG's schedule as the DAG processor stores them in the serialized DAG."""
    from airflow.serialization.serialized_objects import DagSerialization

    data = json.loads(json.dumps(DagSerialization.to_dict(dag)))
    [asset] = data["dag"]["timetable"]["__var"]["asset_condition"]["objects"]
    return asset["watchers"]


def rebuilt_trigger(stored: dict):
    """The trigger instance the triggerer makes from a stored watcher (classpath + serialized kwargs)."""
    from airflow.serialization.serialized_objects import BaseSerialization

    module, name = stored["classpath"].rsplit(".", 1)
    kwargs = {key: BaseSerialization.deserialize(value) for key, value in stored["kwargs"].items()}
    return getattr(importlib.import_module(module), name)(**kwargs)


def test_the_queue_form_accepts_only_aws_queue_urls():
    trigger = message_queue_trigger(queue=AWS_FORM, waiter_delay=1)
    classpath, kwargs = trigger.serialize()
    assert (classpath, kwargs["sqs_queue"], kwargs["waiter_delay"]) == (SQS_TRIGGER, AWS_FORM, 1)
    assert message_queue_trigger(queue=f"https://sqs.cn-north-1.amazonaws.com.cn/{ACCOUNT}/q").serialize()[0] == SQS_TRIGGER
    for refused in (f"http://127.0.0.1:4566/{ACCOUNT}/orders", "orders", "https://sqs.us-east-1.amazonaws.com/x/q"):
        with pytest.raises(ValueError, match="not recognized by any of the registered providers"):
            message_queue_trigger(queue=refused).serialize()


def test_the_scheme_form_passes_any_queue_url_through():
    local_url = f"http://127.0.0.1:4566/{ACCOUNT}/orders"
    classpath, kwargs = message_queue_trigger(scheme="sqs", sqs_queue=local_url, aws_conn_id="aws_default").serialize()
    assert (classpath, kwargs["sqs_queue"], kwargs["aws_conn_id"]) == (SQS_TRIGGER, local_url, "aws_default")
    with pytest.raises(ValueError, match="scheme 'kafka' is not recognized"):
        message_queue_trigger(scheme="kafka", topics=["t"]).serialize()


def test_the_serialized_dag_stores_the_sqs_trigger_behind_the_watcher():
    [stored] = stored_watchers(watched_dag(message_queue_trigger(queue=AWS_FORM, waiter_delay=1)))
    assert stored["name"] == "orders_watcher"
    assert stored["trigger"]["classpath"] == SQS_TRIGGER
    trigger = rebuilt_trigger(stored["trigger"])
    assert (trigger.sqs_queue, trigger.waiter_delay, trigger.aws_conn_id) == (AWS_FORM, 1, "aws_default")


async def first_event(trigger, seconds: float):
    async def first():
        async for event in trigger.run():
            return event

    return await asyncio.wait_for(first(), seconds)


def run_async(coroutine):
    """`asyncio.run` in a thread of its own: earlier tests of a session (Playwright's sync API) leave an event loop
    running in this one, where asyncio.run refuses to start."""
    outcome = {}

    def target():
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as error:  # handed back to the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.mark.parametrize("form", ["queue", "scheme"])
def test_a_message_on_the_local_queue_fires_the_rebuilt_trigger(module_cloud, form):
    from helpers.aws import cloud

    sqs = cloud.client("sqs")
    name = f"tests-watcher-{form}"
    local_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    # the endpoint comes from aws_default only: the queue URL's host is never dialled (AWS form, still local)
    module_cloud.patch.setenv("AIRFLOW_CONN_AWS_DEFAULT", cloud.airflow_aws_connection())
    if form == "queue":
        queue_url = f"https://sqs.{cloud.settings().region}.amazonaws.com/{cloud.account_id()}/{name}"
        trigger = message_queue_trigger(queue=queue_url, waiter_delay=1)
    else:
        queue_url = local_url
        trigger = message_queue_trigger(scheme="sqs", sqs_queue=queue_url, waiter_delay=1)
    [stored] = stored_watchers(watched_dag(trigger))

    with pytest.raises(TimeoutError):  # an empty queue fires nothing: the trigger keeps polling
        run_async(first_event(rebuilt_trigger(stored["trigger"]), 2.5))
    # The cancelled poll's long wait (WaitTimeSeconds=1) still runs on the server: a message sent into it would be
    # received for a closed connection and stay invisible for 30 s, as on AWS.
    time.sleep(1.5)

    sqs.send_message(QueueUrl=local_url, MessageBody=json.dumps({"order": 42}))
    event = run_async(first_event(rebuilt_trigger(stored["trigger"]), 10))
    assert event.payload["status"] == "success"
    assert [json.loads(m["Body"]) for m in event.payload["message_batch"]] == [{"order": 42}]
    attributes = sqs.get_queue_attributes(QueueUrl=local_url, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
