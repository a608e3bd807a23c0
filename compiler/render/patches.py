"""The escape hatch: a service's `patches` and `extra_resources`, applied to its objects.

Patches run after rendering and before any check, so whatever they change is validated
and policy-checked like everything else. A patch that targets nothing, or whose JSON
patch operation fails, is an error located at the patch in the catalog.

What an object is (apiVersion, kind, name, namespace) decides its output path, its
kustomization entry and where ArgoCD applies it, so it is checked again after every
patch: a patch may not turn an object into something that is not a Kubernetes object, or
give it a name with `/` or a control character (the file would land in a folder its
kustomization does not list, and never be deployed). Whether the object stays inside
its tenant's scope is the `tenant-scope` check's question (check/builtins/).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonpatch

from compiler.catalog import Instance, merge
from compiler.errors import Problem

_KIND = re.compile(r"[A-Z][A-Za-z0-9]{0,62}\Z")
_API_VERSION = re.compile(r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?v[0-9]+[a-z0-9]{0,20}\Z")
_DNS_SUBDOMAIN = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z"
)
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")


def identity_problem(obj: Any) -> str | None:
    """What is wrong with an object's identity (apiVersion, kind, metadata.name and
    metadata.namespace), or None. `fullmatch`-style patterns: a trailing newline fails."""
    if not isinstance(obj, dict):
        return f"the result is a {type(obj).__name__}, not a Kubernetes object"
    api_version, kind, metadata = obj.get("apiVersion"), obj.get("kind"), obj.get("metadata")
    if not isinstance(api_version, str) or not _API_VERSION.match(api_version):
        return f"apiVersion {api_version!r} is not like 'v1' or 'apps/v1'"
    if not isinstance(kind, str) or not _KIND.match(kind):
        return f"kind {kind!r} is not like 'ConfigMap'"
    if not isinstance(metadata, dict):
        return f"{kind} has no metadata mapping"
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not isinstance(name, str) or not _DNS_SUBDOMAIN.match(name):
        return f"{kind} metadata.name {name!r} is not a DNS name (no '/', no control characters)"
    if namespace is not None and (
        not isinstance(namespace, str) or not _DNS_LABEL.match(namespace)
    ):
        return f"{kind} {name}: metadata.namespace {namespace!r} is not a DNS label"
    return None


def extra_objects(instance: Instance) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The service's raw extra resources, placed in the instance's namespace."""
    objects, problems = [], []
    for index, raw in enumerate(instance.settings.extra_resources or []):
        where = instance.origin(("extra_resources", index)).location
        metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        kind, name = raw.get("kind"), metadata.get("name")
        if (
            not isinstance(raw.get("apiVersion"), str)
            or not isinstance(kind, str)
            or not _KIND.match(kind)
        ):
            problems.append(
                Problem(where, "extra resource needs 'apiVersion' and a 'kind' like 'ConfigMap'")
            )
            continue
        if not isinstance(name, str) or not _DNS_SUBDOMAIN.match(name):
            problems.append(
                Problem(
                    where,
                    f"extra resource {kind} needs metadata.name as a DNS name",
                    f"got {name!r}",
                )
            )
            continue
        wrong = identity_problem(raw)
        if wrong:
            problems.append(Problem(where, f"extra resource: {wrong}"))
            continue
        obj = copy.deepcopy(raw)
        obj["metadata"].setdefault("namespace", instance.namespace)
        objects.append(obj)
    return objects, problems


def apply_patches(
    objects: list[dict[str, Any]], instance: Instance, not_here: frozenset[str] = frozenset()
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """`objects` with every patch of the instance applied, in order. A patch on a kind
    the cluster's flavour renders something else for (`not_here`: an Ingress where an
    OpenShift cluster gets a Route) matches nothing there without being an error."""
    problems = []
    for index, patch in enumerate(instance.settings.patches or []):
        where = instance.origin(("patches", index)).location
        targets = [
            i
            for i, obj in enumerate(objects)
            if obj.get("kind") == patch.target.kind
            and (patch.target.name is None or obj["metadata"].get("name") == patch.target.name)
        ]
        if not targets and patch.target.kind in not_here:
            continue
        if not targets:
            problems.append(
                Problem(
                    where,
                    f"patch matches no rendered {patch.target.kind}"
                    + (f" named '{patch.target.name}'" if patch.target.name else ""),
                )
            )
            continue
        for i in targets:
            try:
                if patch.json_patch is not None:
                    patched = jsonpatch.apply_patch(objects[i], patch.json_patch)
                else:
                    patched = merge(objects[i], patch.merge_patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
                problems.append(Problem(where, f"patch on {patch.target.kind} failed: {error}"))
                continue
            wrong = identity_problem(patched)
            if wrong:
                problems.append(
                    Problem(
                        where,
                        f"patch on {patch.target.kind} {objects[i]['metadata']['name']} "
                        f"leaves no valid object: {wrong}",
                        "a patch may change an object, not what it is or where it is written",
                    )
                )
                continue  # the object as it was: later stages never see a malformed one
            objects[i] = patched
    return objects, problems
