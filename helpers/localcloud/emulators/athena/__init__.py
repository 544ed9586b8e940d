"""Athena queries that run (emulated): StartQueryExecution, GetQueryExecution, BatchGetQueryExecution,
GetQueryResults and StopQueryExecution answered over the Glue Data Catalog and S3 of the local cloud; moto keeps the
rest of Athena (workgroups, named queries, data catalogs, ListQueryExecutions).

A query runs in a thread of the gateway process (`runner`): QUEUED, then RUNNING while `sql.translate` turns its Trino SQL
into DuckDB's, the catalog tables it reads are copied from moto's S3 (in-process, as `tables.layout` says which
files) into a scratch folder and defined as DuckDB views, and DuckDB runs it; then SUCCEEDED with the result CSV at
`<OutputLocation>/<QueryExecutionId>.csv` (the request's location, or the workgroup's), or FAILED with Athena's
`CODE: line L:C: message` as StateChangeReason and AthenaError. SELECT, and MSCK REPAIR TABLE (registers the
`key=value/` partitions found in S3); CTAS, INSERT and other DDL fail as NOT_SUPPORTED rather than pretend.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from helpers.localcloud.emulators.athena import results
from helpers.localcloud.emulators.athena.runner import STATE, Run, run_query


def output_location(requested: dict | None, workgroup: dict | None) -> str | None:
    """Where the result goes: the workgroup's location when it enforces its configuration, else the request's, else
    the workgroup's."""
    configuration = (workgroup or {}).get("Configuration") or {}
    own = (configuration.get("ResultConfiguration") or {}).get("OutputLocation")
    if configuration.get("EnforceWorkGroupConfiguration") and own:
        return own
    return (requested or {}).get("OutputLocation") or own


def query_execution(execution, run: Run) -> dict:
    status = {"State": run.state, "SubmissionDateTime": run.submitted}
    if run.completed is not None:
        status["CompletionDateTime"] = run.completed
    if run.reason:
        status["StateChangeReason"] = run.reason
    if run.state == "FAILED":
        status["AthenaError"] = {"ErrorCategory": 1 if run.error_type == 100 else 2, "ErrorType": run.error_type,
                                 "Retryable": False, "ErrorMessage": run.reason}
    end = run.completed or time.time()
    engine = int(1000 * (end - run.started)) if run.started else 0
    queued = int(1000 * ((run.started or end) - run.submitted))
    first = ((execution.query or "").lstrip(" (\n\t").split(None, 1) or [""])[0].upper()
    statement = "DML" if first in ("SELECT", "WITH", "VALUES", "INSERT", "UNLOAD") else "DDL"
    answer = {
        "QueryExecutionId": execution.id, "Query": execution.query, "StatementType": statement,
        "ResultConfiguration": execution.config or {},
        "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
        "QueryExecutionContext": execution.context or {}, "Status": status,
        "Statistics": {"EngineExecutionTimeInMillis": engine, "DataScannedInBytes": run.scanned,
                       "TotalExecutionTimeInMillis": engine + queued, "QueryQueueTimeInMillis": queued,
                       "ServicePreProcessingTimeInMillis": 0, "QueryPlanningTimeInMillis": 0,
                       "ServiceProcessingTimeInMillis": 0,
                       "ResultReuseInformation": {"ReusedPreviousResult": False}},
        "WorkGroup": execution.workgroup.name if execution.workgroup else "primary",
        "EngineVersion": {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"},
    }
    if statement == "DML":
        answer["SubstatementType"] = "INSERT" if first == "INSERT" else "SELECT"
    if execution.execution_parameters:
        answer["ExecutionParameters"] = execution.execution_parameters
    return answer


def apply(work_dir: Path) -> None:
    """Answer moto's StartQueryExecution, GetQueryExecution, GetQueryResults and StopQueryExecution by running the
    queries (gateway process only)."""
    from moto.athena.responses import AthenaResponse
    from moto.core.exceptions import JsonRESTError

    STATE["work_dir"] = str(work_dir.resolve())
    work_dir.mkdir(parents=True, exist_ok=True)
    if getattr(AthenaResponse, "_workbook_athena", False):
        return

    def invalid(message: str) -> JsonRESTError:
        return JsonRESTError("InvalidRequestException", message)

    def found(self, query_id: str):
        execution = self.athena_backend.executions.get(query_id or "")
        if execution is None or not hasattr(execution, "workbook_run"):
            raise invalid(f"QueryExecution {query_id} was not found")
        return execution

    def start_query_execution(self) -> str:
        backend = self.athena_backend
        name = self._get_param("WorkGroup") or "primary"
        workgroup = backend.get_work_group(name)
        if workgroup is None:
            raise invalid(f"WorkGroup {name} is not found.")
        location = output_location(self._get_param("ResultConfiguration"), workgroup)
        if not location:
            raise invalid("No output location provided. An output location is required either through the Workgroup "
                          "result configuration setting or as an API input.")
        config = {**(self._get_param("ResultConfiguration") or {}), "OutputLocation": location}
        query_id = backend.start_query_execution(query=self._get_param("QueryString"),
                                                 context=self._get_param("QueryExecutionContext"), config=config,
                                                 workgroup=name,
                                                 execution_parameters=self._get_param("ExecutionParameters"))
        execution = backend.executions[query_id]
        execution.workbook_run = run = Run()
        threading.Thread(target=run_query, args=(self.current_account, self.region, execution, run),
                         name=f"athena-{query_id[:8]}", daemon=True).start()
        return json.dumps({"QueryExecutionId": query_id})

    def get_query_execution(self) -> str:
        execution = found(self, self._get_param("QueryExecutionId"))
        return json.dumps({"QueryExecution": query_execution(execution, execution.workbook_run)})

    def batch_get_query_execution(self) -> str:
        executions, unprocessed = [], []
        for query_id in self._get_param("QueryExecutionIds") or []:
            execution = self.athena_backend.executions.get(query_id)
            if execution is None or not hasattr(execution, "workbook_run"):
                unprocessed.append({"QueryExecutionId": query_id, "ErrorCode": "INVALID_INPUT",
                                    "ErrorMessage": f"QueryExecution {query_id} was not found"})
            else:
                executions.append(query_execution(execution, execution.workbook_run))
        return json.dumps({"QueryExecutions": executions, "UnprocessedQueryExecutionIds": unprocessed})

    def get_query_results(self) -> str:
        execution = found(self, self._get_param("QueryExecutionId"))
        run: Run = execution.workbook_run
        if run.state == "FAILED":
            raise invalid(run.reason or "Query failed")
        if run.state != "SUCCEEDED" or run.result is None:
            raise invalid(f"Query has not yet finished. Current state: {run.state}")
        max_results = self._get_int_param("MaxResults")
        if max_results is not None and not 1 <= max_results <= results.MAX_RESULTS:
            raise invalid(f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy "
                          f"constraint: Member must have value less than or equal to {results.MAX_RESULTS}")
        try:
            return json.dumps(run.result.page(self._get_param("NextToken"), max_results))
        except ValueError:
            raise invalid("Invalid NextToken") from None

    def stop_query_execution(self) -> str:
        execution = found(self, self._get_param("QueryExecutionId"))
        run: Run = execution.workbook_run
        if run.finish("CANCELLED", "Query cancelled by user"):
            connection = run.connection
            if connection is not None:
                connection.interrupt()
        return "{}"

    AthenaResponse.start_query_execution = start_query_execution
    AthenaResponse.get_query_execution = get_query_execution
    AthenaResponse.batch_get_query_execution = batch_get_query_execution
    AthenaResponse.get_query_results = get_query_results
    AthenaResponse.stop_query_execution = stop_query_execution
    AthenaResponse._workbook_athena = True
