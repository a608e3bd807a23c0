"""The escape hatch: a service's `patches` and `extra_resources`, applied to its objects.

Patches run after rendering and before any check, so whatever they change is validated
and policy-checked like everything else. A patch that targets nothing, or whose JSON
patch operation fails, is an error located at the patch in the catalog.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonpatch

from compiler.catalog import Instance, merge
from compiler.errors import Problem

_KIND = re.compile(r"[A-Z][A-Za-z0-9]{0,62}\Z")
_DNS_SUBDOMAIN = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z"
)


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
        obj = copy.deepcopy(raw)
        obj["metadata"].setdefault("namespace", instance.namespace)
        objects.append(obj)
    return objects, problems


def apply_patches(
    objects: list[dict[str, Any]], instance: Instance
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """`objects` with every patch of the instance applied, in order."""
    problems = []
    for index, patch in enumerate(instance.settings.patches or []):
        where = instance.origin(("patches", index)).location
        targets = [
            i
            for i, obj in enumerate(objects)
            if obj.get("kind") == patch.target.kind
            and (patch.target.name is None or obj["metadata"].get("name") == patch.target.name)
        ]
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
                    objects[i] = jsonpatch.apply_patch(objects[i], patch.json_patch)
                else:
                    objects[i] = merge(objects[i], patch.merge_patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
                problems.append(Problem(where, f"patch on {patch.target.kind} failed: {error}"))
    return objects, problems
