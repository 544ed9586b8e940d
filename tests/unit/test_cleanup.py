"""Clean-up by tag in a shared account: an environment's log groups, and no one else's."""

from __future__ import annotations

from helpers.aws import cleanup, cloud


def test_deleting_an_environment_deletes_its_log_groups_not_those_of_a_name_sharing_its_start(module_cloud):
    logs = cloud.client("logs")
    ours, theirs = "airflow-mwaa-workbook-Task", "airflow-mwaa-workbook-prod-Task"  # "mwaa-workbook-prod": someone else's
    for group in (ours, theirs):
        logs.create_log_group(logGroupName=group)
    region, account = cloud.settings().region, cloud.account_id()
    cleanup.delete_arn(f"arn:aws:airflow:{region}:{account}:environment/mwaa-workbook")  # already gone: its logs remain
    left = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="airflow-mwaa-workbook")["logGroups"]]
    assert left == [theirs]
    assert cleanup.environment_log_groups("mwaa-workbook") == [f"airflow-mwaa-workbook-{kind}" for kind in sorted(cleanup.LOG_GROUP_KINDS)]
