"""Least privilege per pod: the DAG of the AWS post "Set up fine-grained permissions for your data pipeline using MWAA
and EKS", on Airflow 3.

Two pods on the EKS cluster `data-cluster`, namespace `mwaa`, each under its own Kubernetes service account and so
its own IAM role (IAM roles for service accounts): `read_bucket` may only list the source bucket, `write_bucket` may
only write to the destination bucket. Each reads its bucket's name from an SSM SecureString parameter it alone may
read. The listing travels from one pod to the next as XCom (`/airflow/xcom/return.json`, read by the operator's
sidecar). The Airflow worker itself needs no S3 or SSM permission for this: it only asks EKS to run the pods.

Changes from the post's Airflow 2 DAG: `airflow.sdk` and `schedule=None` (the notebook triggers it; the post ran it
hourly); `on_finish_action="delete_pod"` (Airflow 3's name for the removed `is_delete_operator_pod=True`).
On MWAA, install `apache-airflow-providers-cncf-kubernetes` through requirements.txt (the image does not preinstall it)
and map the execution role into the cluster (aws-auth or an access entry).
"""

from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.operators.eks import EksPodOperator
from airflow.sdk import DAG

with DAG(
    dag_id="eks_least_privilege",
    description="DAG with fine-grained permissions",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "eks", "least-privilege"],
    doc_md=__doc__,
    default_args={
        "cluster_name": "data-cluster",
        "namespace": "mwaa",
        "get_logs": True,
        "on_finish_action": "delete_pod",
    },
):
    read_bucket = EksPodOperator(
        task_id="read_bucket",
        pod_name="read-bucket",
        image="amazon/aws-cli:latest",
        cmds=["sh", "-c"],
        arguments=[
            "aws s3api list-objects --output json --bucket $(aws ssm get-parameter --name mwaa_source_bucket "
            "--with-decryption --query 'Parameter.Value' --output text) > /airflow/xcom/return.json"
        ],
        service_account_name="source-bucket-reader-sa",
        do_xcom_push=True,
    )

    write_bucket = EksPodOperator(
        task_id="write_bucket",
        pod_name="write-bucket",
        image="amazon/aws-cli:latest",
        cmds=["sh", "-c"],
        arguments=[
            "echo '{{ task_instance.xcom_pull(task_ids='read_bucket') | tojson }}' > list.json; "
            "aws s3 cp list.json s3://$(aws ssm get-parameter --name mwaa_destination_bucket "
            "--with-decryption --query 'Parameter.Value' --output text)"
        ],
        service_account_name="destination-bucket-writer-sa",
    )

    read_bucket >> write_bucket
