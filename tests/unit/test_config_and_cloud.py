from __future__ import annotations

import pytest

from helpers import config
from helpers.aws import cloud
from helpers.errors import WorkbookError


@pytest.fixture
def no_aws_credentials(tmp_path, monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "WORKBOOK_AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_defaults_to_local_target(fresh_state):
    cfg = config.settings()
    assert (cfg.target, cfg.region, cfg.allow_billable) == ("local", "us-east-1", False)


def test_bad_target_is_one_clear_line(fresh_state, monkeypatch):
    monkeypatch.setenv("WORKBOOK_TARGET", "azure")
    with pytest.raises(WorkbookError, match="must be 'local' or 'aws'") as err:
        config.settings()
    assert "\n" not in str(err.value)


def test_wrong_region_is_one_clear_line(fresh_state, monkeypatch):
    monkeypatch.setenv("WORKBOOK_REGION", "us-north-9")
    with pytest.raises(WorkbookError, match="Unknown AWS region 'us-north-9'"):
        config.settings()


def test_config_file_is_read_and_env_wins(fresh_state, tmp_path, monkeypatch):
    file = tmp_path / "workbook.toml"
    file.write_text('target = "aws"\nregion = "eu-west-1"\nallow_billable = true\n')
    monkeypatch.setattr(config, "CONFIG_FILE", file)
    cfg = config.settings()
    assert (cfg.target, cfg.region, cfg.allow_billable) == ("aws", "eu-west-1", True)
    monkeypatch.setenv("WORKBOOK_TARGET", "local")
    assert config.settings().target == "local"


def test_broken_config_file_is_one_clear_line(fresh_state, tmp_path, monkeypatch):
    file = tmp_path / "workbook.toml"
    file.write_text("target = \n")
    monkeypatch.setattr(config, "CONFIG_FILE", file)
    with pytest.raises(WorkbookError, match="workbook.toml is not valid TOML"):
        config.settings()


def test_aws_target_without_credentials_is_one_clear_line(fresh_state, no_aws_credentials, monkeypatch):
    monkeypatch.setenv("WORKBOOK_TARGET", "aws")
    with pytest.raises(WorkbookError, match=r"No AWS credentials found.*aws configure") as err:
        cloud.client("s3")
    assert "\n" not in str(err.value)


def test_aws_target_with_unknown_profile(fresh_state, no_aws_credentials, monkeypatch):
    monkeypatch.setenv("WORKBOOK_TARGET", "aws")
    monkeypatch.setenv("WORKBOOK_AWS_PROFILE", "nope")
    with pytest.raises(WorkbookError, match="profile 'nope' is not configured"):
        cloud.session()


def test_airflow_connection_points_at_the_target(local_cloud):
    import json

    conn = json.loads(cloud.airflow_aws_connection())
    assert conn["conn_type"] == "aws"
    assert conn["extra"]["endpoint_url"] == local_cloud.url
    env = cloud.subprocess_env()
    assert env["AWS_ENDPOINT_URL"] == local_cloud.url and env["WORKBOOK_TARGET"] == "local"


def test_describe_says_what_is_emulated(local_cloud):
    assert cloud.describe() == "target=local: AWS APIs emulated on loopback, account 123456789012, region us-east-1"


def test_answered_by_says_emulated_on_the_local_target_only(fresh_state, monkeypatch):
    monkeypatch.setenv("WORKBOOK_TARGET", "local")
    assert cloud.answered_by("IAM's policy simulator", "AWS IAM") == "(IAM's policy simulator: emulated by the local cloud)"
    monkeypatch.setenv("WORKBOOK_TARGET", "aws")
    assert cloud.answered_by("IAM's policy simulator", "AWS IAM") == "(IAM's policy simulator: AWS IAM)"


def test_what_notebooks_say_per_target_comes_from_helpers(fresh_state, monkeypatch, capsys):
    """Notebooks print these lines instead of branching on the target themselves."""
    from helpers.aws import mwaa
    from helpers.chapters.deferrable_operators import glue
    from helpers.chapters.setup_teardown import secrets_cache
    from helpers.chapters.snowflake import account

    identity = {"STORAGE_AWS_IAM_USER_ARN": "arn:aws:iam::123456789012:user/sf-user"}
    monkeypatch.setenv("WORKBOOK_TARGET", "local")
    assert glue.service_note() == glue.EMULATED and account.workbook_provides_snowflake()
    assert account.identity_line(identity) == "Snowflake identity (emulated): sf-user"
    assert secrets_cache.call_counter_available() and "counted by the local cloud" in capsys.readouterr().out
    assert mwaa.login_link_html("127.0.0.1:1", "t", "env1").startswith("<a href=")
    monkeypatch.setenv("WORKBOOK_TARGET", "aws")
    assert glue.service_note() == "Glue: the real service" and not account.workbook_provides_snowflake()
    assert account.identity_line(identity) == "Snowflake identity: sf-user"
    assert not secrets_cache.call_counter_available() and "CloudTrail" in capsys.readouterr().out
    assert mwaa.login_link_html("x.on.aws", "t", "env1").startswith("<form method=\"post\"")
