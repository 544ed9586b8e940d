"""Notebook 08, automated data lineage with OpenLineage: `events` (OpenLineage run events read from the file transport's
JSON lines or an HTTP receiver, folded into runs), `graph` (the dataset/job graph and the column graph built from the
runs, what feeds a table and what breaks if a column changes, the figure)."""
