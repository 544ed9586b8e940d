"""Emulations of what moto lacks, served by the local cloud's gateway. One place, each tested.

`load_emulators` returns two routing tables for the gateway: AWS signing name (the service part of a
SigV4 credential scope) -> WSGI app, and unsigned path prefix -> WSGI app (e.g. MWAA's CLI endpoint).

- `mwaa`: the MWAA control plane over real Airflow 3 processes (signing name `airflow`).
"""

from __future__ import annotations


def load_emulators(state_dir: str, endpoint: str) -> tuple[dict, dict]:
    from helpers.localcloud.emulators.mwaa import MwaaEmulator

    mwaa = MwaaEmulator(state_dir, endpoint)
    return {"airflow": mwaa}, {"/aws_mwaa/": mwaa, "/_workbook/mwaa/": mwaa}
