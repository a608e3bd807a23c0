"""A change to what Kubernetes will not change in a running StatefulSet says that the
sync will fail.

A StatefulSet's claim templates (`volumeClaimTemplates`: the size, the storage class,
the access modes of its volumes), its `selector`, `serviceName` and
`podManagementPolicy` are fixed once it exists: the API server refuses an update to
them ("updates to statefulset spec for fields other than ... are forbidden"). A plan that
grows postgres's volume from 20Gi to 50Gi renders valid YAML that passes every schema,
and then every sync of the customer's Application fails, so no later change reaches it
either, until a person intervenes. Found by comparing each StatefulSet rendered at the
base revision with the same one (cluster, namespace, name) in the working tree. What to
do instead is in the remediation: grow the claims themselves, then recreate the
StatefulSet without its pods.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from compiler.catalog import Instance
from compiler.check.builtins.base import Builtin, as_list, as_mapping
from compiler.check.builtins.persistent_data_loss import Sides
from compiler.check.findings import Finding
from compiler.errors import Location
from compiler.render import OutputFile

IMMUTABLE = ("volumeClaimTemplates", "selector", "serviceName", "podManagementPolicy")


def check(sides: Sides) -> Iterator[Finding]:
    old = _statefulsets(sides.old)
    for key, file in sorted(_statefulsets(sides.new).items()):
        before = old.get(key)
        if before is None:
            continue
        changed = [
            field
            for field in IMMUTABLE
            if _normal(field, _spec(before).get(field)) != _normal(field, _spec(file).get(field))
        ]
        if not changed:
            continue
        env, cluster, namespace, name = key
        instance = _instance(file, sides.new_instances)
        sizes = _sizes(_spec(before)), _sizes(_spec(file))
        grown = [
            f"volume {claim} {sizes[0][claim]} -> {size}"
            for claim, size in sorted(sizes[1].items())
            if claim in sizes[0] and _bytes(sizes[0][claim]) != _bytes(size)
        ]
        what = f" ({', '.join(grown)})" if grown else ""
        finding = BUILTIN.finding(
            f"changes {', '.join(changed)}{what} of StatefulSet {namespace}/{name} on {cluster}, "
            "which Kubernetes does not change in a running StatefulSet: every sync of "
            "its Application fails until it is recreated",
            _responsible(sides, instance, file),
            environment=env,
            customer=instance.customer if instance else None,
            service=instance.service if instance else None,
            instance=instance.id if instance else None,
            rendered=file.path,
            key=f"StatefulSet/{namespace}/{name}",
        )
        yield replace(finding, severity="high" if sides.prod(env) else "medium")


def _statefulsets(files: Sequence[OutputFile]) -> dict[tuple[str, str, str, str], OutputFile]:
    found = {}
    for file in files:
        parts = file.path.split("/")
        data = as_mapping(file.data)
        if len(parts) >= 5 and parts[1] == "kubernetes" and data.get("kind") == "StatefulSet":
            metadata = as_mapping(data.get("metadata"))
            key = (parts[0], parts[2], str(metadata.get("namespace", parts[3])))
            found[(*key, str(metadata.get("name", "")))] = file
    return found


def _sizes(spec: Mapping[str, Any]) -> dict[str, str]:
    """Each claim template's requested size, by the template's name."""
    sizes = {}
    for template in as_list(spec.get("volumeClaimTemplates")):
        template = as_mapping(template)
        request = as_mapping(
            as_mapping(as_mapping(template.get("spec")).get("resources")).get("requests")
        ).get("storage")
        sizes[str(as_mapping(template.get("metadata")).get("name", ""))] = str(request)
    return sizes


def _spec(file: OutputFile) -> Mapping[str, Any]:
    return as_mapping(as_mapping(file.data).get("spec"))


def _normal(field: str, value: Any) -> Any:
    """The field as the API server compares it: an unset `podManagementPolicy` is its
    default, and a claim template's size is a quantity (`20480Mi` is `20Gi`)."""
    if field == "podManagementPolicy" and value is None:
        return "OrderedReady"
    if field == "volumeClaimTemplates" and isinstance(value, list):
        return [_sized(template) for template in value]
    return value


_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?\Z")
_FACTORS = {
    None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip


def _bytes(quantity: str) -> Decimal | str:
    match = _QUANTITY.match(quantity)
    return Decimal(match[1]) * _FACTORS[match[2]] if match else quantity


def _sized(template: Any) -> Any:
    """A claim template with its requested storage as a number of bytes."""
    spec = as_mapping(as_mapping(template).get("spec"))
    requests = as_mapping(as_mapping(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        return template
    size = _bytes(str(requests["storage"]))
    resources = {**as_mapping(spec.get("resources")), "requests": {**requests, "storage": size}}
    return {**as_mapping(template), "spec": {**spec, "resources": resources}}


def _instance(file: OutputFile, instances: Mapping[str, Instance]) -> Instance | None:
    return instances.get(file.instances[0]) if len(file.instances) == 1 else None


def _responsible(sides: Sides, instance: Instance | None, file: OutputFile) -> Location:
    """The customer's `plan` line when its plan changed (plans size the volumes), else
    the layer that wrote the instance's storage, else its first catalog file."""
    if instance is not None and instance.customer is not None:
        before = sides.base.customers.get(instance.customer)
        after = sides.head.customers.get(instance.customer)
        if before is not None and after is not None and before.plan != after.plan:
            return sides.head.source("customer", instance.customer).locate("plan")
    if instance is not None:
        origin = instance.origin(("storage",)).location
        if origin is not None:
            return origin
    return Location(file.sources[0] if file.sources else file.path)


BUILTIN = Builtin(
    "statefulset-immutable",
    "A change says when it alters what a running StatefulSet cannot change",
    "high",
    "to grow the volumes, grow each claim instead (kubectl -n <namespace> patch pvc "
    '<template>-<statefulset>-<ordinal> -p \'{"spec": {"resources": {"requests": '
    '{"storage": "50Gi"}}}}\'; the storage class must allow volume expansion), then '
    "delete the StatefulSet without its pods (kubectl delete statefulset <name> "
    "--cascade=orphan) so that ArgoCD creates it with the new template; another storage "
    "class or access mode needs the data migrated to new claims; then waive this finding "
    "for the change",
    "base",
    check,
    __doc__,
)
