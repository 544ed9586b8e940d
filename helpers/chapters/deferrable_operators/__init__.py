"""Notebook 03: `deferral` (classic vs deferrable sensors), `glue` (the Glue pipeline), `glue_jobs` (its job scripts)."""
