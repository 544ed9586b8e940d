"""An environment's plugins.zip (`PluginsS3Path`, `PluginsS3ObjectVersion` honoured), unpacked into its own plugins
folder before Airflow starts.

On MWAA the zip is unpacked into `$AIRFLOW_HOME/plugins` (/usr/local/airflow/plugins) outside the image (the image
only mounts that folder: docker-compose.yaml), and Airflow loads it from there: a plugin that fails to import is
listed as a plugin import error (`GET /api/v2/plugins/importErrors`, the UI's Plugins page) and nothing crashes.
Locally the folder is `<environment home>/plugins`, `[core] plugins_folder` points at it, and it also holds a copy of
the local MWAA's own plugins (airflow_plugins/: the UI sign-in route, which MWAA serves from its image, not from the
customer's plugins), copied after the zip so a customer file of the same name cannot replace it.

The image publishes no log of the zip's contents (it never sees the zip). Locally the listing is written to the
scheduler's log group, when SchedulerLogs are enabled, in a stream named like the image's own startup streams
(`plugins_<hostname>_<epoch>.log`): emulated, to show what was installed.
"""

from __future__ import annotations

import io
import shutil
import socket
import time
import zipfile
from pathlib import Path

FOLDER = "plugins"  # under the environment's home
LOG_MODULE = "SchedulerLogs"


class PluginsZipInvalid(Exception):
    pass


def fetch(s3, bucket: str, key: str, version: str | None) -> bytes:
    extra = {"VersionId": version} if version else {}
    return s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()


def install(data: bytes, folder: Path, own: Path) -> list[str]:
    """Unpack the zip `data` into a fresh `folder`, then copy the files of `own` (the local MWAA's plugins) next to
    its contents. Returns the zip's file names."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
            archive.extractall(folder)  # strips absolute paths and "..", so nothing lands outside `folder`
    except zipfile.BadZipFile as exc:
        raise PluginsZipInvalid(f"plugins.zip is not a valid zip file ({exc}).") from None
    for path in own.iterdir():
        if path.is_file() and path.suffix == ".py":
            shutil.copy2(path, folder / path.name)
    return names


def listing(names: list[str], key: str, version: str | None) -> list[tuple[float, str]]:
    """The log lines that say what was installed."""
    at = time.time()
    source = f"{key} (version {version})" if version else key
    lines = [f"[INFO] - Installed plugins from {source}: {len(names)} file(s)"]
    lines += [f"[INFO] - {name}" for name in sorted(names)]
    return [(at, line) for line in lines]


def stream_name(hostname: str | None = None, epoch: float | None = None) -> str:
    return f"plugins_{hostname or socket.gethostname()}_{time.time() if epoch is None else epoch}.log"
