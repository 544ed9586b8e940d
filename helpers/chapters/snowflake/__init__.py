"""Notebook 05: `scenario` (the DAGs' resources, data and results), `account` (the Snowflake connection and its secret)."""
