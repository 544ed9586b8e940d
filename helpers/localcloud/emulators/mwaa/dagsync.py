"""DAGs come from S3 as on MWAA: the environment's DagS3Path is mirrored into its dags folder.

Polls the bucket twice a second; files land atomically (write, then rename), so the DAG processor never
parses half a file. Deleting a DAG file in S3 deletes it locally, and Airflow marks its DAGs stale.
"""

from __future__ import annotations

import threading
from pathlib import Path


class DagSync:
    def __init__(self, s3, bucket: str, prefix: str, folder: Path, interval: float = 0.5):
        self.s3, self.bucket, self.folder, self.interval = s3, bucket, folder, interval
        self.prefix = prefix.strip("/") + "/"
        self.etags: dict[str, str] = {}
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"dagsync-{folder.parent.name}", daemon=True)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sync_once()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync_once()
                self.error = None
            except Exception as exc:  # a missing bucket must not kill the environment; it shows in the state
                self.error = str(exc)

    def sync_once(self) -> None:
        seen: dict[str, str] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(self.prefix):]
                if rel and not rel.endswith("/") and ".." not in Path(rel).parts:
                    seen[rel] = obj["ETag"]
        for rel, etag in seen.items():
            if self.etags.get(rel) != etag:
                target = self.folder / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".{target.name}.partial")
                self.s3.download_file(self.bucket, self.prefix + rel, str(partial))
                partial.replace(target)
        for rel in set(self.etags) - set(seen):
            (self.folder / rel).unlink(missing_ok=True)
        self.etags = seen
