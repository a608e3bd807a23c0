"""No two rendered Argo objects share a name in one ArgoCD.

An ArgoCD holds one Application and one AppProject per name in its namespace. Two
rendered under one name (two clusters of an environment in one ArgoCD, or two
environments in a shared one) are one object that two root apps write in turn: each
sync replaces the other's, and the Applications of one cluster deploy to the other or
vanish. The names follow from the catalog alone, so since issue 16 validation refuses
a clash (`catalog/argo_names.py`: every environment at once, exit 2, at the customer
whose name makes it or the environment's `argocd` settings). This check repeats the
rule on what was rendered, so that the reports show the guarantee: which ArgoCD reads
which environment is `argocd.instance` (one per cluster, per environment, or shared);
the check groups every checked environment's Applications, AppProjects and root apps
by it and reports the second of each name, at the environment's `argocd` settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from compiler.catalog import Catalog, argocd_key
from compiler.check.builtins.base import Builtin, as_mapping
from compiler.check.findings import Finding
from compiler.render import OutputFile

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
                argocd_key(environment, cluster),
                str(data["kind"]),
                str(metadata.get("namespace", "")),
                str(metadata.get("name", "")),
                env,
                file.path,
            )
        )
    return found


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
