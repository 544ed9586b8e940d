"""The Airflow options the local MWAA sets are options the pinned Airflow knows: Airflow ignores a misspelt
AIRFLOW__SECTION__OPTION without a word, so a typo would silently undo a fix (e.g. the execution API timeout)."""

from __future__ import annotations

from airflow.configuration import retrieve_configuration_description

from helpers.localcloud.emulators.mwaa.runtime import AirflowRuntime


def test_every_airflow_option_the_runtime_sets_exists(tmp_path):
    runtime = AirflowRuntime(tmp_path / "home", tmp_path / "dags", tmp_path / "cache", aws_env={},
                             localcloud_dir=tmp_path / "localcloud")
    env = runtime.environment({}, "arn:aws:logs:us-east-1:123456789012:log-group:airflow-x-Task", "INFO")
    known = {(section, option) for section, spec in retrieve_configuration_description().items()
             for option in spec.get("options", {})}
    options = [key.split("__")[1:] for key in env if key.startswith("AIRFLOW__")]
    assert len(options) > 10
    unknown = [f"[{s.lower()}] {o.lower()}" for s, o in options if (s.lower(), o.lower()) not in known]
    assert not unknown, f"not options of the pinned Airflow: {unknown}"
    assert float(env["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"]) >= 30
