"""One correlation id across Airflow, Glue and EMR: the pipeline of the AWS post "Improve observability across
Amazon MWAA tasks", on Airflow 3.

The DAG run's `run_id` is the correlation id. Every task hands it on, and every script logs it in the form
`<dag_name>.<task_id> <correlation_id>`, so one CloudWatch Logs Insights query over the Airflow task log group, the
Glue job's log groups and the EMR cluster's logs finds the whole run, and a query for `<dag>.<task> <run_id>` one task.

1. `glue_task`: a Glue Python shell job turns one day of raw CloudTrail files (one JSON document of records per
   file) into JSON lines, one event per line, that any engine can split (`raw_to_transform.py`).
2. `create_emr_cluster`: an EMR cluster whose name and LogUri carry the correlation id.
3. `add_steps`, `watch_step`: a spark-submit step (`error_report.py`) reports the day's denied calls.
4. `remove_cluster`: terminates the cluster. It is the cluster's *teardown*: it runs whenever the cluster was
   created, even after a failed step, it is skipped when there is no cluster, and its own success does not hide a
   failure from the run's state (a plain `trigger_rule="all_done"` leaf would).

Changes from the post's Airflow 2 DAG: `airflow.sdk`; `GlueJobOperator` (the post's `AwsGlueJobOperator` is gone);
`emr_conn_id=None`, so the cluster is exactly `JOB_FLOW_OVERRIDES` (on MWAA the `emr_default` connection's extra
would be merged into it); the cluster's removal as a teardown task; a release label that exists today.
Deployable to MWAA unchanged: everything environment-specific is a run parameter.
"""

from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.operators.emr import (
    EmrAddStepsOperator,
    EmrCreateJobFlowOperator,
    EmrTerminateJobFlowOperator,
)
from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.sdk import DAG, Param

# Variables
correlation_id = "{{ run_id }}"
dag_name = "observability_pipeline"
emr_task_id = "create_emr_cluster"
S3_BUCKET_NAME = "{{ params.bucket }}"
process_date = "{{ params.process_date }}"

# Define the EMR cluster configuration
JOB_FLOW_OVERRIDES = {
    "Name": dag_name + "." + emr_task_id + "-" + correlation_id,
    "ReleaseLabel": "emr-7.5.0",
    "LogUri": f"s3://{S3_BUCKET_NAME}/logs/emr/{dag_name}/{emr_task_id}/{correlation_id}",
    "Applications": [{"Name": "Spark"}],
    "Instances": {
        "InstanceGroups": [
            {"Name": "Primary node", "Market": "ON_DEMAND", "InstanceRole": "MASTER",
             "InstanceType": "m5.xlarge", "InstanceCount": 1},
        ],
        "TerminationProtected": False,
        "KeepJobFlowAliveWhenNoSteps": True,
    },
    "JobFlowRole": "{{ params.emr_ec2_instance_profile }}",
    "ServiceRole": "{{ params.emr_service_role }}",
    "Tags": [{"Key": "workbook", "Value": "mwaa-workbook"}, {"Key": "workbook:notebook", "Value": "{{ params.notebook }}"}],
}

# EMR steps to be executed by EMR cluster
SPARK_STEPS = [{
    "Name": "Run Spark",
    "ActionOnFailure": "CANCEL_AND_WAIT",
    "HadoopJarStep": {
        "Jar": "command-runner.jar",
        "Args": ["spark-submit", "--deploy-mode", "client",
                 f"s3://{S3_BUCKET_NAME}/scripts/error_report.py",
                 f"s3://{S3_BUCKET_NAME}/processed/snapshot_date={process_date}/",
                 f"s3://{S3_BUCKET_NAME}/reports/snapshot_date={process_date}/",
                 dag_name, "add_steps", correlation_id],
    },
}]

with DAG(
    dag_id=dag_name,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "glue", "emr", "observability"],
    params={
        "bucket": Param("", type="string", description="Bucket with the raw CloudTrail logs and the scripts."),
        "process_date": Param(type="string", format="date", description="Day to process (YYYY-MM-DD)."),
        "glue_role": Param("", type="string", description="IAM role Glue assumes for the job."),
        "emr_service_role": Param("EMR_DefaultRole", type="string", description="EMR's service role."),
        "emr_ec2_instance_profile": Param("EMR_EC2_DefaultRole", type="string",
                                          description="Instance profile of the cluster's nodes."),
        "notebook": Param("07_glue_observability", type="string", description="Tag value: clean-up finds what it made."),
    },
    doc_md=__doc__,
) as dag:
    # Glue Task definition
    glue_task = GlueJobOperator(
        task_id="glue_task",
        job_name="observability-raw-to-transform",
        script_location=f"s3://{S3_BUCKET_NAME}/scripts/raw_to_transform.py",
        iam_role_name="{{ params.glue_role }}",
        create_job_kwargs={
            "Command": {"Name": "pythonshell", "PythonVersion": "3.9",
                        "ScriptLocation": f"s3://{S3_BUCKET_NAME}/scripts/raw_to_transform.py"},
            "DefaultArguments": {"library-set": "analytics"},
            "MaxCapacity": 0.0625,
            "Tags": {"workbook": "mwaa-workbook", "workbook:notebook": "{{ params.notebook }}"},
        },
        script_args={"--dag_name": dag_name,
                     "--task_id": "glue_task",
                     "--correlation_id": correlation_id,
                     "--input_path": f"s3://{S3_BUCKET_NAME}/cloudtrail/",
                     "--output_path": f"s3://{S3_BUCKET_NAME}/processed/",
                     "--process_date": process_date},
        update_config=True,
        verbose=True,
        job_poll_interval=3,
    )

    # Create the EMR cluster
    create_emr_cluster = EmrCreateJobFlowOperator(
        task_id=emr_task_id,
        job_flow_overrides=JOB_FLOW_OVERRIDES,
        emr_conn_id=None,
    )

    # Run the EMR job
    add_steps = EmrAddStepsOperator(
        task_id="add_steps",
        job_flow_id=create_emr_cluster.output,
        steps=SPARK_STEPS,
    )

    watch_step = EmrStepSensor(
        task_id="watch_step",
        job_flow_id=create_emr_cluster.output,
        step_id="{{ task_instance.xcom_pull(task_ids='add_steps')[0] }}",
        poke_interval=3,
    )

    remove_cluster = EmrTerminateJobFlowOperator(
        task_id="remove_cluster",
        job_flow_id=create_emr_cluster.output,
    )

    glue_task >> create_emr_cluster >> add_steps >> watch_step >> remove_cluster.as_teardown(setups=create_emr_cluster)
