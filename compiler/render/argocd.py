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

Names (docs/output.md, "ArgoCD names"): one ArgoCD holds each Application and AppProject
under one name in its namespace, so names carry what tells them apart in the ArgoCD that
reads them (`argocd.instance`): nothing more with one ArgoCD per cluster, the cluster's
name (unique across environments) with one per environment or one for all. The names are
the catalog's (`compiler.catalog.argo_name`, `root_name`): validation derives the same
ones and refuses two objects of one name in one ArgoCD before anything is rendered.

Order (docs/ci.md, "ArgoCD"): AppProjects at wave -2, before the namespace Applications
(-1) and everything that uses them; between Applications, the waves of the app-of-apps
only wait for a child to be healthy when argocd-cm gives Applications a health check
again (removed in ArgoCD 1.8): `settings()` renders that setting for the installation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from compiler.catalog import Cluster, Environment, SyncWindow, root_name

ARGOCD_API = "argoproj.io/v1alpha1"
IN_CLUSTER = "https://kubernetes.default.svc"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
GENERATE_PATHS = "argocd.argoproj.io/manifest-generate-paths"
PROJECT_WAVE = -2  # before the namespace Applications (-1) that use the platform project
NAMESPACE_WAVE = -1
LABEL_LIMIT = 63  # a label value: the Application's name under label tracking


def settings_path(env: Environment, cluster: Cluster) -> str:
    """Where the argocd-cm patch of the ArgoCD that reads `cluster` is rendered: beside
    the cluster's root app with one ArgoCD per cluster, else once for the environment;
    never in apps/, which the root app syncs (the setting belongs to the installation)."""
    if env.argocd.instance == "cluster":
        return f"{env.name}/argocd/{cluster.name}/argocd-cm.patch.yaml"
    return f"{env.name}/argocd/argocd-cm.patch.yaml"


# ArgoCD 1.8 removed the health check of Applications (argoproj/argo-cd#3781), so an
# app-of-apps moves to its next wave as soon as a child exists. Given back here. The
# root app's sync waits in a wave until each child there is Healthy (done) or Degraded
# (failed): any other status holds it, and with it every later wave of the cluster and
# every later root sync (gitops-engine's sync). So a child is Progressing only while it
# really progresses: no status yet (just created), Progressing, or Missing while its
# first sync runs. A child that cannot progress passes as Healthy, with its own status
# in the message: Suspended (a suspended customer's CronJob), Missing with no sync
# running (a new Application that a closed sync window keeps from syncing), Unknown.
APPLICATION_HEALTH = """\
hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil then
  local health = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
  local syncing = obj.status.operationState ~= nil and obj.status.operationState.phase == "Running"
  if health == nil then
    hs.status = "Progressing"
  elseif health == "Healthy" or health == "Degraded" or health == "Progressing" then
    hs.status = health
  elseif health == "Missing" and syncing then
    hs.status = "Progressing"
  else
    hs.status = "Healthy"
    hs.message = "passes its wave while " .. health .. ": " .. hs.message
  end
end
return hs
"""


def settings(env: Environment) -> dict[str, Any]:
    """The argocd-cm keys gitopsc's output relies on, as a strategic-merge patch of the
    installation's ConfigMap: the Application health check the wave order needs, and
    the resource tracking method the Application names were checked against. Under
    label tracking, a label key of ArgoCD's own: the default, `app.kubernetes.io/instance`,
    is a label gitopsc's objects carry with a value of their own (render/meta.py), which
    ArgoCD would overwrite with the Application's name."""
    data = {
        "application.resourceTrackingMethod": env.argocd.tracking,
        "resource.customizations.health.argoproj.io_Application": APPLICATION_HEALTH,
    }
    if env.argocd.tracking == "label":
        data["application.instanceLabelKey"] = "argocd.argoproj.io/instance"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": env.argocd.namespace,
            "labels": {
                "app.kubernetes.io/name": "argocd-cm",
                "app.kubernetes.io/part-of": "argocd",
            },
        },
        "data": data,
    }


def window(sync_window: SyncWindow) -> dict[str, Any]:
    """One entry of an AppProject's `spec.syncWindows`, for every Application of it."""
    spec: dict[str, Any] = {
        "kind": sync_window.kind,
        "schedule": sync_window.schedule,
        "duration": sync_window.duration,
        "timeZone": sync_window.timezone,
        "applications": ["*"],
        "manualSync": sync_window.manual_sync,
    }
    if sync_window.description:
        spec["description"] = sync_window.description
    return spec


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
    windows: Iterable[SyncWindow] = (),
) -> dict[str, Any]:
    """An AppProject that admits `namespaces` on this cluster and exactly `kinds`
    (namespaced) and `cluster_kinds` (cluster-scoped), each as (API group, kind), and
    syncs only as `windows` allow. Wave -2: it exists before any Application in it."""
    spec: dict[str, Any] = {
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
    }
    entries = [window(w) for w in windows]
    if entries:
        spec["syncWindows"] = entries
    return {
        "apiVersion": ARGOCD_API,
        "kind": "AppProject",
        "metadata": {
            "name": name,
            "namespace": env.argocd.namespace,
            "labels": _labels(env, cluster),
            "annotations": {SYNC_WAVE: str(PROJECT_WAVE)},
        },
        "spec": spec,
    }


def application(
    env: Environment,
    cluster: Cluster,
    name: str,
    project: str,
    path: str,
    namespace: str,
    wave: int,
    generate_paths: Iterable[str] = (".",),
) -> dict[str, Any]:
    """One Application syncing `path` of this repository into `namespace`.

    `generate_paths`: the folders, relative to `path`, that its manifests are made from
    (`.` and the sibling folders its kustomization takes in). ArgoCD regenerates the
    manifests only for a commit that touches one of them, instead of for every commit
    to the revision (`manifest-generate-paths`; relative paths stay right in hydrated
    mode, where `path` loses its prefix but the folders keep their places)."""
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
            "annotations": {SYNC_WAVE: str(wave), GENERATE_PATHS: ";".join(generate_paths)},
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
        env, cluster, root_name(cluster), "default", apps_path, env.argocd.namespace, 0
    )
    root["spec"]["destination"] = {"server": IN_CLUSTER, "namespace": env.argocd.namespace}
    del root["metadata"]["annotations"][SYNC_WAVE]
    return root
