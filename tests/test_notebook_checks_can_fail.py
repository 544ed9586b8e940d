"""The notebook layer of the tests must be able to fail: probe notebooks with known defects go through what
tests/test_notebooks.py uses (the headless runner, its stderr rule, the comparison with committed outputs and
its sanitizer), and each defect must fail."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from helpers.paths import BUILD_DIR
from helpers.testkit.compare import compare
from helpers.tooling.notebooks import KERNEL_NAME
from helpers.tooling.runner import run_notebook

PROBES = BUILD_DIR / "probe"


def _cell(source, count, checked=False, expected=None):
    cell = new_code_cell(source, execution_count=count, metadata={"tags": ["nbval-check-output"]} if checked else {})
    cell.outputs = [new_output("stream", name="stdout", text=expected)] if expected else []
    return cell


def _probe(name: str, *cells) -> tuple[dict, object]:
    PROBES.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(metadata={"kernelspec": {"name": KERNEL_NAME, "display_name": "x", "language": "python"}})
    nb.cells = list(cells)
    source = PROBES / f"{name}.ipynb"
    nbformat.write(nb, source)
    output = PROBES / f"{name}.executed.ipynb"
    return run_notebook(name, timeout=120, output=output, source=source), (output, source)


def test_a_changed_output_fails_and_sanitized_ports_and_times_do_not():
    row, (executed, committed) = _probe(
        "probe_mismatch",
        _cell("print('port 127.0.0.1:5555 took 1.5 s')", 1, checked=True, expected="port 127.0.0.1:80 took 9 s\n"),
        _cell("print('hello')", 2, checked=True, expected="goodbye\n"),
        _cell("print('not compared')", 3, expected="anything\n"))
    assert row["status"] == "ok", row
    mismatches = compare(executed, committed)
    assert [m.cell for m in mismatches] == [1], mismatches
    assert mismatches[0].expected == "goodbye\n" and mismatches[0].got == "hello\n"


@pytest.mark.parametrize(("source", "expected"), [
    ("raise ValueError('boom')", "ValueError: boom"),
    ("import sys; print('careful', file=sys.stderr)", "stderr output (1): cell 0: careful"),
    ("from helpers.errors import WorkbookError, show_errors_as_one_line\n"
     "show_errors_as_one_line()\nraise WorkbookError('start the local cloud')", "WorkbookError: start the local cloud"),
], ids=["error", "stderr", "workbook-error"])
def test_an_error_or_stderr_fails_the_notebook(source, expected):
    row, _ = _probe("probe_failure", _cell(source, 1))
    assert row["status"] == "failed" and expected in row["error"], row


def _assert_outcome(row: dict, expected: str | None) -> None:
    """A probe with no defect (`expected` None) runs ok; one with a defect fails with `expected` in its error."""
    if expected is None:
        assert row["status"] == "ok", row
    else:
        assert row["status"] == "failed" and expected in row["error"], row


def notebook_cell(notebook: str, marker: str) -> str:
    """The source of the one code cell of a committed notebook that contains `marker`."""
    import nbformat as nbf

    from helpers.paths import NOTEBOOKS_DIR

    found = [c.source for c in nbf.read(NOTEBOOKS_DIR / f"{notebook}.ipynb", as_version=4).cells
             if c.cell_type == "code" and marker in c.source]
    assert len(found) == 1, f"{notebook} has {len(found)} code cells with {marker!r}"
    return found[0]


# 02's roles, as the notebook creates them, but with the creator's endpoint permissions chosen by the test
_02_ROLES = """
import json
import pandas as pd
from helpers import cloud, workbook
workbook.start("02_probe")
iam_client, account = cloud.client("iam"), cloud.account_id()
ec2 = cloud.client("ec2")
vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
outputs = {"VPC": vpc, "SqsVpcEndpoint": ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.sqs",
                                                                  VpcEndpointType="Interface")["VpcEndpoint"]["VpcEndpointId"]}
private_environment = "probe-env"
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                            "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]})

def role(name, *statements):
    arn = iam_client.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam_client.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    return arn

function_role_arn = role("probe-function", {"Effect": "Allow", "Action": ["ec2:CreateVpcEndpoint", "ec2:ModifyVpcEndpoint"],
                                            "Resource": "*"})
creator_role_arn = role("probe-creator", {"Effect": "Allow", "Action": "airflow:CreateEnvironment", "Resource": "*"},
                        *CREATOR_EXTRA)
"""


@pytest.mark.parametrize(("extra", "expected"), [
    ("[]", None),
    ('[{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]', "the environment creator may call ec2:CreateVpcEndpoint"),
    ('[{"Effect": "Allow", "Action": "ec2:Modify*", "Resource": "arn:aws:ec2:*:*:vpc-endpoint/*"}]',
     "the environment creator may call ec2:ModifyVpcEndpoint"),
], ids=["least-privilege", "ec2-wildcard", "modify-endpoints"])
def test_02_creator_checkpoint_fails_when_the_creator_may_touch_endpoints(local_cloud, extra, expected):
    """02's "creator cannot create endpoints" asks IAM (the local simulator) about the role, not the notebook's own dict."""
    checkpoint = notebook_cell("02_shared_vpc", "simulate_principal_policy(")
    row, _ = _probe("probe_02_creator", _cell(f"CREATOR_EXTRA = {extra}\n" + _02_ROLES, 1), _cell(checkpoint, 2))

# --- The checkpoints of notebooks 03 and 04, as committed, run on records that show a defect ---------------------
# Each probe runs the notebook's own checkpoint cell after a cell that stands in for what the steps before it read
# from Airflow, S3 or the local cloud; a record with the defect must fail it with its message, and good records pass.

def _checkpoint(notebook: str, marker: str) -> str:
    from helpers.paths import NOTEBOOKS_DIR

    nb = nbformat.read(NOTEBOOKS_DIR / f"{notebook}.ipynb", as_version=4)
    found = [c.source for c in nb.cells if c.cell_type == "code" and marker in c.source]
    assert len(found) == 1, f"{notebook}: {len(found)} code cells contain {marker!r}"
    return found[0]


_SENSOR_RECORDS = """
import pandas as pd
class api:  # the task instances of the run, all successful
    task_instances = staticmethod(lambda dag_id, run_id: pd.DataFrame(
        {"task": ["wait_for_data"], "state": ["success"], "operator": ["S3KeySensor"]}))
run_id = "manual__probe"
landed = [pd.Timestamp("2026-01-01T00:00:15Z").to_pydatetime()] * 3
sensor = {"state": "success", "queued_when": "%(queued)s"}
sensor_log = [{"event": "Poking for key : s3://b/legislators/persons.json", "timestamp": "2026-01-01T00:00:01Z"},
              {"event": "%(event)s", "timestamp": "%(deferred)s"}]
"""
_DEFERRED = "Pausing task as DEFERRED. "


@pytest.mark.parametrize(("records", "expected"), [
    ({"event": "Sleeping for 5 seconds", "deferred": "2026-01-01T00:00:02Z", "queued": "2026-01-01T00:00:20Z"},
     "wait_for_data never deferred"),
    ({"event": _DEFERRED, "deferred": "2026-01-01T00:00:16Z", "queued": "2026-01-01T00:00:20Z"},
     "not before the data landed"),
    ({"event": _DEFERRED, "deferred": "2026-01-01T00:00:02Z", "queued": "2026-01-01T00:00:10Z"},
     "not resumed after the data landed"),
    ({"event": _DEFERRED, "deferred": "2026-01-01T00:00:02Z", "queued": "2026-01-01T00:00:20Z"}, None),
], ids=["classic-sensor", "deferred-after-the-data", "resumed-before-the-data", "good-records-pass"])
def test_03_deferred_before_the_data_checkpoint(records, expected):
    row, _ = _probe("probe_03_deferral", _cell(_SENSOR_RECORDS % records, 1),
                    _cell(_checkpoint("03_deferrable_operators", "Pausing task as DEFERRED"), 2))
    _assert_outcome(row, expected)


_TEARDOWN_RECORDS = """
class api:  # GET /dags/{dag_id}/tasks: %(rule)s
    @staticmethod
    def call(method, path):
        rules = {"data_quality_setup_teardown": {"create_scratch": "all_success", "load": "all_success",
                                                 "check_quality": "all_success", "drop_scratch": "%(rule)s"},
                 "nested_setup_teardown": {"create_cluster": "all_success", "drop_table": "all_done_setup_success",
                                           "drop_cache": "all_done_setup_success",
                                           "delete_cluster": "all_done_setup_success"}}[path.split("/")[2]]
        return {"tasks": [{"task_id": t, "trigger_rule": r} for t, r in rules.items()]}
"""
_CACHE_COUNTS = """
import pandas as pd
from helpers import secrets_cache
count_here, window, parse_interval, cache_ttl = True, 20, 2, 10
without, with_cache = pd.DataFrame({"calls": [0, %(off)d]}), pd.DataFrame({"calls": [0, %(on)d]})
"""


@pytest.mark.parametrize(("records", "expected"), [
    ({"rule": "all_success", "off": 7, "on": 2}, "did not parse drop_scratch as a teardown"),  # no @teardown
    ({"rule": "all_done_setup_success", "off": 7, "on": 7}, "calls with the cache on: more than one per 10 s TTL"),
    ({"rule": "all_done_setup_success", "off": 7, "on": 2}, None),
], ids=["not-a-teardown", "cache-not-applied", "good-records-pass"])
def test_04_teardown_and_secrets_cache_checkpoints(records, expected):
    row, _ = _probe("probe_04_checkpoints", _cell(_TEARDOWN_RECORDS % records, 1),
                    _cell(_checkpoint("04_setup_teardown", 'trigger_rule"] == "all_done_setup_success"'), 2),
                    _cell(_CACHE_COUNTS % records, 3),
                    _cell(_checkpoint("04_setup_teardown", "secrets_cache.allowed_calls(window, cache_ttl)"), 4))
    _assert_outcome(row, expected)

# ---- Checkpoints of the notebooks, fed what a known defect would leave: each must fail, with a message saying so ----

def _notebook_cell(notebook: str, cell_id: str) -> str:
    from helpers.paths import NOTEBOOKS_DIR

    nb = nbformat.read(NOTEBOOKS_DIR / f"{notebook}.ipynb", as_version=4)
    found = [c.source for c in nb.cells if c.get("id") == cell_id]
    assert found, f"{notebook} has no cell {cell_id}: keep the probe in step with the notebook"
    return found[0]


def _check(notebook: str, cell_id: str, state: str, defect: str) -> str | None:
    """Run a checkpoint cell's code on a state with a defect applied; the assertion's message, or None if it passed."""
    namespace: dict = {}
    exec(state + "\n" + defect, namespace)  # noqa: S102 (the probe's own code)
    try:
        exec(_notebook_cell(notebook, cell_id), namespace)  # noqa: S102 (the notebook's checkpoint, as committed)
    except AssertionError as exc:
        return str(exc)
    return None


SNOWFLAKE_DAG2 = """
destination_bucket, state2 = "dest", "success"
role_arn = "arn:aws:iam::123456789012:role/mwaa-workbook/mwaa-workbook-05-snowflake-stage-reader"
stages = {"mwaa_citibike_stg": "s3://dest/citibike/"}
identity = {"STORAGE_AWS_IAM_USER_ARN": "arn:aws:iam::999999999999:user/sf", "STORAGE_AWS_EXTERNAL_ID": "AB_SFCRole=1"}
described = {"STORAGE_AWS_ROLE_ARN": role_arn, "STORAGE_ALLOWED_LOCATIONS": "s3://dest/", **identity}
"""


@pytest.mark.parametrize(("defect", "expected"), [
    ("", None),
    ("state2 = 'failed'", "DAG 2 ended failed"),
    ("stages['mwaa_citibike_stg'] = 's3://dest/'", "stage mwaa_citibike_stg reads s3://dest/, not s3://dest/citibike/"),
    ("stages.clear()", "stage mwaa_citibike_stg reads None"),
    ("described['STORAGE_AWS_ROLE_ARN'] = 'arn:aws:iam::123456789012:role/other'", "the integration would assume"),
    ("described['STORAGE_ALLOWED_LOCATIONS'] = 's3://elsewhere/'", "outside the allowed locations"),
    ("identity = {**identity, 'STORAGE_AWS_EXTERNAL_ID': 'from-a-replaced-integration'}", "is not what DESC INTEGRATION says"),
], ids=["sound", "run-failed", "stage-on-bucket-root", "no-stage", "other-role", "not-allowed", "stale-identity"])
def test_05_snowflake_dag2_checkpoint_fails_on_a_defect(defect, expected):
    message = _check("05_snowflake", "c34", SNOWFLAKE_DAG2, defect)
    assert message == expected if expected is None else expected in (message or ""), message


SNOWFLAKE_DAG3 = """
import pandas as pd
top_n, state3 = 2, "success"
sample = pd.DataFrame({"member_casual": ["member", "member", "casual"]})
expected_riders = {"casual": 1, "member": 2}
loaded_riders = dict(expected_riders)
expected_top = pd.DataFrame({"direction": ["start", "end"], "station_name": ["A", "B"], "rides": [2, 1]})
top = expected_top.copy()
messages = [{"subject": "Top", "message": top.to_dict("records")}]
"""


@pytest.mark.parametrize(("defect", "expected"), [
    ("", None),
    ("loaded_riders = {'casual': 2, 'member': 4}", "citibike_tbl holds 6 rides, the sample zips 3"),
    ("loaded_riders = {'casual': 2, 'member': 1}", "rides per rider type"),
    ("top.loc[0, 'rides'] = 3", "DAG 3's top stations differ"),
    ("messages = []", "the SNS message is not DAG 3's answer"),
], ids=["sound", "loaded-twice", "columns-shifted", "wrong-top", "no-message"])
def test_05_snowflake_dag3_checkpoint_fails_on_a_defect(defect, expected):
    message = _check("05_snowflake", "c48", SNOWFLAKE_DAG3, defect)
    assert message == expected if expected is None else expected in (message or ""), message


def test_05_snowflake_dag2_checkpoint_fails_the_notebook_run():
    """The same checkpoint through the headless runner: a failing checkpoint fails the notebook."""
    source = SNOWFLAKE_DAG2 + "stages['mwaa_citibike_stg'] = 's3://dest/'\n" + _notebook_cell("05_snowflake", "c34")
    row, _ = _probe("probe_05_dag2", _cell(source, 1))
    assert row["status"] == "failed" and "stage mwaa_citibike_stg reads s3://dest/" in row["error"], row


CLEAN_UP_LOGS = """
class _Logs:
    def __init__(self, groups):
        self.groups = groups

    def get_paginator(self, name):
        return self

    def paginate(self, logGroupNamePrefix):
        return [{"logGroups": [{"logGroupName": g} for g in self.groups if g.startswith(logGroupNamePrefix)]}]


class cloud:
    groups = ["airflow-mwaa-workbook-prod-Task", "airflow-someone-else-Task"]  # not the workbook's

    @classmethod
    def client(cls, service):
        return _Logs(cls.groups)


log_groups = {"mwaa-workbook": ["airflow-mwaa-workbook-Scheduler", "airflow-mwaa-workbook-Task"]}
"""


@pytest.mark.parametrize(("defect", "expected"), [
    ("", None),
    ("cloud.groups = cloud.groups + ['airflow-mwaa-workbook-Task']", "left these log groups: ['airflow-mwaa-workbook-Task']"),
], ids=["only-others-left", "ours-left"])
def test_99_clean_up_log_group_check_is_scoped_to_the_workbooks_environments(defect, expected):
    message = _check("99_clean_up", "c12", CLEAN_UP_LOGS, defect)
    assert message == expected if expected is None else expected in (message or ""), message


_07_LINES = """
import pandas as pd
from helpers import observability
run_id, task_log_group = "manual__2026-01-01T00:00:00+00:00", "airflow-env-Task"
stream = f"dag_id=observability_pipeline/run_id={run_id}/task_id=glue_task/attempt=1.log"
rows = [("123:airflow-env-Task", stream, "Polling for AWS Glue Job"),
        ("123:/aws-glue/python-jobs/output", "jr_1", f"INFO x: observability_pipeline.glue_task {run_id} wrote"),
        ("123:/aws/emr/j-1", "steps/s-1/stdout", f"INFO y: observability_pipeline.add_steps {%(emr_run)s}")]
run_lines = pd.DataFrame(rows[:%(rows)d], columns=["@log", "@logStream", "@message"])
per_group = run_lines.groupby("@log").size().rename("lines").reset_index()
glue_task_lines = pd.DataFrame([rows[1][:2], ("123:airflow-env-Task", stream)], columns=["@log", "@logStream"])
"""


@pytest.mark.parametrize(("records", "expected"), [
    ({"rows": 2, "emr_run": "run_id"}, "'Glue'"),  # the EMR group was left out of the query: its set of services
    ({"rows": 3, "emr_run": "'manual__another'"}, "AssertionError"),  # a line of another run
    ({"rows": 3, "emr_run": "run_id"}, None),
], ids=["a-service-missing", "another-run-s-line", "good-records-pass"])
def test_07_one_query_across_services_checkpoint(records, expected):
    row, _ = _probe("probe_07_insights", _cell(_07_LINES % records, 1),
                    _cell(_checkpoint("07_glue_observability", "services = set(run_lines"), 2))
    _assert_outcome(row, expected)


_08_RUNS = """
import uuid
from helpers import lineage_events, lineage_graph
def run(job, state, outputs):
    run_id, ns = str(uuid.uuid4()), "postgres://127.0.0.1:5432"
    base = {"producer": "probe", "run": {"runId": run_id}, "job": {"namespace": "probe", "name": job,
            "facets": {"jobType": {"jobType": "TASK"}}}, "inputs": [{"namespace": "s3://b", "name": "tickit/sales/sales_pipe.txt"}],
            "outputs": [{"namespace": ns, "name": o} for o in outputs]}
    return [{**base, "eventType": "START", "eventTime": "2026-01-01T00:00:0%(second)dZ"},
            {**base, "eventType": state, "eventTime": "2026-01-01T00:00:0%(end)dZ"}]
first = run("rs_source_to_staging.load_sales", "COMPLETE", ["warehouse.staging.sales"])
graph = lineage_graph.build(first)
edges = graph.edges()
pairs = set(zip(edges.source, edges.target, strict=True))
events2 = first + run("rs_source_to_staging.load_sales", %(state)r, %(outputs)r)
graph2 = lineage_graph.build(events2)
runs2 = lineage_events.runs_table(lineage_events.fold(events2))
load_runs = runs2[runs2.job == "rs_source_to_staging.load_sales"]
"""


@pytest.mark.parametrize(("second", "expected"), [
    ({"state": "FAIL", "outputs": ["warehouse.staging.sales"]}, "load_sales runs: ['COMPLETE', 'FAIL']"),  # the re-run failed
    ({"state": "COMPLETE", "outputs": ["warehouse.staging.sales", "warehouse.staging.sales_v2"]}, "AssertionError"),  # a new edge
    ({"state": "COMPLETE", "outputs": ["warehouse.staging.sales"]}, None),
], ids=["failed-rerun", "rerun-adds-an-edge", "same-edges-pass"])
def test_08_second_run_adds_runs_not_edges_checkpoint(second, expected):
    row, _ = _probe("probe_08_rerun", _cell(_08_RUNS % {**second, "second": 1, "end": 5}, 1),
                    _cell(_checkpoint("08_lineage", "edges2 = graph2.edges()"), 2))
    _assert_outcome(row, expected)


# 09's queued-timeout checkpoint, on what the step reads from Airflow: the run, its task instances, the audit log
_09_STUCK = """
import pandas as pd
from helpers import features
stuck_state = %(state)r
stuck_tis = pd.DataFrame({"task": ["on_a_queue_no_worker_serves", "on_the_environments_queue"], "state": ["failed", %(served)r]})
story = pd.DataFrame({"second": %(seconds)r, "event": %(events)r})
"""
_REQUEUED = ["stuck in queued reschedule"] * 2 + ["stuck in queued tries exceeded"]


@pytest.mark.parametrize(("records", "expected"), [
    ({"state": "failed", "served": "success", "seconds": [0, 7, 14], "events": _REQUEUED}, None),
    ({"state": "failed", "served": "failed", "seconds": [0, 7, 14], "events": _REQUEUED}, "run failed: {'on_a_queue"),
    ({"state": "failed", "served": "success", "seconds": [0, 7], "events": _REQUEUED[1:]}, "audit log: ['stuck in queued re"),
    ({"state": "failed", "served": "success", "seconds": [0, 2, 4], "events": _REQUEUED}, "failed 4 s after the first"),
    ({"state": "success", "served": "success", "seconds": [], "events": []}, "run success: {"),
], ids=["three-timeouts-pass", "served-task-failed", "one-requeue", "no-timeout-waited", "never-stuck"])
def test_09_queued_timeout_checkpoint(records, expected):
    row, _ = _probe("probe_09_stuck", _cell(_09_STUCK % records, 1),
                    _cell(_checkpoint("09_airflow3_features", "stuck in queued tries exceeded"), 2))
    _assert_outcome(row, expected)


# 10's checkpoint on the checks before an upgrade, on what the four checks found
_10_FINDINGS = """
import pandas as pd
rows = %(rows)r
findings = pd.DataFrame(rows, columns=["check", "source", "rule", "finding"])
parse = {"dags": %(dags)r, "import_errors": {}}
resolution = {"ok": %(resolved)r, "error": "" if %(resolved)r else "tabulate==0.9.0 and tabulate==0.10.0 are incompatible", "pins": []}
to_version = "3.3.1"
"""
_10_RUFF = [("ruff", "daily_report.py:17", rule, "x") for rule in ("AIR301", "AIR302", "AIR311", "AIR312")]
_10_LINT = [("config lint", "AirflowConfigurationOptions", "", "dag_dir_list_interval moved to dag_processor")]
_10_PARSE = [("DAG parse", "daily_report.py", "", "ModuleNotFoundError: No module named 'airflow.operators.dummy'")]


@pytest.mark.parametrize(("records", "expected"), [
    ({"rows": _10_RUFF + _10_LINT + _10_PARSE, "dags": ["environment_check"], "resolved": False}, None),
    ({"rows": _10_RUFF[:3] + _10_LINT + _10_PARSE, "dags": ["environment_check"], "resolved": False},
     "['AIR301', 'AIR302', 'AIR311', '', '']"),
    ({"rows": _10_RUFF + [("ruff", "environment_check.py:3", "AIR311", "x")] + _10_LINT + _10_PARSE, "dags": ["environment_check"],
      "resolved": False}, "AssertionError"),
    ({"rows": _10_RUFF + _10_PARSE, "dags": ["environment_check"], "resolved": False}, "AssertionError"),
    ({"rows": _10_RUFF + _10_LINT + _10_PARSE, "dags": [], "resolved": False}, "AssertionError"),
    ({"rows": _10_RUFF + _10_LINT + _10_PARSE, "dags": ["environment_check"], "resolved": True}, "AssertionError"),
], ids=["four-checks-pass", "a-rule-missed", "a-fixed-dag-flagged", "lint-missed", "target-parses-nothing", "pin-resolves"])
def test_10_checks_before_the_upgrade_checkpoint(records, expected):
    row, _ = _probe("probe_10_findings", _cell(_10_FINDINGS % records, 1),
                    _cell(_checkpoint("10_operations", "findings from 4 checks"), 2))
    _assert_outcome(row, expected)
