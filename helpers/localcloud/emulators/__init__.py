"""Emulations of what moto lacks, served by the local cloud's gateway. One place, each tested.

`load_emulators` maps an AWS signing name (the service part of a SigV4 credential scope)
to a WSGI app. Later issues add the MWAA control plane and workload runners here.
"""

from __future__ import annotations


def load_emulators(state_dir: str, endpoint: str) -> dict:
    return {}
