"""No two rendered Argo objects share a name in one ArgoCD.

An ArgoCD holds one Application and one AppProject per name in its namespace. Two
rendered under one name (two clusters of an environment in one ArgoCD, or two
environments in a shared one) are one object that two root apps write in turn: each
sync replaces the other's, and the Applications of one cluster deploy to the other or
vanish. Which ArgoCD reads which environment is `argocd.instance` (one per cluster, per
environment, or shared); the check groups every checked environment's Applications,
AppProjects and root apps by it and reports the second of each name, at the
environment's `argocd` settings. A run on some environments (`--env`) sees only theirs,
so a clash between environments of a shared ArgoCD (which CI's per-environment `check`
jobs would not see) is also refused by `compile`, which renders every environment:
`clashes()` reads the names from the rendered paths alone (`<kind>-<name>.yaml`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from compiler.catalog import Catalog
from compiler.check.builtins.base import Builtin, as_mapping
from compiler.check.findings import Finding
from compiler.errors import Problem
from compiler.render import OutputFile, argocd_instance

KINDS = ("Application", "AppProject")


@dataclass(frozen=True, order=True)
class ArgoObject:
    """One rendered Application or AppProject, and the ArgoCD that would hold it."""

    argocd: str
    kind: str
    namespace: str
    name: str
    environment: str
    path: str


def argo_objects(catalog: Catalog, env: str, files: Iterable[OutputFile]) -> list[ArgoObject]:
    """The Applications and AppProjects among an environment's rendered files (small:
    what a worker sends back for the check that spans environments)."""
    environment = catalog.environments[env]
    clusters = {cluster.name: cluster for cluster in environment.clusters}
    found = []
    for file in files:
        parts = file.path.split("/")
        data = as_mapping(file.data)
        if len(parts) < 4 or parts[1] != "argocd" or data.get("kind") not in KINDS:
            continue
        cluster = clusters.get(parts[2])
        if cluster is None:
            continue
        metadata = as_mapping(data.get("metadata"))
        found.append(
            ArgoObject(
                argocd_instance(environment, cluster),
                str(data["kind"]),
                str(metadata.get("namespace", "")),
                str(metadata.get("name", "")),
                env,
                file.path,
            )
        )
    return found


def clashes(catalog: Catalog, paths: Iterable[str]) -> list[Problem]:
    """Two Argo objects under one name in one ArgoCD, across every environment whose
    output `paths` are (`<env>/argocd/<cluster>/apps/<kind>-<name>.yaml`, and each
    cluster's root app `root-<cluster>` in `<env>/argocd/<cluster>/root.yaml`): a compile
    error, as two objects sharing a path are; no reason makes one right."""
    objects = []
    for path in paths:
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "argocd" and parts[3] == "root.yaml":
            parts = [*parts[:3], "apps", f"application-root-{parts[2]}.yaml"]  # root-<cluster>
        elif len(parts) != 5 or parts[1] != "argocd" or parts[3] != "apps":
            continue
        environment = catalog.environments.get(parts[0])
        cluster = (
            next((c for c in environment.clusters if c.name == parts[2]), None)
            if (environment)
            else None
        )
        stem = parts[4].removesuffix(".yaml")
        kind = next((k for k in KINDS if stem.startswith(k.lower() + "-")), None)
        if environment is None or cluster is None or kind is None:
            continue
        objects.append(
            ArgoObject(
                argocd_instance(environment, cluster),
                kind,
                environment.argocd.namespace,
                stem[len(kind) + 1 :],
                parts[0],
                path,
            )
        )
    return [
        Problem(found.location or catalog.source("environment", found.environment or "").locate(),
                found.message, BUILTIN.remediation)
        for found in check(catalog, objects)
    ]  # fmt: skip


def check(catalog: Catalog, objects: Sequence[ArgoObject]) -> Iterator[Finding]:
    first: dict[tuple[str, str, str, str], ArgoObject] = {}
    for obj in sorted(objects, key=lambda o: (o.environment, o.path)):
        seen = first.setdefault((obj.argocd, obj.kind, obj.namespace, obj.name), obj)
        if seen is obj:
            continue
        yield BUILTIN.finding(
            f"{obj.path} and {seen.path} are both {obj.kind} {obj.namespace}/{obj.name} "
            f"in {obj.argocd}",
            catalog.source("environment", obj.environment).locate("argocd", "instance"),
            environment=obj.environment,
            rendered=obj.path,
            key=f"{obj.kind}/{obj.namespace}/{obj.name}",
        )


BUILTIN = Builtin(
    "argocd-name-unique",
    "Argo object names are unique per ArgoCD",
    "critical",
    "declare the topology that is deployed (`argocd.instance`: cluster, environment or "
    "shared), so names carry the cluster's; or give environments that share an ArgoCD "
    "their own `argocd.namespace`; or rename the customer or service whose name runs "
    "into another's",
    "argocd",
    check,
    __doc__,
)
