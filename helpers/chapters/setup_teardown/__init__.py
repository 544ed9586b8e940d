"""Notebook 04: `secrets_cache` (the Secrets Manager backend, and what Airflow's secrets cache saves)."""
