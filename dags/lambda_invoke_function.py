"""Create, invoke and delete a Python Lambda function from Airflow 3 (after the amazon provider's `example_lambda`).

1. `create_lambda_function` (LambdaCreateFunctionOperator): a python3.12 function whose zip is built here from the
   inline source below, as in AWS's example, with an environment variable and the workbook's tags.
2. `wait_lambda_function_state` (LambdaFunctionStateSensor): waits until the function is Active.
3. `invoke_lambda_function` (LambdaInvokeFunctionOperator): invokes it synchronously with this run's id; the
   function's JSON answer is the task's XCom, and the last 4 KB of its log are in the task log (`log_type="Tail"`).
4. `delete_lambda_function` (teardown): deletes the function and its log group, whatever happened before.

Deployable to Amazon MWAA unchanged: pass the function's execution role (an IAM role that trusts
lambda.amazonaws.com) as the run's `role_arn` parameter. The MWAA execution role needs lambda:CreateFunction,
GetFunction, InvokeFunction, DeleteFunction and TagResource on the function, logs:DeleteLogGroup on its log group,
and iam:PassRole on `role_arn`. On the local cloud the invocation runs in the workbook's Lambda runner (emulated).
"""

from __future__ import annotations

import io
import zipfile

import pendulum
from airflow.providers.amazon.aws.operators.lambda_function import LambdaCreateFunctionOperator, LambdaInvokeFunctionOperator
from airflow.providers.amazon.aws.sensors.lambda_function import LambdaFunctionStateSensor
from airflow.sdk import DAG, Param, task

FUNCTION = "{{ params.function_name }}"
FUNCTION_SOURCE = '''import os


def lambda_handler(event, context):
    print(f"{context.function_name} got {event}")
    return {"greeting": os.environ["GREETING"], "event": event}
'''


def function_zip(source: str) -> bytes:
    """The deployment package: one file, lambda_function.py (fixed timestamp: the same source gives the same zip)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("lambda_function.py", date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, source)
    return buffer.getvalue()


with DAG(
    dag_id="lambda_invoke_function",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one function name: two runs at once would create it twice
    tags=["workbook", "lambda"],
    params={
        "role_arn": Param("", type="string", description="ARN of the function's execution role (trusts lambda.amazonaws.com)."),
        "function_name": Param("workbook-lambda-invoke", type="string", pattern="^[A-Za-z0-9_-]{1,64}$",
                               description="Name of the function this run creates, invokes and deletes."),
        "notebook": Param("lambda_invoke_function", type="string", description="Tag value: clean-up finds the function by it."),
    },
    doc_md=__doc__,
) as dag:
    create_lambda_function = LambdaCreateFunctionOperator(
        task_id="create_lambda_function",
        function_name=FUNCTION,
        runtime="python3.12",
        role="{{ params.role_arn }}",
        handler="lambda_function.lambda_handler",
        code={"ZipFile": function_zip(FUNCTION_SOURCE)},
        timeout=30,
        # `config` holds LambdaHook.create_lambda's other arguments (snake_case), not CreateFunction's.
        config={"environment": {"Variables": {"GREETING": "Hello from Lambda"}},
                "tags": {"workbook": "mwaa-workbook", "workbook:notebook": "{{ params.notebook }}"}},
    )
    wait_lambda_function_state = LambdaFunctionStateSensor(
        task_id="wait_lambda_function_state",
        function_name=FUNCTION,
        poke_interval=1,
        timeout=120,
    )
    invoke_lambda_function = LambdaInvokeFunctionOperator(
        task_id="invoke_lambda_function",
        function_name=FUNCTION,
        payload='{"run_id": "{{ run_id }}"}',
        log_type="Tail",
    )

    @task
    def delete_lambda_function(function_name: str) -> None:
        # Imported inside the task: top-level provider imports slow every DAG parse on the scheduler.
        from airflow.providers.amazon.aws.hooks.lambda_function import LambdaHook
        from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook

        LambdaHook(aws_conn_id="aws_default").conn.delete_function(FunctionName=function_name)
        logs = AwsLogsHook(aws_conn_id="aws_default").conn
        try:
            logs.delete_log_group(logGroupName=f"/aws/lambda/{function_name}")
        except logs.exceptions.ResourceNotFoundException:
            pass  # never invoked: no log group
        print(f"deleted Lambda function {function_name} and its log group")

    delete = delete_lambda_function(FUNCTION).as_teardown(setups=create_lambda_function)
    create_lambda_function >> wait_lambda_function_state >> invoke_lambda_function >> delete
