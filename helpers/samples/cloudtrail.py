"""Generated CloudTrail logs, in the shape CloudTrail delivers them to S3.

Each file is gzipped JSON, one object `{"Records": [event, ...]}`, with the fields of CloudTrail's record
contents (eventVersion, userIdentity, eventTime, eventSource, eventName, awsRegion, sourceIPAddress, userAgent,
errorCode, errorMessage, requestParameters, responseElements, requestID, eventID, readOnly, resources, eventType,
recipientAccountId ...). Files land under `<prefix>/region=<region>/snapshot_date=<YYYY-MM-DD>/` (the partitions
of the post's table; CloudTrail's own layout is `AWSLogs/<account>/CloudTrail/<region>/<YYYY>/<MM>/<DD>/`) and are
named as CloudTrail names them.

The events of a day depend only on the region and on how many days before the run day it is (`days_ago`), not on
the date, so counts and aggregates are the same whenever the notebook runs.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

REGIONS = ("us-east-1", "us-east-2", "eu-west-1")
# (eventSource, eventName, readOnly, weight): what a small data platform's account sees most
CALLS = [
    ("s3.amazonaws.com", "GetObject", True, 30), ("s3.amazonaws.com", "PutObject", False, 12),
    ("s3.amazonaws.com", "ListObjects", True, 10), ("glue.amazonaws.com", "GetTable", True, 8),
    ("glue.amazonaws.com", "StartJobRun", False, 3), ("athena.amazonaws.com", "StartQueryExecution", False, 4),
    ("sts.amazonaws.com", "AssumeRole", True, 9), ("ec2.amazonaws.com", "DescribeInstances", True, 6),
    ("iam.amazonaws.com", "GetRole", True, 3), ("airflow.amazonaws.com", "CreateWebLoginToken", False, 2),
    ("kms.amazonaws.com", "Decrypt", True, 7), ("logs.amazonaws.com", "PutLogEvents", False, 5),
]
AGENTS = {"console": "AWS Internal", "cli": "aws-cli/2.22.5 md/awscrt#0.22.0 ua/2.0 os/linux#6.1 lang/python#3.12.6",
          "boto3": "Boto3/1.38.0 md/Botocore#1.38.0 ua/2.1 os/linux#6.1 lang/python#3.12.10",
          "airflow": "Boto3/1.38.0 md/Botocore#1.38.0 ua/2.1 os/linux#6.1 lang/python#3.12.10 exec-env/AmazonMWAA"}


@dataclass(frozen=True)
class Principal:
    kind: str  # IAMUser | AssumedRole
    name: str
    agent: str


PRINCIPALS = [Principal("AssumedRole", "mwaa-execution-role", "airflow"), Principal("AssumedRole", "glue-etl-role", "boto3"),
              Principal("IAMUser", "data-engineer", "cli"), Principal("IAMUser", "analyst", "console"),
              Principal("AssumedRole", "ci-deploy", "boto3")]
PRINCIPAL_WEIGHTS = [35, 25, 20, 12, 8]


def _identity(principal: Principal, account: str, rng: random.Random) -> dict:
    key = "AKIA" if principal.kind == "IAMUser" else "ASIA"
    identity = {"type": principal.kind, "principalId": f"AIDA{rng.getrandbits(64):016X}",
                "accountId": account, "accessKeyId": f"{key}{rng.getrandbits(64):016X}"}
    if principal.kind == "IAMUser":
        return {**identity, "arn": f"arn:aws:iam::{account}:user/{principal.name}", "userName": principal.name}
    session = f"{principal.name}-session"
    return {**identity, "arn": f"arn:aws:sts::{account}:assumed-role/{principal.name}/{session}",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": identity["principalId"],
                                                 "arn": f"arn:aws:iam::{account}:role/{principal.name}",
                                                 "accountId": account, "userName": principal.name},
                               "attributes": {"creationDate": "", "mfaAuthenticated": "false"}}}


def events(region: str, day: date, days_ago: int, account: str, count: int = 160) -> list[dict]:
    """One day's events in one region, in time order."""
    rng = random.Random(f"{region}/{days_ago}")
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    seconds = sorted(rng.randrange(86_400) for _ in range(count))
    records = []
    for offset in seconds:
        source, name, read_only, _ = rng.choices(CALLS, weights=[c[3] for c in CALLS])[0]
        principal = rng.choices(PRINCIPALS, weights=PRINCIPAL_WEIGHTS)[0]
        when = start + timedelta(seconds=offset)
        identity = _identity(principal, account, rng)
        if "sessionContext" in identity:
            identity["sessionContext"]["attributes"]["creationDate"] = (when - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        denied = principal.name == "analyst" and not read_only or rng.random() < 0.03
        record = {
            "eventVersion": "1.09", "userIdentity": identity, "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source, "eventName": name, "awsRegion": region,
            "sourceIPAddress": "AWS Internal" if principal.agent == "console" else f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "userAgent": AGENTS[principal.agent],
            "requestParameters": _parameters(source, rng), "responseElements": None,
            "requestID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "eventID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "readOnly": read_only, "eventType": "AwsApiCall", "managementEvent": source != "s3.amazonaws.com",
            "recipientAccountId": account, "eventCategory": "Management" if source != "s3.amazonaws.com" else "Data",
        }
        if source == "s3.amazonaws.com":
            record["resources"] = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::datalake-raw/{rng.randrange(999)}.json"},
                                   {"accountId": account, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::datalake-raw"}]
        if denied:
            record["errorCode"] = "AccessDenied"
            record["errorMessage"] = (f"User: {identity['arn']} is not authorized to perform: "
                                      f"{source.split('.')[0]}:{name} because no identity-based policy allows it")
        records.append(record)
    return records


def _parameters(source: str, rng: random.Random) -> dict | None:
    if source == "s3.amazonaws.com":
        return {"bucketName": "datalake-raw", "key": f"{rng.randrange(999)}.json", "Host": "datalake-raw.s3.amazonaws.com"}
    if source == "glue.amazonaws.com":
        return {"databaseName": "cloudtrail", "name": "events"}
    return None


def files(region: str, day: date, records: list[dict], account: str, per_file: int = 40) -> dict[str, bytes]:
    """The day's records as CloudTrail log files: name -> gzipped `{"Records": [...]}`."""
    out = {}
    for start in range(0, len(records), per_file):
        chunk = records[start:start + per_file]
        stamp = chunk[-1]["eventTime"].replace("-", "").replace(":", "")[:13] + "Z"
        suffix = uuid.uuid5(uuid.NAMESPACE_URL, f"{region}/{day}/{start}").hex[:16]
        name = f"{account}_CloudTrail_{region}_{stamp}_{suffix}.json.gz"
        out[name] = gzip.compress(json.dumps({"Records": chunk}, separators=(",", ":")).encode(), mtime=0)
    return out


def days(today: date, how_many: int) -> list[tuple[int, date]]:
    """(days_ago, date) for the `how_many` days before `today`, yesterday first."""
    return [(n, today - timedelta(days=n)) for n in range(1, how_many + 1)]


def upload(s3_client, bucket: str, prefix: str, account: str, today: date, how_many: int = 2,
           regions: tuple[str, ...] = REGIONS) -> list[dict]:
    """Write `how_many` days of logs for each region under `prefix`; returns every record written (for checks)."""
    written = []
    for days_ago, day in days(today, how_many):
        for region in regions:
            records = events(region, day, days_ago, account)
            for name, body in files(region, day, records, account).items():
                s3_client.put_object(Bucket=bucket, Key=f"{prefix}/region={region}/snapshot_date={day}/{name}", Body=body)
            written += records
    return written
