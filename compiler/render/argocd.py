"""Render ArgoCD objects for one cluster: AppProjects, an Application per deployed unit,
and the root app-of-apps. No I/O.

Each customer gets an AppProject whose only destination is its own namespace on this
cluster, whose only source is this repository, and which whitelists exactly the
namespaced kinds its Applications render (those on the tenant allow-list; nothing
cluster-scoped), so a mistake in one customer's Application cannot deploy into another's
namespace or outside it. The `platform` project, which no customer can be named, holds
the environment-wide services and every namespace Application: the Namespace objects
and what each namespace gets before any workload (default-deny, quota, limits) belong
to the platform, never to a customer's project. Its whitelist is derived the same way:
the platform's services are held to the tenant allow-list too (a cluster-wide operator
belongs to the cluster's bootstrap, not to the catalog). Sync waves follow the dependency order
(a database before the service that uses it); namespace applications go first.

Where the Applications read from: by default `rendered/<env>/...` at the environment's
`argocd.revision`. With `argocd.branch` set (hydrated mode), `gitopsc publish` commits
the environment's output to that branch with `rendered/<env>/` as its root, so the
Applications read `targetRevision: <branch>` and paths from the branch root.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from compiler.catalog import Cluster, Environment

ARGOCD_API = "argoproj.io/v1alpha1"
IN_CLUSTER = "https://kubernetes.default.svc"
PLATFORM_PROJECT = "platform"


def _labels(env: Environment, cluster: Cluster) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "gitopsc",
        "gitopsc.dev/environment": env.name,
        "gitopsc.dev/cluster": cluster.name,
    }


def app_project(
    env: Environment,
    cluster: Cluster,
    name: str,
    namespaces: list[str],
    description: str,
    kinds: Iterable[tuple[str, str]],
    cluster_kinds: Iterable[tuple[str, str]] = (),
) -> dict[str, Any]:
    """An AppProject that admits `namespaces` on this cluster and exactly `kinds`
    (namespaced) and `cluster_kinds` (cluster-scoped), each as (API group, kind)."""
    return {
        "apiVersion": ARGOCD_API,
        "kind": "AppProject",
        "metadata": {
            "name": name,
            "namespace": env.argocd.namespace,
            "labels": _labels(env, cluster),
        },
        "spec": {
            "description": description,
            "sourceRepos": [env.argocd.repo_url],
            "destinations": [
                {"server": cluster.api_server, "namespace": namespace}
                for namespace in sorted(namespaces)
            ],
            "clusterResourceWhitelist": [
                {"group": group, "kind": kind} for group, kind in sorted(set(cluster_kinds))
            ],
            "namespaceResourceWhitelist": [
                {"group": group, "kind": kind} for group, kind in sorted(set(kinds))
            ],
        },
    }


def application(
    env: Environment,
    cluster: Cluster,
    name: str,
    project: str,
    path: str,
    namespace: str,
    wave: int,
) -> dict[str, Any]:
    """One Application syncing `path` of this repository into `namespace`."""
    sync: dict[str, Any] = {}
    if env.argocd.automated:
        sync["automated"] = {"prune": env.argocd.prune, "selfHeal": env.argocd.self_heal}
    options = ["ServerSideApply=true"]
    if env.tier == "prod":  # remove old objects only after the new ones are healthy
        options.append("PruneLast=true")
    sync["syncOptions"] = options
    sync["retry"] = {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}}
    return {
        "apiVersion": ARGOCD_API,
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": env.argocd.namespace,
            "labels": _labels(env, cluster),
            "annotations": {"argocd.argoproj.io/sync-wave": str(wave)},
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": project,
            "source": source(env, cluster, path),
            "destination": {"server": cluster.api_server, "namespace": namespace},
            "syncPolicy": sync,
        },
    }


def source(env: Environment, cluster: Cluster, path: str) -> dict[str, str]:
    """Where an Application of `cluster` finds `path` (`<repo path>/<env>/...`).

    In hydrated mode the branch root is the environment's folder, so the path is cut to
    what follows `<env>/`. Every path rendered for a cluster has `<env>/kubernetes/<cluster>/`
    or `<env>/argocd/<cluster>/` right after the repo path (`rendered`, or the folder of
    `compile --out`), so the first one found is where the environment's folder starts.
    """
    if env.argocd.branch is None:
        return {"repoURL": env.argocd.repo_url, "targetRevision": env.argocd.revision, "path": path}
    wrapped = f"/{path}/"
    starts = [
        wrapped.find(f"/{env.name}/{top}/{cluster.name}/") for top in ("kubernetes", "argocd")
    ]
    start = min((at for at in starts if at >= 0), default=-1)
    if start < 0:
        raise ValueError(f"{path} is not a path of environment {env.name} on {cluster.name}")
    relative = wrapped[start + len(env.name) + 2 : -1]
    return {"repoURL": env.argocd.repo_url, "targetRevision": env.argocd.branch, "path": relative}


def root_application(env: Environment, cluster: Cluster, apps_path: str) -> dict[str, Any]:
    """The app-of-apps: applied once by hand, it keeps every other Application in sync."""
    root = application(
        env, cluster, f"root-{cluster.name}", "default", apps_path, env.argocd.namespace, 0
    )
    root["spec"]["destination"] = {"server": IN_CLUSTER, "namespace": env.argocd.namespace}
    del root["metadata"]["annotations"]
    return root
