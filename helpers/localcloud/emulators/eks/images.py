"""The local EKS's image table: which container images a pod may use and the local program each one runs.

No container runtime runs here, so a container is a local process. An image is known by its repository (any tag):

| image                       | ENTRYPOINT / CMD          | bin folder first on PATH                          |
| --------------------------- | ------------------------- | ------------------------------------------------- |
| `amazon/aws-cli`            | `aws` / -                 | `<venv>/aws-cli/bin` (the AWS CLI v1 venv)        |
| `public.ecr.aws/aws-cli/aws-cli` | as `amazon/aws-cli`  |                                                   |
| `alpine`, `busybox`         | - / `/bin/sh`             | none: the machine's `/usr/bin:/bin`               |
| `python`                    | - / `python3`             | the workbook environment's `bin` (its Python)     |

Kubernetes' `command` replaces the ENTRYPOINT and `args` the CMD, as with a real runtime. Any other image cannot be
pulled: the container waits with `ErrImagePull`, then `ImagePullBackOff`, and a message naming this table.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

TABLE = "helpers/localcloud/emulators/eks/images.py"


@dataclass(frozen=True)
class Image:
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    bin_dir: str  # put first on PATH; "" for none

    def argv(self, command: list[str] | None, args: list[str] | None) -> list[str]:
        if command:
            return [*command, *(args or [])]
        return [*self.entrypoint, *(args if args is not None else self.cmd)]


def _venv() -> Path:
    return Path(sys.prefix)


def _aws_cli() -> Image:
    return Image(("aws",), (), str(_venv() / "aws-cli" / "bin"))


def _shell() -> Image:
    return Image((), ("/bin/sh",), "")


def _python() -> Image:
    return Image((), ("python3",), str(_venv() / "bin"))


IMAGES = {
    "amazon/aws-cli": _aws_cli,
    "public.ecr.aws/aws-cli/aws-cli": _aws_cli,
    "alpine": _shell,
    "busybox": _shell,
    "python": _python,
}


def repository(image: str) -> str:
    """`docker.io/library/alpine:3.24.1` -> `alpine`; digests and tags dropped."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def resolve(image: str) -> Image | None:
    make = IMAGES.get(repository(image))
    return make() if make else None


def pull_error(image: str) -> str:
    known = ", ".join(sorted(IMAGES))
    return (f'Failed to pull image "{image}": the local EKS runs containers as local processes and knows only the '
            f"images in its image table ({TABLE}): {known}")
