"""What checks look at: instances, customers, environments and rendered objects, each as
plain data plus a way back to the catalog line a reader should open.

A policy rule is a JSON Schema over a subject's `document`; an error inside it has a
JSON pointer, and `locate(pointer)` turns that pointer into a catalog file:line: the
layer that set the value for instance settings, the line itself for customers and
environments, and for rendered objects the setting that produced the field (image,
replicas, resources, probes, TLS) or else the place the instance was enabled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from compiler.catalog import Catalog, Instance
from compiler.errors import Location
from compiler.render import OutputFile
from compiler.render import labels as instance_labels

Locate = Callable[[str], Location | None]


@dataclass(frozen=True)
class Subject:
    entity: str  # instance | customer | environment | object
    name: str  # instance id, customer or environment name, or rendered path
    document: Any
    locate: Locate
    environment: str | None = None
    tier: str | None = None
    instance: str | None = None
    customer: str | None = None
    service: str | None = None
    labels: Any = None
    rendered: str | None = None


def parts(pointer: str) -> tuple[str | int, ...]:
    """JSON pointer -> path segments (numbers become list indexes)."""
    if not pointer:
        return ()
    segments = pointer.lstrip("/").split("/")
    result: list[str | int] = []
    for segment in segments:
        segment = segment.replace("~1", "/").replace("~0", "~")
        result.append(int(segment) if segment.isdigit() else segment)
    return tuple(result)


def enabled_at(catalog: Catalog, instance: Instance) -> Location:
    """Where the instance was switched on: the customer's or environment's service entry."""
    if instance.customer is None:
        source = catalog.source("environment", instance.environment)
        return source.locate("services", instance.service)
    source = catalog.source("customer", instance.customer)
    customer = catalog.customers[instance.customer]
    scoped = customer.environments.get(instance.environment)
    if scoped is not None and instance.service in scoped.services:
        return source.locate("environments", instance.environment, "services", instance.service)
    if instance.service in customer.services:
        return source.locate("services", instance.service)
    return source.locate("environments", instance.environment)


def setting_location(catalog: Catalog, instance: Instance, path: Sequence[str | int]) -> Location:
    """The layer that set `path` in the instance's settings, else where it was enabled."""
    origin = instance.origin(tuple(path))
    return origin.location or enabled_at(catalog, instance)


# the pod template of every workload kind: a CronJob's is inside its job template
_POD = r"^/spec/(?:jobTemplate/spec/)?template/spec"
_FIELD_SETTINGS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(pattern), setting)
    for pattern, setting in (
        (_POD + r"/(?:init)?[cC]ontainers/\d+/image", ("image",)),
        (r"^/spec/replicas", ("replicas",)),
        (_POD + r"/containers/\d+/resources", ("resources",)),
        (_POD + r"/containers/\d+/(?:liveness|readiness)Probe", ("probes",)),
        (_POD + r"/containers/\d+/ports", ("ports",)),
        (_POD + r"/containers/\d+/command", ("command",)),
        (_POD + r"/containers/\d+/args", ("args",)),
        (
            _POD + r"/containers/\d+/env(?:From)?/\d+/(?:valueFrom|secretRef)",
            ("secrets",),
        ),
        (_POD + r"/restartPolicy", ("job",)),
        (r"^/spec/(?:schedule|concurrencyPolicy|startingDeadlineSeconds)", ("job",)),
        (r"^/spec/(?:jobTemplate/spec/)?(?:backoffLimit|activeDeadlineSeconds)", ("job",)),
        (r"^/spec/(?:tls|rules)", ("ingress",)),
        (r"^/spec/(?:min|max)Replicas", ("autoscaling",)),
    )
)


def object_location(catalog: Catalog, instance: Instance | None, pointer: str) -> Location | None:
    """The catalog line behind a field of a rendered object (None: no instance)."""
    if instance is None:
        return None
    for pattern, setting in _FIELD_SETTINGS:
        if pattern.match(pointer):
            return setting_location(catalog, instance, setting)
    for escape in ("patches", "extra_resources"):
        if getattr(instance.settings, escape, None):
            return setting_location(catalog, instance, (escape,))
    return enabled_at(catalog, instance)


def instance_subjects(catalog: Catalog, instances: Sequence[Instance]) -> Iterator[Subject]:
    for instance in instances:
        env = catalog.environments[instance.environment]
        service = catalog.services[instance.service]
        customer = catalog.customers.get(instance.customer) if instance.customer else None
        document = {
            "id": instance.id,
            "environment": instance.environment,
            "tier": env.tier,
            "service": instance.service,
            "customer": instance.customer,
            "status": customer.status if customer else "active",
            # what the customer bought and where its data must stay: policies on which
            # plans may enable a service (entitlements) or where it may run
            "plan": customer.plan if customer else None,
            "residency": customer.residency if customer else None,
            "runtime": service.runtime,
            "scope": service.scope,
            "workload": service.workload if service.runtime == "kubernetes" else None,
            "namespace": instance.namespace,
            "clusters": list(instance.clusters),
            "settings": instance.values,
        }

        def locate(pointer: str, instance: Instance = instance) -> Location:
            path = parts(pointer)
            if path[:1] == ("settings",):
                return setting_location(catalog, instance, path[1:])
            return enabled_at(catalog, instance)

        yield Subject(
            "instance",
            instance.id,
            document,
            locate,
            instance.environment,
            env.tier,
            instance.id,
            instance.customer,
            instance.service,
            instance_labels(instance),
        )


def entity_subjects(catalog: Catalog) -> Iterator[Subject]:
    """Customers and environments, as written (paths in the rule map to lines)."""
    for kind, entities in (("customer", catalog.customers), ("environment", catalog.environments)):
        for name in sorted(entities):
            source = catalog.source(kind, name)  # type: ignore[arg-type]
            document = _at(source.document.data, source.prefix)

            def locate(pointer: str, source: Any = source) -> Location:
                return source.locate(*_existing(_at(source.document.data, source.prefix), pointer))

            tier = catalog.environments[name].tier if kind == "environment" else None
            yield Subject(
                kind,
                name,
                document,
                locate,
                environment=name if kind == "environment" else None,
                tier=tier,
                customer=name if kind == "customer" else None,
            )


def object_subjects(
    catalog: Catalog, files: Sequence[OutputFile], instances: dict[str, Instance]
) -> Iterator[Subject]:
    """Every rendered Kubernetes or ArgoCD object (tfvars and inventories are not objects)."""
    for file in files:
        data = file.data
        if file.format != "yaml" or not isinstance(data, dict) or "apiVersion" not in data:
            continue
        if data.get("kind") == "Kustomization":
            continue
        instance = instances.get(file.instances[0]) if len(file.instances) == 1 else None
        environment = file.path.split("/", 1)[0]

        def locate(pointer: str, instance: Instance | None = instance) -> Location | None:
            return object_location(catalog, instance, pointer)

        yield Subject(
            "object",
            file.path,
            data,
            locate,
            environment,
            catalog.environments[environment].tier,
            instance.id if instance else None,
            instance.customer if instance else None,
            instance.service if instance else None,
            (data.get("metadata") or {}).get("labels") or {},
            file.path,
        )


def _at(data: Any, prefix: Sequence[str | int]) -> Any:
    for segment in prefix:
        data = data[segment]
    return data


def _existing(data: Any, pointer: str) -> tuple[str | int, ...]:
    """The longest prefix of the pointer that exists (a missing key points at its parent)."""
    found: list[str | int] = []
    for segment in parts(pointer):
        if isinstance(data, dict) and segment in data:
            data = data[segment]
        elif isinstance(data, dict) and str(segment) in data:
            data = data[str(segment)]
            segment = str(segment)
        elif isinstance(data, list) and isinstance(segment, int) and segment < len(data):
            data = data[segment]
        else:
            break
        found.append(segment)
    return tuple(found)
