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
    if expected is None:
        assert row["status"] == "ok", row
    else:
        assert row["status"] == "failed" and expected in row["error"], row
