"""Event-driven scheduling (Airflow 3, beyond the posts): an `AssetWatcher` runs a trigger in the triggerer that
watches an SQS queue; each message becomes an asset event, and the DAG scheduled on the asset runs. No sensor, no
polling DAG: the triggerer waits, asynchronously, next to the deferred tasks.

`MessageQueueTrigger` comes from `apache-airflow-providers-common-messaging`, which MWAA's constraints pin but its
image does not install: on MWAA it goes in `requirements.txt`. Triggers are not templated, so the queue must be known
when the DAG is parsed. Its URL is the configuration option `workbook.sqs_event_queue_url`, which the environment's
AirflowConfigurationOptions set (MWAA exports each option as `AIRFLOW__<SECTION>__<KEY>`): reading configuration costs
nothing at parse time, where a Variable would query the metadata database at every parse. Without it the asset has no
watcher and nothing starts the DAG.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import DAG, Asset, AssetWatcher, conf, task

QUEUE_URL = conf.get("workbook", "sqs_event_queue_url", fallback=None)
watchers = [AssetWatcher(name="sqs_events_watcher",
                         trigger=MessageQueueTrigger(scheme="sqs", sqs_queue=QUEUE_URL, waiter_delay=2))] if QUEUE_URL else []
sqs_events = Asset(name="sqs_events", watchers=watchers)

with DAG(
    dag_id="sqs_event_driven",
    schedule=[sqs_events],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "airflow3-features"],
    doc_md=__doc__,
) as dag:
    @task
    def handle(triggering_asset_events=None) -> list[str]:
        # the trigger's payload: the messages it received (and deleted from the queue)
        bodies = []
        for events in triggering_asset_events.values():
            for event in events:
                bodies += [m["Body"] for m in (event.extra.get("payload") or {}).get("message_batch", [])]
        return bodies

    handle()
