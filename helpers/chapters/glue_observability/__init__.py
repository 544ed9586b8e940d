"""Notebook 07: Glue orchestration and observability across services with a correlation id."""
