"""Emulations of what moto lacks, served by the local cloud's gateway. One place, each tested.

`load_emulators` returns two routing tables for the gateway: AWS signing name (the service part of a
SigV4 credential scope) -> WSGI app, and unsigned path prefix -> WSGI app (e.g. MWAA's CLI endpoint).

- `mwaa`: the MWAA control plane over real Airflow 3 processes (signing name `airflow`).
- `lambda_runner`: runs Python Lambda functions as local processes: Lambda's Invoke (signing name `lambda`, only
  the invocations path; moto keeps the rest of Lambda) and events delivered to SQS queues, with Lambda's async rules.
- `glue`: Glue Python shell job runs and crawls that do their work (scripts run as local processes, crawlers
  infer tables from the data).
- `emr`: EMR clusters whose steps run as local processes (spark-submit of Python applications without Spark, bash,
  script-runner), with EMR's step and cluster states, step logs in S3 (`<LogUri>`) and in CloudWatch Logs.
- `moto_fixes`: corrections to moto behaviour the scenarios rely on.
- `logs_queries`: CloudWatch Logs Insights StartQuery/GetQueryResults over moto's log events, evaluated by
  `logs_insights` (a subset of the query language: fields, filter, parse, stats, sort, limit, display).
- `athena`: Athena queries that run: StartQueryExecution/GetQueryExecution/GetQueryResults/StopQueryExecution over
  the Glue Data Catalog's tables and their S3 data (JSON, CSV/text, Parquet; registered partitions), Trino SQL
  translated by sqlglot and run by DuckDB, result CSV written to the output location; SELECT and MSCK REPAIR TABLE
  only (CTAS, INSERT, other DDL fail as NOT_SUPPORTED). moto's Athena serves the rest (workgroups, named queries):
  signing name `athena` stays routed to moto, whose Athena responses are patched in-process.
- `iam_simulator`: IAM's SimulatePrincipalPolicy, served by moto's IAM (what may this role do?).
- `iam_policy`: IAM policy evaluation (identity and trust policies), shared by the simulator, federation and enforcement.
- `web_identity`: STS AssumeRoleWithWebIdentity that checks the OIDC token (signature against the issuer's JWKS,
  registered provider, audience, expiry) and the role's trust policy, as IRSA needs.
- `iam_enforcement`: a layer in front of the gateway (`wrap_gateway`) that answers AssumeRoleWithWebIdentity (unsigned,
  routed by its Action) and evaluates the role's policies for requests signed with the credentials it issued (S3 and
  SSM at resource level, other services at action level); every other caller stays unenforced.
- `eks`: EKS clusters that work: moto's EKS control plane with, per cluster, a Kubernetes API subset over HTTPS (its
  own server in a thread of the gateway), pods run as local processes, an OIDC issuer for IRSA.
- `lineage_receiver`: an OpenLineage receiver with Marquez's API subset (unsigned, path prefix `/api/v1/`): the
  provider's HTTP transport posts RunEvents, notebook 08 reads them back as from Marquez.
- `sample_api`: a small paginated JSON API of computed sample datasets (unsigned, path prefix `/_workbook/sample-api/`),
  the HTTP API notebook 09's assets producer fetches from where there is no internet.
"""

from __future__ import annotations


def load_emulators(state_dir: str, endpoint: str) -> tuple[dict, dict]:
    from pathlib import Path

    from helpers.localcloud.emulators import athena, eks, emr, glue, iam_simulator, logs_queries, moto_fixes, sample_api
    from helpers.localcloud.emulators.lambda_runner import LambdaRunner
    from helpers.localcloud.emulators.lineage_receiver import PREFIX, LineageReceiver
    from helpers.localcloud.emulators.mwaa import MwaaEmulator

    moto_fixes.apply()
    iam_simulator.apply()
    logs_queries.apply()
    glue.apply(endpoint, Path(state_dir) / "glue")
    athena.apply(Path(state_dir) / "athena")
    emr.apply(endpoint, Path(state_dir) / "emr")
    eks.start(state_dir, endpoint)
    mwaa = MwaaEmulator(state_dir, endpoint)
    work = Path(state_dir) / "lambda"
    work.mkdir(parents=True, exist_ok=True)
    runner = LambdaRunner(endpoint, work)
    lineage = LineageReceiver(Path(state_dir) / "lineage")
    return {"airflow": mwaa, "lambda": runner}, {"/aws_mwaa/": mwaa, "/_workbook/mwaa/": mwaa,
                                                 "/_workbook/lambda/": runner, PREFIX: lineage,
                                                 sample_api.PREFIX: sample_api.SampleApi()}


def wrap_gateway(app, state_dir: str):
    """The gateway behind web-identity federation and the enforcement of its sessions' permissions."""
    from helpers.localcloud.emulators import iam_enforcement

    return iam_enforcement.wrap(app, state_dir)
