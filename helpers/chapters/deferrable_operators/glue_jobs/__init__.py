"""Glue job scripts the notebooks upload to S3 and run (on Glue, or on the local cloud's Glue runner)."""

from pathlib import Path

FOLDER = Path(__file__).parent
DENORMALIZE_LEGISLATORS = FOLDER / "denormalize_legislators.py"
