"""Workbook settings: which target (local or aws), region, profile and opt-ins.

Read from the environment first, then from an optional `workbook.toml` at the repo root, e.g.::

    target = "aws"
    region = "eu-west-1"
    profile = "workshop"
    allow_billable = false        # must be true before MWAA, EKS or Glue resources are created on AWS
    mwaa_environment = "my-env"   # an existing environment to use on AWS instead of creating one
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cache

from helpers.errors import WorkbookError
from helpers.paths import REPO_ROOT

TARGETS = ("local", "aws")
DEFAULT_REGION = "us-east-1"
CONFIG_FILE = REPO_ROOT / "workbook.toml"


@dataclass(frozen=True)
class Settings:
    target: str
    region: str
    profile: str | None
    allow_billable: bool
    mwaa_environment: str | None

    @property
    def is_local(self) -> bool:
        return self.target == "local"


def _file_settings() -> dict:
    if not CONFIG_FILE.exists():
        return {}
    try:
        return tomllib.loads(CONFIG_FILE.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise WorkbookError(f"workbook.toml is not valid TOML ({exc}); fix or delete it.") from None


def _truthy(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@cache
def _valid_regions() -> frozenset[str]:
    import boto3

    session = boto3.Session()
    return frozenset(
        r for partition in session.get_available_partitions() for r in session.get_available_regions("s3", partition)
    )


def settings() -> Settings:
    file = _file_settings()

    def pick(env: str, key: str, default=None):
        return os.environ.get(env) or file.get(key) or default

    target = str(pick("WORKBOOK_TARGET", "target", "local")).strip().lower()
    if target not in TARGETS:
        raise WorkbookError(f"WORKBOOK_TARGET must be 'local' or 'aws', not {target!r}: set it in the environment or workbook.toml.")
    region = str(pick("WORKBOOK_REGION", "region", None) or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)
    if region not in _valid_regions():
        raise WorkbookError(f"Unknown AWS region {region!r}: set WORKBOOK_REGION to a region such as us-east-1.")
    return Settings(
        target=target,
        region=region,
        profile=pick("WORKBOOK_AWS_PROFILE", "profile", None) or os.environ.get("AWS_PROFILE"),
        allow_billable=_truthy(pick("WORKBOOK_ALLOW_BILLABLE", "allow_billable", False)),
        mwaa_environment=pick("WORKBOOK_MWAA_ENVIRONMENT", "mwaa_environment", None),
    )
