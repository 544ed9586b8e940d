"""Not rfc3987-syntax: the local MWAA's Airflow processes find this first on their PYTHONPATH (see runtime.py).

MWAA's image does not install rfc3987-syntax (requirements/mwaa-3.3.1/mwaa_image_installed.txt); the workbook's
environment has it for JupyterLab (jupyter-events asks for jsonschema's format extras). jsonschema imports it when
present, and it compiles a grammar on import: 3 s of CPU in every Airflow process, 12 s per environment start on two
cores. Raising ImportError here is what jsonschema sees on MWAA: it skips the IRI syntax format check.
"""

raise ImportError("rfc3987_syntax is not installed in MWAA's image")
