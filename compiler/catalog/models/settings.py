"""`Settings`, the layered part of a service, with its parts, and the `Layer` marker.

Service defaults, plan presets, environment defaults and overrides, customer overrides
all have this shape and are merged by the resolver (see docs/catalog.md for the order
and the merge rules). A module of its own because the service, environment and customer
files all hold layers, and because its models are the biggest group in the catalog.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from compiler.catalog.models.fields import (
    DnsName,
    EnvVarName,
    Image,
    Name,
    Port,
    PortName,
    Quantity,
    RecordName,
    SecretKey,
    Strict,
)

ConfigValue = str | int | float | bool


class ResourceAmounts(Strict):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(Strict):
    requests: ResourceAmounts | None = None
    limits: ResourceAmounts | None = None


class Probe(Strict):
    """An HTTP or TCP probe against one of the service's named ports."""

    type: Literal["http", "tcp"] = "http"
    path: str = "/"
    port: PortName
    initial_delay_seconds: Annotated[int, Field(ge=0)] = 0
    period_seconds: Annotated[int, Field(ge=1)] = 10


class Probes(Strict):
    liveness: Probe | None = None
    readiness: Probe | None = None
    startup: Probe | None = None


class Autoscaling(Strict):
    min_replicas: Annotated[int, Field(ge=1)]
    max_replicas: Annotated[int, Field(ge=1)]
    target_cpu_percent: Annotated[int, Field(ge=1, le=100)] = 75

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas is greater than max_replicas")
        return self


class Ingress(Strict):
    """Public HTTP(S) exposure of one named port under a host name."""

    host: DnsName
    port: PortName
    path: str = "/"
    tls: bool = True


class SecretRef(Strict):
    """A secret by reference: the key in the environment's secret store, never its value.

    The key must lie under the tenant prefix of the environment's `secret_store` (the
    customer's, or the platform's for environment-wide services) and `store` must be
    one the environment allows; the key's shape keeps it from leaving that prefix.
    """

    key: SecretKey
    property: str | None = None
    store: Name | None = None


class DnsRecord(Strict):
    name: RecordName
    type: Literal["A", "AAAA", "CNAME", "MX", "TXT", "SRV"]
    value: Annotated[str, Field(min_length=1)]
    ttl: Annotated[int, Field(ge=60, le=86400)] = 300
    priority: Annotated[int, Field(ge=0, le=65535)] | None = None


class Database(Strict):
    engine: Literal["postgres", "mysql"]
    version: str
    size: Literal["small", "medium", "large", "xlarge"] = "small"
    storage_gb: Annotated[int, Field(ge=1, le=65536)] = 10
    high_availability: bool = False


class Bucket(Strict):
    versioning: bool = False
    retention_days: Annotated[int, Field(ge=1)] | None = None


class Infrastructure(Strict):
    """What the service needs from the environment's Terraform root module."""

    database: Database | None = None
    buckets: dict[Name, Bucket] | None = None
    dns: dict[Name, DnsRecord] | None = None


class VmSettings(Strict):
    """Placement and variables of a service that runs on VMs (Ansible via AWX)."""

    host_pool: Name | None = None
    vars: dict[str, Any] | None = None

    @field_validator("vars")
    @classmethod
    def _reserved(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """`secrets` in an instance's inventory data is where gitopsc writes the `secrets:`
        references, held to the tenant's prefix; a var of that name would pass any key
        to the playbooks around that rule."""
        if value and "secrets" in value:
            raise ValueError(
                "'secrets' is reserved in vm.vars (gitopsc writes the `secrets:` references "
                "there); declare secret references under `secrets:`"
            )
        return value


class Storage(Strict):
    """A persistent volume per replica (StatefulSet volumeClaimTemplates)."""

    size: Quantity
    mount_path: Annotated[str, Field(pattern=r"^/")]
    storage_class: Name | None = None


class Network(Strict):
    """Traffic allowed beyond what dependencies and exposure imply (NetworkPolicy)."""

    internet_egress: bool = False


class PatchTarget(Strict):
    kind: str
    name: str | None = None


class Patch(Strict):
    """Escape hatch: an RFC 6902 JSON patch or an RFC 7386 merge patch on rendered objects.

    Applied after rendering, before validation, so a patch cannot bypass any check.
    """

    target: PatchTarget
    json_patch: list[dict[str, Any]] | None = None
    merge_patch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Patch:
        if (self.json_patch is None) == (self.merge_patch is None):
            raise ValueError("a patch needs exactly one of 'json_patch' or 'merge_patch'")
        return self


class Settings(Strict):
    """The mergeable part of a service; every layer has this shape (see docs/catalog.md)."""

    image: Image | None = None
    replicas: Annotated[int, Field(ge=0, le=1000)] | None = None
    ports: dict[PortName, Port] | None = None
    resources: Resources | None = None
    probes: Probes | None = None
    autoscaling: Autoscaling | None = None
    config: dict[EnvVarName, ConfigValue] | None = None
    secrets: dict[EnvVarName, SecretRef] | None = None
    ingress: Ingress | None = None
    infrastructure: Infrastructure | None = None
    vm: VmSettings | None = None
    storage: Storage | None = None
    network: Network | None = None
    patches: list[Patch] | None = None
    extra_resources: list[dict[str, Any]] | None = None


# A layer is kept as the raw mapping the user wrote: the resolver merges raw layers and
# validates the merged result as `Settings`. Each layer is also validated on its own as a
# *partial* `Settings` (see validate.py), so a typo is reported in the file that has it.
# The JSON Schema export (schema.py) replaces this marker with a reference to `Settings`.
Layer = Annotated[dict[str, Any], Field(json_schema_extra={"x-gitopsc-layer": True})]
