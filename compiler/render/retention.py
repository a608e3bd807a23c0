"""Data that outlives a sync: what keeps a customer's volumes when its objects go away.

Removing a customer, moving it to another cluster or dropping one of its services
removes objects from the repository; ArgoCD prunes what the repository no longer has,
and a pruned Namespace takes every PersistentVolumeClaim in it, and with the claims
(under a `Delete` reclaim policy, the default of most storage classes) the volumes.
So what holds data is marked to be kept (issue 15; docs/output.md, "Offboarding"):

    Namespace, PersistentVolumeClaim   `argocd.argoproj.io/sync-options: Prune=false,Delete=false`
                                       (Prune=false: kept when it leaves the repository,
                                       ArgoCD >= 1.1; Delete=false: kept when its
                                       Application is deleted with the resources
                                       finalizer, ArgoCD >= 2.8)
    StatefulSet                        `persistentVolumeClaimRetentionPolicy` Retain on
                                       delete and on scale-down (the claims of its
                                       volumeClaimTemplates outlive it; GA in 1.32, beta
                                       and on by default from 1.27, the default anyway)

Namespaces get theirs where they are rendered (kubernetes.namespace_objects);
StatefulSets where their spec is (workloads.py). Claims and StatefulSets a catalog adds
as extra resources get them here, before patches (`protect`); after patches, an object
that no longer carries them is refused at the catalog line (`weakened`): a patch may not
make data disposable, and it must not seem to succeed while the option stays.
Deleting the data is a person's decision, taken outside the sync (docs/output.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compiler.errors import Location, Problem

SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
KEEP = ("Prune=false", "Delete=false")
KEEP_ANNOTATION = {SYNC_OPTIONS: ",".join(KEEP)}
RETAIN = {"whenDeleted": "Retain", "whenScaled": "Retain"}
# an instance's own objects: a Namespace is never one (tenant-scope refuses it)
ANNOTATED = frozenset({"PersistentVolumeClaim"})

Locate = Callable[[Any, Any], Location]  # (kind, name) -> the catalog line that made it


def protect(objects: list[dict[str, Any]], locate: Locate) -> list[Problem]:
    """Mark every claim and StatefulSet of `objects` to be kept, in place. An extra
    resource that declares the opposite (`Prune=true`, `whenDeleted: Delete`) is a
    problem at its catalog line; its other sync options stay."""
    problems = []
    for obj in objects:
        kind, metadata = obj.get("kind"), obj.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if kind in ANNOTATED and isinstance(metadata, dict):
            annotations = metadata.get("annotations")
            if annotations is None:
                annotations = metadata["annotations"] = {}
            if not isinstance(annotations, dict):
                continue  # the schema check reports it
            options = _options(annotations.get(SYNC_OPTIONS))
            contrary = _contrary(options)
            if contrary:  # refused, and kept all the same: reported once, not again below
                problems.append(_refused(locate(kind, name), kind, name, f"'{contrary}'"))
                refused = contrary.split(",")
                options = [o for o in options if o not in refused and o not in KEEP]
            annotations[SYNC_OPTIONS] = ",".join([*options, *(o for o in KEEP if o not in options)])
        elif kind == "StatefulSet" and isinstance(obj.get("spec"), dict):
            policy = obj["spec"].setdefault("persistentVolumeClaimRetentionPolicy", dict(RETAIN))
            if policy != RETAIN:
                problems.append(_refused(locate(kind, name), kind, name, _policy(policy)))
                obj["spec"]["persistentVolumeClaimRetentionPolicy"] = dict(RETAIN)
    return problems


def weakened(objects: list[dict[str, Any]], locate: Locate) -> list[Problem]:
    """The claims and StatefulSets that no longer keep their data after patches."""
    problems = []
    for obj in objects:
        kind, metadata = obj.get("kind"), obj.get("metadata")
        if not isinstance(metadata, dict):
            continue
        name = metadata.get("name")
        if kind in ANNOTATED:
            annotations = metadata.get("annotations")
            value = annotations.get(SYNC_OPTIONS) if isinstance(annotations, dict) else None
            options = _options(value)
            if not all(o in options for o in KEEP) or _contrary(options):
                found = f"'{value}'" if isinstance(value, str) else "no sync options"
                problems.append(_refused(locate(kind, name), kind, name, found))
        elif kind == "StatefulSet":
            spec = obj.get("spec")
            policy = (
                spec.get("persistentVolumeClaimRetentionPolicy") if isinstance(spec, dict) else None
            )
            if policy != RETAIN:
                problems.append(_refused(locate(kind, name), kind, name, _policy(policy)))
    return problems


def _options(value: Any) -> list[str]:
    """ArgoCD's reading of the annotation: comma-separated, white space trimmed."""
    if not isinstance(value, str):
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


# sync by `kubectl replace` (or delete and create, with Force): a claim whose spec
# changes is deleted and made again, empty
_RECREATE = ("Replace=true", "Force=true")


def _contrary(options: list[str]) -> str:
    """A Prune or Delete option other than `false` (`true`, `confirm`), or one that
    makes ArgoCD recreate the object (`Replace=true`, `Force=true`)."""
    return ",".join(
        o
        for o in options
        if (o.split("=", 1)[0] in ("Prune", "Delete") and o not in KEEP) or o in _RECREATE
    )


def _policy(policy: Any) -> str:
    if not isinstance(policy, dict):
        return "no retention policy" if policy is None else repr(policy)
    return "{" + ", ".join(f"{key}: {value}" for key, value in policy.items()) + "}"


def _refused(where: Location, kind: Any, name: Any, found: str) -> Problem:
    keep = (
        f"{SYNC_OPTIONS}: {','.join(KEEP)}"
        if kind in ANNOTATED
        else f"persistentVolumeClaimRetentionPolicy {_policy(RETAIN)}"
    )
    return Problem(
        where,
        f"{kind} {name} must keep its data when it leaves the repository ({keep}); "
        f"here it has {found}",
        "leave the data protection as rendered: removing the data is done by hand after "
        "offboarding (docs/output.md, 'Offboarding')",
    )
