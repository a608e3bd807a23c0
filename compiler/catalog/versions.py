"""Each cluster's `kubernetes_version` is one gitopsc has schemas for.

The schema check validates a cluster's objects against kubernetes-validate's schemas of
the cluster's version (`check/schemas.py`). For a version it has no schemas for it used
to take the nearest set silently: the newest for "1.99", the oldest for "1.3" (an
unquoted `1.30`, read by YAML as the number 1.3, then quoted), so an API the cluster does
not serve could pass the gate and fail the sync. Such a version is refused instead
(issue 16), at its line.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

from compiler.catalog.layout import Catalog
from compiler.errors import Problem


def cluster_problems(catalog: Catalog) -> list[Problem]:
    problems = []
    for name in sorted(catalog.environments):
        src = catalog.source("environment", name)
        for index, cluster in enumerate(catalog.environments[name].clusters):
            problem = _kubernetes_version(cluster.kubernetes_version)
            if problem is not None:
                where = src.locate("clusters", index, "kubernetes_version")
                problems.append(Problem(where, *problem))
    return problems


@functools.cache
def kubernetes_versions() -> tuple[str, ...]:
    """The minor versions gitopsc has Kubernetes schemas for: kubernetes-validate's, which
    the schema check reads (`check/schemas.py`). Read off the schema folders it ships
    (`v1.30.0-local`, ...), as its `utils.all_versions` does, without importing it: that
    loads jsonschema, PyYAML and referencing, a sixth of every command's start."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or spec.origin is None:
        raise ImportError("kubernetes-validate is not installed")
    folder = Path(spec.origin).parent / "kubernetes-json-schema"
    found = {
        match.group(1)
        for entry in folder.iterdir()
        if (match := re.match(r"v(\d+\.\d+)\.", entry.name)) is not None
    }
    return tuple(sorted(found, key=_minor))


def _kubernetes_version(version: str) -> tuple[str, str] | None:
    """A cluster version without schemas: kubernetes-validate would silently check it
    against the nearest schema set (the newest for "1.99", the oldest for "1.3"), so a
    removed API would pass the gate and fail the sync. Refused instead (issue 16)."""
    known = kubernetes_versions()
    if version in known:
        return None
    message = (
        f"kubernetes_version '{version}' is not a version gitopsc can check: it has the "
        f"schemas of {known[0]} to {known[-1]}"
    )
    if f"{version}0" in known:  # "1.3": the number 1.30 YAML read, then quoted
        return message, f'YAML reads an unquoted {version}0 as {version}; write "{version}0"'
    if _minor(version) > _minor(known[-1]):
        return message, "a newer gitopsc (its kubernetes-validate) knows newer versions"
    return message, "the APIs of a cluster this old are not known to gitopsc"


def _minor(version: str) -> int:
    return int(version.split(".")[1])
