"""Notebook 10, operating an environment: requirements.txt, plugins.zip, startup scripts, checks before an upgrade,
and the in-place upgrade itself (`scenario`)."""
