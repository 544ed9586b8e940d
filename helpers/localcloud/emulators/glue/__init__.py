"""Glue job runs and crawls that do their work (emulated), wired into moto's Glue in the gateway process.

moto keeps Glue's control plane (jobs, runs, crawlers, the Data Catalog) but fakes the work. `apply()` patches
it so that:

- StartJobRun runs the job's Python shell script (`jobs.py`) in a background thread; the run's state, times,
  ErrorMessage and LogGroupName are the real ones, not moto's canned values.
- StartCrawler crawls the crawler's S3 targets (`crawlers.py`) and creates or updates tables and partitions
  in the Data Catalog through the Glue API; the crawl's log goes to /aws-glue/crawlers, stream = crawler name.
  The last crawl's Status is SUCCEEDED or FAILED, as on AWS (moto says COMPLETED).
- GetCrawlerMetrics (missing in moto, called by the provider's non-deferrable crawler operator) answers with
  the crawler's real numbers.

moto's own state machines for these models are switched to manual so they never advance by themselves.
"""

from __future__ import annotations

import statistics
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from helpers.localcloud.emulators import local_aws
from helpers.localcloud.emulators.glue import crawlers, jobs

CRAWLER_LOG_GROUP = "/aws-glue/crawlers"
# Real crawls take a minute or more. An instant one lets a deferred crawler task resume before the scheduler has
# processed the task's own deferral, a race (Airflow marks the task failed) that real crawls never run into.
MIN_CRAWL_SECONDS = 5.0
_STATE: dict = {}


def _client(service: str, region: str):
    return local_aws.client(_STATE["endpoint"], service, region)


def _log(region: str, group: str, stream: str, lines: list[str]) -> None:
    local_aws.write_log(_STATE["endpoint"], region, group, stream, lines)


# --- job runs ------------------------------------------------------------------------------------------------

def _run_job(region: str, job, run) -> None:
    command = job.command or {}
    run.status = "RUNNING"
    run.modified_on = datetime.now(UTC)
    group = jobs.log_group(command.get("Name", "glueetl"))
    try:
        if command.get("Name") != "pythonshell":
            outcome = jobs.RunOutcome("FAILED", f"The workbook's local Glue runs Python shell jobs only, not {command.get('Name')!r} "
                                                "(emulated Glue)", 0.0, [], [])
        else:
            bucket, _, key = command["ScriptLocation"].removeprefix("s3://").partition("/")
            folder = Path(_STATE["work_dir"]) / run.job_run_id
            folder.mkdir(parents=True, exist_ok=True)
            script = folder / Path(key).name
            script.write_bytes(_client("s3", region).get_object(Bucket=bucket, Key=key)["Body"].read())
            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "AWS_ENDPOINT_URL": _STATE["endpoint"],
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": region,
                   "AWS_REGION": region, "MPLBACKEND": "Agg"}
            outcome = jobs.run_script(script, job.name, run.job_run_id, command["ScriptLocation"], run.arguments or {}, env,
                                      run.timeout)
    except Exception as exc:  # the script could not even be fetched: the run fails, as on Glue
        outcome = jobs.RunOutcome("FAILED", f"{type(exc).__name__}: {exc}"[:1000], 0.0, [], [])
    try:
        _log(region, f"{group}/output", run.job_run_id, outcome.stdout)
        _log(region, f"{group}/error", run.job_run_id, outcome.stderr)
    finally:
        run.workbook_error = outcome.error
        run.workbook_seconds = outcome.seconds
        run.workbook_log_group = group
        run.completed_on = datetime.now(UTC)
        run.modified_on = run.completed_on
        run.status = outcome.state


def _job_run_as_dict(original):
    def as_dict(self) -> dict:
        data = original(self)
        finished = self.status in ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR")
        data["ExecutionTime"] = int(getattr(self, "workbook_seconds", 0) or 0)
        data["LogGroupName"] = getattr(self, "workbook_log_group", "/aws-glue/python-jobs")
        if not finished:
            data.pop("CompletedOn", None)
        if getattr(self, "workbook_error", None):
            data["ErrorMessage"] = self.workbook_error
        return data

    return as_dict


# --- crawls --------------------------------------------------------------------------------------------------

def _crawl(region: str, crawler, crawl) -> None:
    started = time.monotonic()
    lines = [f"[{crawl.crawl_id}] BENCHMARK : Running Start Crawl for Crawler {crawler.name} (emulated by the workbook)"]
    created = updated = 0
    try:
        glue, s3 = _client("glue", region), _client("s3", region)
        try:
            glue.create_database(DatabaseInput={"Name": crawler.database_name})
            lines.append(f"[{crawl.crawl_id}] INFO : Created database {crawler.database_name}")
        except glue.exceptions.AlreadyExistsException:
            pass
        for target in (crawler.targets or {}).get("S3Targets", []):
            plans = crawlers.plan_tables(target["Path"], _samples(s3, target), crawler.table_prefix or "")
            for plan in plans:
                table_input = plan.table_input(crawler.name)
                try:
                    glue.create_table(DatabaseName=crawler.database_name, TableInput=table_input)
                    created += 1
                    verb = "Created table"
                except glue.exceptions.AlreadyExistsException:
                    glue.update_table(DatabaseName=crawler.database_name, TableInput=table_input)
                    updated += 1
                    verb = "Updated table"
                lines.append(f"[{crawl.crawl_id}] INFO : {verb} {plan.name} in database {crawler.database_name} "
                             f"({len(plan.columns)} columns, {plan.files} files, {len(plan.partitions)} partitions)")
                _add_partitions(glue, crawler.database_name, plan, table_input["StorageDescriptor"])
        crawl.workbook_status = "SUCCEEDED"
    except Exception as exc:
        crawl.workbook_status = "FAILED"
        crawl.workbook_error = f"{type(exc).__name__}: {exc}"[:1000]
        lines.append(f"[{crawl.crawl_id}] ERROR : {crawl.workbook_error}")
    time.sleep(max(0.0, MIN_CRAWL_SECONDS - (time.monotonic() - started)))
    seconds = time.monotonic() - started
    lines.append(f"[{crawl.crawl_id}] BENCHMARK : Crawler has finished running and is in state READY")
    try:
        _log(region, CRAWLER_LOG_GROUP, crawler.name, lines)
    finally:
        with _STATE["lock"]:
            history = _STATE["metrics"].setdefault((region, crawler.name), [])
            history.append({"seconds": seconds, "created": created, "updated": updated})
        crawl.end_time = datetime.now(UTC)
        crawl.status = "COMPLETED"  # moto's word for a finished crawl; the API answers with workbook_status


def _samples(s3, target: dict) -> dict[str, tuple[str, dict, int]]:
    import fnmatch

    bucket, _, prefix = target["Path"].removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    samples = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix):]
            if obj["Key"].endswith("/") or any(fnmatch.fnmatch(relative, pattern) for pattern in target.get("Exclusions", [])):
                continue
            head = s3.get_object(Bucket=bucket, Key=obj["Key"], Range="bytes=0-1023")["Body"].read()
            classification = crawlers.classify(obj["Key"], head)
            if classification is None:
                continue  # Glue skips what no classifier recognises
            ranged = {} if classification == "parquet" else {"Range": f"bytes=0-{crawlers.SAMPLE_BYTES - 1}"}
            body = s3.get_object(Bucket=bucket, Key=obj["Key"], **ranged)["Body"].read()
            if ranged and len(body) == crawlers.SAMPLE_BYTES:
                body = body.rsplit(b"\n", 1)[0]  # a cut-off last line is not a record
            columns, records = crawlers.sample_schema(classification, body)
            samples[f"s3://{bucket}/{obj['Key']}"] = (classification, columns, records)
    return samples


def _add_partitions(glue, database: str, plan: crawlers.TablePlan, storage: dict) -> None:
    if not plan.partitions:
        return
    existing = {tuple(p["Values"]) for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=plan.name)
                for p in page["Partitions"]}
    new = [{"Values": list(values), "StorageDescriptor": {**storage, "Location": location}}
           for values, location in sorted(plan.partitions.items()) if values not in existing]
    for start in range(0, len(new), 100):
        glue.batch_create_partition(DatabaseName=database, TableName=plan.name, PartitionInputList=new[start:start + 100])


def _crawler_as_dict(original):
    def as_dict(self) -> dict:
        data = original(self)
        if self.crawls and "LastCrawl" in data and self.crawls[-1].status == "COMPLETED":
            last = self.crawls[-1]
            data["LastCrawl"]["Status"] = getattr(last, "workbook_status", "SUCCEEDED")
            if getattr(last, "workbook_error", None):
                data["LastCrawl"]["ErrorMessage"] = last.workbook_error
        with _STATE["lock"]:
            history = _STATE["metrics"].get((self.backend.region_name, self.name), [])
        if history:
            data["CrawlElapsedTime"] = 0 if self.status == "READY" else int(1000 * history[-1]["seconds"])
        return data

    return as_dict


def crawler_metrics(region: str, name: str) -> dict:
    with _STATE["lock"]:
        history = list(_STATE["metrics"].get((region, name), []))
    last = history[-1] if history else {"seconds": 0.0, "created": 0, "updated": 0}
    return {"CrawlerName": name, "TimeLeftSeconds": 0.0, "StillEstimating": False,
            "LastRuntimeSeconds": round(last["seconds"], 3),
            "MedianRuntimeSeconds": round(statistics.median(h["seconds"] for h in history), 3) if history else 0.0,
            "TablesCreated": last["created"], "TablesUpdated": last["updated"], "TablesDeleted": 0}


# --- wiring ----------------------------------------------------------------------------------------------------

def apply(endpoint: str, work_dir: Path) -> None:
    from moto.core.responses import ActionResult
    from moto.glue.models import FakeCrawler, FakeJobRun, GlueBackend
    from moto.glue.responses import GlueResponse
    from moto.moto_api import state_manager

    _STATE.update(endpoint=endpoint, work_dir=str(work_dir.resolve()), lock=threading.Lock(), metrics=_STATE.get("metrics", {}))
    work_dir.mkdir(parents=True, exist_ok=True)
    if getattr(GlueBackend, "_workbook_glue", False):
        return
    never = {"progression": "manual", "times": 1 << 62}
    state_manager.set_transition(model_name="glue::job_run", transition=never)
    state_manager.set_transition(model_name="glue::crawl", transition=never)

    start_job_run, start_crawler = GlueBackend.start_job_run, GlueBackend.start_crawler

    def start_job_run_and_run(self, name, *args, **kwargs):
        run_id = start_job_run(self, name, *args, **kwargs)
        job = self.get_job(name)
        run = next(r for r in job.job_runs if r.job_run_id == run_id)
        threading.Thread(target=_run_job, args=(self.region_name, job, run), name=f"glue-{run_id[:12]}", daemon=True).start()
        return run_id

    def start_crawler_and_crawl(self, name):
        start_crawler(self, name)
        crawler = self.get_crawler(name)
        threading.Thread(target=_crawl, args=(self.region_name, crawler, crawler.crawls[-1]), name=f"crawl-{name}",
                         daemon=True).start()

    def get_crawler_metrics(self):
        names = self._get_param("CrawlerNameList") or [c.name for c in self.glue_backend.get_crawlers()]
        return ActionResult({"CrawlerMetricsList": [crawler_metrics(self.region, n) for n in names]})

    GlueBackend.start_job_run = start_job_run_and_run
    GlueBackend.start_crawler = start_crawler_and_crawl
    FakeJobRun.as_dict = _job_run_as_dict(FakeJobRun.as_dict)
    FakeCrawler.as_dict = _crawler_as_dict(FakeCrawler.as_dict)
    GlueResponse.get_crawler_metrics = get_crawler_metrics
    GlueBackend._workbook_glue = True
