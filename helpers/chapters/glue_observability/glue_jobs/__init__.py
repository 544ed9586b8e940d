"""Glue job scripts of notebook 07, uploaded to S3 by the notebook (run by Glue, or by the local cloud's Glue runner)."""

from pathlib import Path

FOLDER = Path(__file__).parent
CLOUDTRAIL_AGGREGATION = FOLDER / "cloudtrail_aggregation.py"
RAW_TO_TRANSFORM = FOLDER / "raw_to_transform.py"
