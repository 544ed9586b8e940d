"""EMR step scripts of notebook 07, uploaded to S3 by the notebook and submitted with spark-submit."""

from pathlib import Path

FOLDER = Path(__file__).parent
ERROR_REPORT = FOLDER / "error_report.py"
