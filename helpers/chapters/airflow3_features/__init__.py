"""Notebook 09, the Airflow features of the MWAA version posts on Airflow 3: `notifications` (what the notifiers
delivered: SnsNotifier's messages read from the SQS queue subscribed to the topic, and the incident records a custom
BaseNotifier writes to S3).

The JSON API the assets producer fetches from locally is the local cloud's (`helpers.localcloud.emulators.sample_api`);
event-driven scheduling needs apache-airflow-providers-common-messaging (requirements/workbook.in)."""
