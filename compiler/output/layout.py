"""How an environment's Kubernetes objects are laid out in files (issue 17).

The render stage makes one `OutputFile` per object: that is what the checks, the
duplicate guard and checkov read. This module decides how those objects are written:

- `objects`: one file per object, `<folder>/<kind>-<name>.yaml` (the original layout);
- `documents` (the default): one multi-document `manifests.yaml` per folder of
  `<env>/kubernetes/` that has a `kustomization.yaml` (a namespace folder or an instance
  folder), and that kustomization lists `manifests.yaml` instead of every object file;
  and in each `<env>/argocd/<cluster>/apps/` folder, one multi-document file per
  customer, `<customer>.yaml`, with its AppProject and all its Applications (the
  platform's, and those shared by several customers, in `platform.yaml`: no customer
  can be named `platform`). Same folders, same Applications, same kustomize and ArgoCD
  behaviour (the root app reads every document of every file in apps/: ArgoCD's
  directory source splits multi-document YAML), about a fifth of the files of `objects`.

Apps are grouped by the customer of the instances they came from, the rule that gives
a file its shard (catalog/shards.py), so each apps file is one shard's, as the
customer's `manifests.yaml` files are. At 3,000 customers that is 9,000 apps files
instead of 90,000: creating the files was a third of a first compile (issue 17).

Each document of a `manifests.yaml` keeps its own sources in a comment line above it
(`# Sources of Deployment acme/synapse: ...`), so a reader still sees which catalog files
made which object. Documents are in the order ArgoCD applies them (hook phase, sync wave,
kind in ArgoCD's kind order, name): reading the file top to bottom is reading the sync.

`units` names each object the way a reviewer and the drift gate see it whatever the
layout: `<folder>/manifests.yaml#<kind>-<name>` (`.../apps/acme.yaml#<kind>-<name>`)
inside a multi-document file, the file's own path otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from compiler.catalog import PLATFORM_NAMESPACE, customer_of_id, sole_customer
from compiler.render import OutputFile

MANIFESTS = "manifests.yaml"
KUSTOMIZATION = "kustomization.yaml"
DOCUMENTS = "documents"
OBJECTS = "objects"

# ArgoCD's apply order of kinds within one phase and wave (gitops-engine, pkg/sync,
# `kindOrder`); kinds it does not list come after these, by kind name
_KIND_ORDER = {
    kind: rank
    for rank, kind in enumerate(
        [
            "Namespace",
            "NetworkPolicy",
            "ResourceQuota",
            "LimitRange",
            "PodSecurityPolicy",
            "PodDisruptionBudget",
            "ServiceAccount",
            "Secret",
            "SecretList",
            "ConfigMap",
            "StorageClass",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleList",
            "ClusterRoleBinding",
            "ClusterRoleBindingList",
            "Role",
            "RoleList",
            "RoleBinding",
            "RoleBindingList",
            "Service",
            "DaemonSet",
            "Pod",
            "ReplicationController",
            "ReplicaSet",
            "Deployment",
            "HorizontalPodAutoscaler",
            "StatefulSet",
            "Job",
            "CronJob",
            "IngressClass",
            "Ingress",
            "APIService",
        ]
    )
}
_PHASES = {"PreSync": -1, "Sync": 0, "PostSync": 1, "SyncFail": 2}  # gitops-engine syncPhaseOrder


@dataclass(frozen=True)
class Document:
    """One object of a multi-document file, with the catalog files it came from."""

    data: dict[str, Any]
    sources: tuple[str, ...]


def identity(obj: dict[str, Any]) -> str:
    """`Kind namespace/name` (or `Kind name` for a cluster-scoped object)."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = metadata.get("name")
    return f"{obj.get('kind')} {namespace}/{name}" if namespace else f"{obj.get('kind')} {name}"


def apply_order(obj: dict[str, Any]) -> tuple[int, int, int, str, str, str]:
    """Where ArgoCD applies an object in its Application's sync: hook phase (a hook's
    first phase; others in Sync), sync wave, kind order, then kind and name."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    hook = str(annotations.get("argocd.argoproj.io/hook", "Sync")).split(",")[0].strip()
    try:
        wave = int(annotations.get("argocd.argoproj.io/sync-wave", 0))
    except (TypeError, ValueError):
        wave = 0  # as ArgoCD reads a wave that is not a number
    kind = str(obj.get("kind"))
    metadata = obj.get("metadata") or {}
    return (
        _PHASES.get(hook, 0),
        wave,
        _KIND_ORDER.get(kind, len(_KIND_ORDER)),
        kind,
        str(metadata.get("namespace") or ""),
        str(metadata.get("name")),
    )


def _packed_folders(files: Iterable[OutputFile]) -> set[str]:
    """The folders of `<env>/kubernetes/` whose kustomization lists object files."""
    folders = set()
    for file in files:
        folder, _, name = file.path.rpartition("/")
        if name == KUSTOMIZATION and folder.split("/")[1:2] == ["kubernetes"]:
            folders.add(folder)
    return folders


def _is_apps_folder(folder: str) -> bool:
    """`<env>/argocd/<cluster>/apps`: the folder a cluster's root app reads."""
    parts = folder.split("/")
    return len(parts) == 4 and parts[1] == "argocd" and parts[3] == "apps"


def _packed_path(file: OutputFile, folders: set[str]) -> str | None:
    """The multi-document file that holds this object file in the documents layout,
    or None for a file written as it is (a kustomization, JSON, the root app...)."""
    folder, _, name = file.path.rpartition("/")
    if file.format != "yaml" or name == KUSTOMIZATION:
        return None
    if folder in folders:
        return f"{folder}/{MANIFESTS}"
    if _is_apps_folder(folder):
        owner = sole_customer(customer_of_id(i) for i in file.instances)
        return f"{folder}/{owner or PLATFORM_NAMESPACE}.yaml"
    return None


def holds_documents(path: str) -> bool:
    """Whether the file at `path` may be a multi-document file of the documents layout
    (a `manifests.yaml`, or a file of an apps folder), whose objects a comparison names
    one by one (`documents_of`); in the objects layout an apps file holds one object,
    and reads as a file without documents."""
    folder, _, name = path.rpartition("/")
    return name == MANIFESTS or (_is_apps_folder(folder) and name.endswith(".yaml"))


def pack(files: Sequence[OutputFile], layout: str) -> list[OutputFile]:
    """The files of one environment as `layout` writes them (see the module docstring).

    A kustomization keeps every entry that is not one of its folder's object files
    (`../synapse-migrate`: a hook's folder) after `manifests.yaml`."""
    if layout == OBJECTS:
        return list(files)
    folders = _packed_folders(files)
    grouped: dict[str, list[OutputFile]] = {}
    result: list[OutputFile] = []
    for file in files:
        target = _packed_path(file, folders)
        if target is not None:
            grouped.setdefault(target, []).append(file)
        else:
            result.append(file)
    packed = []
    for index, file in enumerate(result):
        folder, _, name = file.path.rpartition("/")
        if name != KUSTOMIZATION or f"{folder}/{MANIFESTS}" not in grouped:
            continue
        own = {f.path.rpartition("/")[2] for f in grouped[f"{folder}/{MANIFESTS}"]}
        resources = [r for r in file.data["resources"] if r not in own]
        result[index] = replace(file, data={**file.data, "resources": [MANIFESTS, *resources]})
    for path, members in sorted(grouped.items()):
        members.sort(key=lambda f: apply_order(f.data))
        packed.append(
            OutputFile(
                path,
                tuple(Document(f.data, f.sources) for f in members),
                "documents",
                tuple(sorted({i for f in members for i in f.instances})),
                tuple(sorted({s for f in members for s in f.sources})),
            )
        )
    return result + packed


def units(files: Sequence[OutputFile], layout: str) -> dict[str, OutputFile]:
    """Each object (and each other file) of one environment by the name a review shows:
    `<path>#<kind>-<name>` for an object inside a multi-document file, else its path.
    The object's own `OutputFile` is kept, so its bytes and owners are the object's."""
    if layout == OBJECTS:
        return {f.path: f for f in files}
    folders = _packed_folders(files)
    named: dict[str, OutputFile] = {}
    for file in pack(files, layout):
        if file.format != "documents":
            named[file.path] = file
    for file in files:
        target = _packed_path(file, folders)
        if target is not None:
            named[f"{target}#{file.path.rpartition('/')[2].removesuffix('.yaml')}"] = file
    return named


def shown_names(files: Sequence[OutputFile], layout: str) -> dict[str, str]:
    """Each object file's path -> the name a report shows for that object in `layout`
    (only those that differ): a check's finding about `.../synapse/deployment-synapse.yaml`
    names `.../synapse/manifests.yaml#deployment-synapse`, which is where it is."""
    if layout == OBJECTS:
        return {}
    # the names `units` gives the packed objects, without packing (sorting every
    # folder's documents for a name was a tenth of a check's CPU at 1,000 customers)
    folders = _packed_folders(files)
    return {
        file.path: f"{target}#{file.path.rpartition('/')[2].removesuffix('.yaml')}"
        for file in files
        if (target := _packed_path(file, folders)) is not None
    }
