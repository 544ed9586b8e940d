"""Where the local Snowflake's CA bundle lives, and the environment that makes a process trust it.

Server-safe (no client-side imports): the MWAA emulator's Airflow processes need it as much as the client does.
"""

from __future__ import annotations

from pathlib import Path


def folder(localcloud_dir: Path) -> Path:
    """Where the certificate, its key and the CA bundle live (under the local cloud's state)."""
    return localcloud_dir / "snowflake"


def ca_bundle(localcloud_dir: Path) -> Path:
    return folder(localcloud_dir) / "ca-bundle.pem"


def trust_env(localcloud_dir: Path) -> dict[str, str]:
    """Environment for processes that must reach the local Snowflake over TLS (e.g. local MWAA's Airflow).
    Empty until the local Snowflake has made its certificate."""
    bundle = ca_bundle(localcloud_dir)
    return {"REQUESTS_CA_BUNDLE": str(bundle), "SSL_CERT_FILE": str(bundle)} if bundle.exists() else {}
