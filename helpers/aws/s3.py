"""S3 the MWAA way: an environment's source bucket with versioning, public access blocked and a `dags/` prefix."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions

from helpers.aws import cloud
from helpers.aws.tags import tag_list
from helpers.paths import DAGS_DIR


def create_bucket(name: str, notebook: str, versioned: bool = False) -> str:
    """Create (or reuse) a private bucket tagged for `notebook`. Returns its ARN."""
    s3 = cloud.client("s3")
    region = cloud.settings().region
    try:
        kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **kwargs)
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(notebook)})
    return f"arn:aws:s3:::{name}"


def create_environment_bucket(name: str, notebook: str) -> str:
    """Create (or reuse) a bucket as MWAA requires it (versioned, with `dags/`). Returns its ARN, the SourceBucketArn."""
    arn = create_bucket(name, notebook, versioned=True)
    cloud.client("s3").put_object(Bucket=name, Key="dags/")
    return arn


def upload_dag(bucket: str, dag_file: str, prefix: str = "dags/") -> str:
    """Upload a DAG file from the repo's dags/ folder; returns its key."""
    key = f"{prefix}{Path(dag_file).name}"
    cloud.client("s3").upload_file(str(DAGS_DIR / dag_file), bucket, key)
    return key


def upload_file(path: Path | str, bucket: str, key: str) -> str:
    """Upload any file of the repo (sample data, a script) to a key; returns the key."""
    cloud.client("s3").upload_file(str(path), bucket, key)
    return key


def delete_prefix(bucket: str, prefix: str) -> int:
    """Delete every object version under a prefix; returns how many were deleted."""
    s3 = cloud.client("s3")
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
            deleted += len(doomed)
    return deleted


def bucket_names(prefix: str) -> list[str]:
    """Buckets whose names start with `prefix`."""
    return sorted(b["Name"] for b in cloud.client("s3").list_buckets()["Buckets"] if b["Name"].startswith(prefix))


def list_keys(bucket: str, prefix: str = "") -> list[str]:
    keys = []
    for page in cloud.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return keys


def delete_bucket(name: str) -> bool:
    """Delete a versioned bucket with every object version and delete marker. False if it did not exist."""
    try:
        delete_prefix(name, "")
        cloud.client("s3").delete_bucket(Bucket=name)
        return True
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchBucket":
            return False
        raise
