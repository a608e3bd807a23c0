"""`Settings`, the layered part of a service, with its parts, and the `Layer` marker.

Service defaults, plan presets, environment defaults and overrides, customer overrides
all have this shape and are merged by the resolver (see docs/catalog.md for the order
and the merge rules). A module of its own because the service, environment and customer
files all hold layers, and because its models are the biggest group in the catalog.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from compiler.catalog.models.dns import DnsRecord
from compiler.catalog.models.edge import Edge, VmTls
from compiler.catalog.models.fields import (
    PATTERN_DESCRIPTIONS,
    DnsName,
    EnvVarName,
    Image,
    Name,
    Port,
    PortName,
    Protocol,
    Quantity,
    SecretKey,
    Strict,
)
from compiler.catalog.models.jobs import Job
from compiler.catalog.models.monitoring import Monitoring

ConfigValue = str | int | float | bool


class ServicePort(Strict):
    """A named port with its protocol (`turn: {port: 3478, protocol: UDP}`); a bare
    number (`http: 8008`) is a TCP port."""

    port: Port
    protocol: Protocol = "TCP"


def port_spec(value: int | ServicePort) -> ServicePort:
    """Either way of writing a port, as one shape. A bare number's is made once per
    number (the model is frozen): validate and reachability ask for each instance's
    ports, 40,000 times per environment at 1,000 customers."""
    if isinstance(value, ServicePort):
        return value
    if type(value) is not int:  # a bool is no port: refused as before, never cached
        return ServicePort(port=value)
    return _bare_port(value)


@functools.cache
def _bare_port(number: int) -> ServicePort:
    return ServicePort(port=number)


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
    """Public HTTP(S) exposure of one named port under a host name; with
    `for_each: domains`, under one host per domain of the customer (`${domain}` in it)."""

    for_each: Literal["domains"] | None = None
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
    tls: VmTls | None = None  # the hosts' certificate (issue 18): models/edge.py

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


# an absolute path in the container: no `.`/`..` parts, no empty parts, no trailing '/'
_CONTAINER_PATH = r"^(/[A-Za-z0-9_@+=,.-]+)+$"
PATTERN_DESCRIPTIONS[_CONTAINER_PATH] = (
    "an absolute path whose parts hold only letters, digits and _ @ + = , . -"
)
ContainerPath = Annotated[
    str,
    Field(pattern=_CONTAINER_PATH, max_length=1024),
    AfterValidator(lambda path: _no_dot_parts(path)),
]


def _no_dot_parts(path: str) -> str:
    if any(part in (".", "..") for part in path.split("/")):
        raise ValueError(f"'{path}' has a '.' or '..' part: give the path itself")
    return path


class ConfigFile(Strict):
    """A configuration file, mounted read-only at its path (its key in `files:`): text
    (`content`, interpolated like every value) or structured `data` written as YAML or
    JSON (`format`, else told by the extension). With `secrets`, the file is rendered
    through an ExternalSecret's template instead of a ConfigMap, and External Secrets
    fills in each `${secret.NAME}` placeholder in it (docs/catalog.md, "Files")."""

    content: str | None = None
    data: dict[str, Any] | list[Any] | None = None
    format: Literal["yaml", "json"] | None = None
    secrets: dict[EnvVarName, SecretRef] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ConfigFile:
        if self.content is not None and self.data is not None:
            raise ValueError(
                "a file has content or data, not both; set the other to null in the layer "
                "that changes it"
            )
        return self


class Storage(Strict):
    """A persistent volume per replica (StatefulSet volumeClaimTemplates), mounted at
    `mount_path`; with `sub_path`, a directory of the volume is mounted there instead of
    its root (a file system's root holds `lost+found`, which some programs refuse)."""

    size: Quantity
    mount_path: ContainerPath
    storage_class: Name | None = None
    sub_path: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")] | None = None

    @field_validator("sub_path")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None and any(part in (".", "..") for part in value.split("/")):
            raise ValueError(f"sub_path '{value}' has a '.' or '..' part")
        return value


Id = Annotated[int, Field(ge=0, le=2147483647)]


class RunAs(Strict):
    """Who the containers run as: fixed IDs (the image's own user, e.g. 999 for the
    official PostgreSQL image), or `assigned_by_platform` (no IDs rendered: the
    platform, OpenShift for one, assigns them per namespace). Unset: UID, GID and
    fsGroup 10001. On an OpenShift cluster no IDs are ever rendered."""

    user: Annotated[int, Field(ge=1, le=2147483647)] | None = None
    group: Id | None = None
    fs_group: Id | None = None
    assigned_by_platform: bool | None = None

    @model_validator(mode="after")
    def _either(self) -> RunAs:
        fixed = [f for f in ("user", "group", "fs_group") if getattr(self, f) is not None]
        if self.assigned_by_platform and fixed:
            raise ValueError(
                f"assigned_by_platform leaves no room for {', '.join(fixed)}: set them to null "
                "in the layer that asks for platform-assigned IDs"
            )
        return self


class WritablePath(Strict):
    """A writable directory in a read-only container: an `emptyDir` mounted there,
    optionally limited in size (memory-backed with `medium: Memory`)."""

    size_limit: Quantity | None = None
    medium: Literal["Memory"] | None = None


class PortRange(Strict):
    """A port, or with `end_port` a range of ports, at a peer outside the service's
    dependencies (a host, a network, a platform namespace's pods)."""

    port: Port
    end_port: Port | None = None
    protocol: Protocol = "TCP"

    @model_validator(mode="after")
    def _ordered(self) -> PortRange:
        if self.end_port is not None and self.end_port < self.port:
            raise ValueError(f"end_port {self.end_port} is below port {self.port}")
        return self


class DependencyUse(Strict):
    """How a service uses one of its `depends_on`: the dependency's ports it connects to
    (default: the dependency's serving ports, never all of them) and this service's own
    ports that the dependency calls back on (a homeserver pushing to a bridge)."""

    ports: Annotated[list[PortName], Field(min_length=1, max_length=256)] | None = None
    calls_back: Annotated[list[PortName], Field(max_length=256)] | None = None


_PEER_KINDS = ("namespace", "host_pool", "hosts", "network")


class RulePeer(Strict):
    """One peer of a declared rule: a platform namespace the environment declares
    (`platform_namespaces`), a host pool, named hosts (of the host pools, or the
    customer's own), or a named network (`networks`). Exactly one, once layers are
    merged; a layer may still set more than one only by removing the others (`null`)."""

    namespace: Name | None = None
    host_pool: Name | None = None
    hosts: Annotated[list[DnsName], Field(min_length=1, max_length=256)] | None = None
    network: Name | None = None

    @model_validator(mode="after")
    def _one_peer(self) -> RulePeer:
        chosen = [kind for kind in _PEER_KINDS if getattr(self, kind) is not None]
        if len(chosen) > 1:
            raise ValueError(
                f"a rule names one peer, not {' and '.join(chosen)}; set the others to null "
                "in the layer that changes the peer"
            )
        return self

    def peer(self) -> tuple[str, str | list[str]] | None:
        """(kind, name or names) of the peer, None when no layer named one."""
        return next(
            ((kind, getattr(self, kind)) for kind in _PEER_KINDS if getattr(self, kind)), None
        )


class EgressRule(RulePeer):
    """Traffic this service sends beyond its dependencies: the peer and the ports there
    (numbers or ranges; a rule without ports would open every port, so it needs some)."""

    ports: Annotated[list[Port | PortRange], Field(min_length=1, max_length=256)]


class IngressRule(RulePeer):
    """Traffic this service accepts beyond its dependents and ingress: the peer, and
    which of this service's own named ports it may reach."""

    ports: Annotated[list[PortName], Field(min_length=1, max_length=256)]


class Exposure(Strict):
    """A port reached from outside the cluster through a Service of its own type: a
    cloud load balancer, or a port on every node (30000-32767). `clients` is who may
    connect: a network the environment declares, or the internet (the default); the
    Service keeps the client's address (externalTrafficPolicy: Local), so the
    NetworkPolicy can admit exactly them. `port` is the Service's port clients connect
    to, when it is not the container's (an edge listens on 8443 in the pod and is
    published on 443); the Service's targetPort names the container's port, and the
    NetworkPolicy admits the container's port, which is what it sees."""

    type: Literal["LoadBalancer", "NodePort"]
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    node_port: Annotated[int, Field(ge=30000, le=32767)] | None = None
    clients: Name | None = None

    @model_validator(mode="after")
    def _node_port(self) -> Exposure:
        if self.node_port is not None and self.type != "NodePort":
            raise ValueError("node_port is for type NodePort")
        return self


class Network(Strict):
    """Who the service reaches and who reaches it, beyond dependencies and ingress
    (rendered as NetworkPolicies, one per purpose; docs/catalog.md, "Network")."""

    internet_egress: bool = False
    # the ports dependents use when they do not say which (default: the ingress port,
    # else the only port)
    serves: Annotated[list[PortName], Field(min_length=1, max_length=256)] | None = None
    dependencies: dict[Name, DependencyUse] | None = None
    # ports on which the service's replicas reach each other (clustering, replication);
    # default-deny closes them otherwise
    replicas: Annotated[list[PortName], Field(min_length=1, max_length=256)] | None = None
    egress: dict[Name, EgressRule] | None = None
    ingress: dict[Name, IngressRule] | None = None


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
    ports: dict[PortName, Port | ServicePort] | None = None
    resources: Resources | None = None
    probes: Probes | None = None
    autoscaling: Autoscaling | None = None
    config: dict[EnvVarName, ConfigValue] | None = None
    secrets: dict[EnvVarName, SecretRef] | None = None
    ingress: Ingress | None = None
    infrastructure: Infrastructure | None = None
    vm: VmSettings | None = None
    storage: Storage | None = None
    run_as: RunAs | None = None
    # ports reached from outside the cluster, by port name (non-HTTP: SMTP, TURN, ...)
    expose: dict[PortName, Exposure] | None = None
    # directories the container writes to (its root file system is read-only); /tmp always
    writable_paths: dict[ContainerPath, WritablePath] | None = None
    # configuration files, keyed by their absolute path in the container (so layers merge
    # them by path): a ConfigMap, or an ExternalSecret's template for those with secrets
    files: dict[ContainerPath, ConfigFile] | None = None
    # the container's entrypoint and its arguments (default: the image's own)
    command: Annotated[list[str], Field(min_length=1, max_length=256)] | None = None
    args: Annotated[list[str], Field(max_length=256)] | None = None
    job: Job | None = None  # a Job's or CronJob's schedule, retries, hook
    network: Network | None = None
    # scrape, SLOs and alerts (issue 18; docs/catalog.md, "Monitoring")
    monitoring: Monitoring | None = None
    patches: list[Patch] | None = None
    extra_resources: list[dict[str, Any]] | None = None
    edge: Edge | None = None  # routes other services' ingress hosts (issue 18): models/edge.py


# A layer is kept as the raw mapping the user wrote: the resolver merges raw layers and
# validates the merged result as `Settings`. Each layer is also validated on its own as a
# *partial* `Settings` (see validate.py), so a typo is reported in the file that has it.
# The JSON Schema export (schema.py) replaces this marker with a reference to `Settings`.
Layer = Annotated[dict[str, Any], Field(json_schema_extra={"x-gitopsc-layer": True})]
