"""Airflow on this machine, beside the local cloud: `airflow_local` runs a DAG with `dag.test()` (in `dag_test_runner`'s
subprocess), `dag_figures` shows a DAG's source with marked lines and its graph, `dag_checks` flags parse-time lookups."""
