"""Generators of the sample data in sample_data/ (`python -m helpers.samples.<name>` rewrites it)."""
