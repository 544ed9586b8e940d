"""The MWAA workbook's helpers: everything the notebooks call.

Notebooks stay narrative; the logic they need lives in the small modules of this package, in layers. A layer imports
only the layers above it in this list (tests/unit/test_layout.py checks that, and that there is no import cycle):

    errors config paths progress procs versions   core: one-line errors, settings, where files go, progress bars,
                  processes, the MWAA version and packages the workbook pins
    localcloud/   the local cloud: up/down/status, and the servers it runs (gateway, emulators/, Snowflake); the
                  servers import only errors and paths
    aws/          the client side of AWS, the only layer that knows the target; aws/cloud.py makes every boto3 client
    samples/      generators of the data in sample_data/
    tooling/      the workbook's machinery: workbook.start, charts, headless runs, benchmark, lock
    dagtools/     Airflow on this machine: dag.test() runs, DAG figures, parse-time checks of DAG files
    chapters/     one package per notebook: shared_vpc (02), deferrable_operators (03), setup_teardown (04), snowflake (05),
                  eks_least_privilege (06), glue_observability (07), lineage (08), airflow3_features (09),
                  operations (10)
    testkit/      how `make test` runs the notebooks (lanes, comparison, budgets, the measured table)

Notebooks import modules by short name (`from helpers import mwaa, shared_vpc`): `MODULES` says where each lives, and
it is imported on first use, so `import helpers` stays cheap (the local cloud's servers import it too). The short
names are also the package's old flat layout, so `import helpers.mwaa`, `from helpers.lambda_functions import ...` and
`python -m helpers.runner` keep working; code in this repository imports the real paths.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

from helpers.errors import WorkbookError

__all__ = ["MODULES", "WorkbookError"]

MODULES = {
    # aws/
    "cloud": "helpers.aws.cloud",
    "s3": "helpers.aws.s3",
    "iam": "helpers.aws.iam",
    "network": "helpers.aws.network",
    "events": "helpers.aws.events",
    "stacks": "helpers.aws.stacks",
    "lambdas": "helpers.aws.lambdas",
    "tags": "helpers.aws.tags",
    "cleanup": "helpers.aws.cleanup",
    "mwaa": "helpers.aws.mwaa",
    # samples/
    "sample_citibike": "helpers.samples.citibike",
    "sample_legislators": "helpers.samples.legislators",
    "sample_cloudtrail": "helpers.samples.cloudtrail",
    # tooling/
    "workbook": "helpers.tooling.workbook",
    "charts": "helpers.tooling.charts",
    "runner": "helpers.tooling.runner",
    "notebooks": "helpers.tooling.notebooks",
    "benchmark": "helpers.tooling.benchmark",
    "lock": "helpers.tooling.lock",
    # dagtools/
    "airflow_local": "helpers.dagtools.airflow_local",
    "dag_test_runner": "helpers.dagtools.dag_test_runner",
    "dag_figures": "helpers.dagtools.dag_figures",
    "dag_checks": "helpers.dagtools.dag_checks",
    # chapters/
    "shared_vpc": "helpers.chapters.shared_vpc.scenario",
    "lambda_functions": "helpers.chapters.shared_vpc",  # the package holding notebook 02's Lambda function
    "deferral": "helpers.chapters.deferrable_operators.deferral",
    "glue": "helpers.chapters.deferrable_operators.glue",
    "glue_jobs": "helpers.chapters.deferrable_operators.glue_jobs",
    "secrets_cache": "helpers.chapters.setup_teardown.secrets_cache",
    "snowflake_scenario": "helpers.chapters.snowflake.scenario",
    "snowflake_account": "helpers.chapters.snowflake.account",
    "eks_scenario": "helpers.chapters.eks_least_privilege.scenario",
    "kube": "helpers.chapters.eks_least_privilege.kube",
    "pod_lifecycle": "helpers.chapters.eks_least_privilege.pod_lifecycle",
    "observability": "helpers.chapters.glue_observability.scenario",
    "lineage_events": "helpers.chapters.lineage.events",
    "lineage_graph": "helpers.chapters.lineage.graph",
    "lineage": "helpers.chapters.lineage.scenario",
    "features": "helpers.chapters.airflow3_features.scenario",
    "operations": "helpers.chapters.operations.scenario",
    "notifications": "helpers.chapters.airflow3_features.notifications",
    "sample_tickit": "helpers.samples.tickit",
}


def __getattr__(name: str):
    """`from helpers import mwaa`: the module `MODULES` names, imported now."""
    if name not in MODULES:
        raise AttributeError(f"module 'helpers' has no attribute {name!r}")
    return importlib.import_module(MODULES[name])


def __dir__() -> list[str]:
    return sorted({*globals(), *MODULES})


class _ShortNameLoader(importlib.abc.Loader):
    """Loads `helpers.<short name>[.rest]` as the module itself, not as a second copy (which would have its own state
    and defeat monkeypatching)."""

    def __init__(self, real: str, spec: importlib.machinery.ModuleSpec):
        self.real, self.real_spec = real, spec

    def create_module(self, spec):
        module = importlib.import_module(self.real)
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self.real_spec  # the import system has just set the short name's spec on it

    def get_code(self, fullname):  # what `python -m helpers.<short name>` runs
        return self.real_spec.loader.get_code(self.real)


class _ShortNameFinder(importlib.abc.MetaPathFinder):
    """Dotted imports of a short name (`import helpers.mwaa`, `from helpers.lambda_functions import ...`). First on
    `sys.meta_path`: under an aliased package the path finder would otherwise load its submodules a second time."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("helpers."):
            return None
        short, _, rest = fullname.removeprefix("helpers.").partition(".")
        if short not in MODULES:
            return None
        real = MODULES[short] + (f".{rest}" if rest else "")
        spec = importlib.util.find_spec(real)
        if spec is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _ShortNameLoader(real, spec), origin=spec.origin,
                                              is_package=spec.submodule_search_locations is not None)


if not any(type(finder).__name__ == "_ShortNameFinder" for finder in sys.meta_path):  # once, even if reloaded
    sys.meta_path.insert(0, _ShortNameFinder())
