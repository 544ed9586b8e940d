"""Runs one DAG with `dag.test()` and writes its results as JSON. Invoked in a subprocess by `helpers.dagtools.airflow_local`.

A subprocess keeps Airflow's log flood and its process-wide state out of the notebook kernel.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _jsonable(value):
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def _state(state) -> str | None:
    return None if state is None else str(getattr(state, "value", state))


def collect(dag_run) -> dict:
    from airflow.models import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_run.dag_id,
                                                 TaskInstance.run_id == dag_run.run_id).all()
        tasks = [{"task": ti.task_id, "map_index": ti.map_index, "state": _state(ti.state),
                  "start": ti.start_date.isoformat() if ti.start_date else None,
                  "end": ti.end_date.isoformat() if ti.end_date else None,
                  "seconds": ti.duration, "try": ti.try_number, "operator": ti.operator} for ti in tis]
        xcoms = [{"task": x.task_id, "key": x.key, "map_index": x.map_index, "value": _jsonable(XComModel.deserialize_value(x))}
                 for x in session.query(XComModel).filter(XComModel.dag_id == dag_run.dag_id,
                                                          XComModel.run_id == dag_run.run_id)]
    return {"dag_id": dag_run.dag_id, "run_id": dag_run.run_id, "state": _state(dag_run.state), "tasks": tasks, "xcoms": xcoms}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", required=True)
    parser.add_argument("--dag-id")
    parser.add_argument("--conf", default="{}")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = Path(args.out)

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=args.file)
    if bag.import_errors:
        out.write_text(json.dumps({"error": "import", "detail": {Path(k).name: v for k, v in bag.import_errors.items()}}))
        return 1
    dag_id = args.dag_id or (next(iter(bag.dags)) if len(bag.dags) == 1 else None)
    if dag_id not in bag.dags:
        out.write_text(json.dumps({"error": "dag", "detail": f"DAG {dag_id!r} not in {Path(args.file).name}; found {sorted(bag.dags)}"}))
        return 1
    dag_run = bag.dags[dag_id].test(run_conf=json.loads(args.conf))
    from helpers.dagtools.dag_figures import task_graph

    out.write_text(json.dumps({**collect(dag_run), "graph": task_graph(bag.dags[dag_id])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
