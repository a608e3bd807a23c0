"""The catalog's data model: what each catalog file may contain, strictly typed.

Input: plain data from the loader. Output: frozen pydantic objects. Every model forbids
unknown keys (the validate stage turns that into a did-you-mean) and is strict: a string
is never coerced into a number or the other way round, except Kubernetes quantities,
which people write both as `1` and `"500m"`.

Names of services, customers, environments, clusters, plans and teams are DNS-1123
labels. They become Kubernetes names and output paths, so this check is also what keeps
a name such as `../x` from ever reaching the writer.

`Settings` is the layered part of a service: service defaults, plan presets, environment
defaults and overrides, customer overrides all have this shape and are merged by the
resolver (see docs/catalog.md for the order and the merge rules).
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?\Z")
_K8S_VERSION = re.compile(r"1\.[0-9]{1,2}\Z")
_RESIDENCY = re.compile(r"[a-z]{2,8}\Z")
_IMAGE = re.compile(r"[a-z0-9]+([._/:-][a-zA-Z0-9]+)*(@sha256:[a-f0-9]{64})?\Z")
_PORT_NAME = re.compile(r"[a-z]([-a-z0-9]{0,13}[a-z0-9])?\Z")
_HTTPS_URL = re.compile(r"((https|ssh|git)://|git@)[^\s]+\Z")

# Namespaces that Kubernetes or the platform itself use: a customer cannot take them.
RESERVED_NAMES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "argocd", "platform"}
)


PATTERN_DESCRIPTIONS: dict[str, str] = {}  # anchored pattern -> what it means, for messages


def _pattern(regex: re.Pattern[str], what: str) -> Any:
    """A pattern checked by pydantic's (Rust) validator; model_errors.py words its errors
    with `what`, and the exported JSON Schema carries the same pattern."""
    anchored = "^(?:" + regex.pattern.removesuffix(r"\Z") + ")$"
    PATTERN_DESCRIPTIONS[anchored] = what
    return Field(pattern=anchored)


def _quantity(value: Any) -> Any:
    """Kubernetes quantities are written both as numbers and as strings; keep the text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


Name = Annotated[
    str,
    _pattern(
        _DNS_LABEL,
        "a valid name: use lower-case letters, digits and '-', start with a letter, "
        "end with a letter or digit, at most 63 characters (DNS-1123 label)",
    ),
]
DnsName = Annotated[str, _pattern(_DNS_NAME, "a valid lower-case DNS name"), Field(max_length=253)]
# Record names may have `_` labels (`_sip._tcp.example.org`, `_dmarc.example.org`).
_RECORD_NAME = re.compile(
    r"(_?[a-z0-9]([-a-z0-9]*[a-z0-9])?)(\._?[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z"
)
RecordName = Annotated[
    str, _pattern(_RECORD_NAME, "a valid DNS record name"), Field(max_length=253)
]
EnvVarName = Annotated[str, _pattern(_ENV_VAR, "a valid environment variable name")]
PortName = Annotated[str, _pattern(_PORT_NAME, "a valid port name (DNS-1123, 15 characters)")]
Residency = Annotated[str, _pattern(_RESIDENCY, "a residency code such as 'eu', 'ch' or 'us'")]
KubernetesVersion = Annotated[str, _pattern(_K8S_VERSION, "a Kubernetes minor version like '1.30'")]
Image = Annotated[
    str, _pattern(_IMAGE, "a container image reference (name:tag or name@sha256:...)")
]
RepoUrl = Annotated[str, _pattern(_HTTPS_URL, "a git repository URL (https://, ssh:// or git@)")]
# A conservative subset of what `git check-ref-format` allows for a branch: parts of
# letters, digits, '_', '-' and single dots, separated by '/'; no '..', no part that
# starts or ends with a dot. What a pattern without look-ahead cannot say (no part may
# end in `.lock`, and `HEAD` is not a branch) is checked after it.
_BRANCH = re.compile(
    r"[A-Za-z0-9_]([-A-Za-z0-9_]|\.[-A-Za-z0-9_])*(/[A-Za-z0-9_]([-A-Za-z0-9_]|\.[-A-Za-z0-9_])*)*\Z"
)


def _branch_name(value: str) -> str:
    if value == "HEAD" or any(part.endswith(".lock") for part in value.split("/")):
        raise ValueError(f"'{value}' is not a valid git branch name")
    return value


BranchName = Annotated[
    str,
    _pattern(_BRANCH, "a git branch name such as 'rendered/prod'"),
    Field(max_length=200),
    AfterValidator(_branch_name),
]
_QUANTITY_PATTERN = _pattern(_QUANTITY, "a Kubernetes quantity such as '500m', '2' or '512Mi'")
Quantity = Annotated[
    str,
    BeforeValidator(_quantity),
    _QUANTITY_PATTERN,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _QUANTITY_PATTERN.metadata[0].pattern},
                {"type": "number", "minimum": 0},
            ]
        }
    ),
]
Port = Annotated[int, Field(ge=1, le=65535)]


def _empty_if_null(empty: type) -> Any:
    """`services:` with every entry commented out is null in YAML; read it as empty.

    Only on collection fields outside settings layers: inside a layer `null` keeps its
    meaning (remove the key). A field validator, not a model one, so the models that
    are validated per instance never call into Python for it.
    """
    return BeforeValidator(lambda value: empty() if value is None else value)


NullDict = _empty_if_null(dict)
NullList = _empty_if_null(list)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def _iso_date(value: Any) -> Any:
    """Dates are written YYYY-MM-DD (YAML 1.2 reads them as text); nothing else is a date."""
    if isinstance(value, str):
        if not _DATE.match(value):
            raise ValueError(f"'{value}' is not a date written as YYYY-MM-DD")
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"'{value}' is not a valid date") from None
    return value


IsoDate = Annotated[datetime.date, BeforeValidator(_iso_date)]


ConfigValue = str | int | float | bool


class Strict(BaseModel):
    """Base of every catalog model: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


# ---------------------------------------------------------------- layered settings


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
    """A secret by reference: the key in the environment's secret store, never its value."""

    key: Annotated[str, Field(min_length=1)]
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


# ---------------------------------------------------------------- catalog entities


class Service(Strict):
    name: Name
    description: str = ""
    owner: Name
    runtime: Literal["kubernetes", "vm"]
    scope: Literal["customer", "environment"]
    workload: Literal["Deployment", "StatefulSet"] = "Deployment"
    depends_on: Annotated[list[Name], NullList] = []
    environments: list[Name] | None = None
    defaults: Annotated[Layer, NullDict] = {}
    plans: Annotated[dict[Name, Layer], NullDict] = {}


class Host(Strict):
    name: DnsName
    address: str
    region: Name
    residency: Residency


class Cluster(Strict):
    name: Name
    region: Name
    residency: Annotated[list[Residency], Field(min_length=1)]
    kubernetes_version: KubernetesVersion
    api_server: Annotated[str, Field(pattern=r"^https://")]


class ArgoCD(Strict):
    """How ArgoCD syncs an environment: from `rendered/<env>/` at `revision` of `repo_url`,
    or, with `branch`, from the root of that hydrated branch (see `gitopsc publish`)."""

    repo_url: RepoUrl
    revision: Annotated[str, Field(min_length=1)] = "main"
    branch: BranchName | None = None
    namespace: Name = "argocd"
    automated: bool = True
    prune: bool = True
    self_heal: bool = True

    @model_validator(mode="after")
    def _hydrated_branch(self) -> ArgoCD:
        """The hydrated branch holds only rendered files: publishing to the branch the
        catalog lives on would replace the catalog, so the two must differ."""
        if self.branch is not None and self.branch == self.revision:
            raise ValueError(
                f"branch '{self.branch}' is also the revision: the hydrated branch holds only "
                "rendered files and must not be the branch the catalog lives on"
            )
        return self


class SecretStore(Strict):
    name: Name
    kind: Literal["SecretStore", "ClusterSecretStore"] = "ClusterSecretStore"


class Awx(Strict):
    organization: str
    project: str
    inventory: str


class Tls(Strict):
    """How ingress certificates are issued (cert-manager)."""

    issuer: Name = "letsencrypt"
    issuer_kind: Literal["Issuer", "ClusterIssuer"] = "ClusterIssuer"


class IngressController(Strict):
    class_name: Name = "nginx"
    namespace: Name = "ingress-nginx"


class Environment(Strict):
    name: Name
    tier: Literal["dev", "staging", "prod"]
    description: str = ""
    base_domain: DnsName
    clusters: Annotated[list[Cluster], Field(min_length=1)]
    argocd: ArgoCD
    secret_store: SecretStore
    tls: Tls = Tls()
    ingress_controller: IngressController = IngressController()
    awx: Awx | None = None
    host_pools: Annotated[dict[Name, list[Host]], NullDict] = {}
    defaults: Annotated[Layer, NullDict] = {}
    services: Annotated[dict[Name, Layer], NullDict] = {}


class CustomerEnvironment(Strict):
    """Where a customer is deployed in one environment, and what it has enabled there."""

    cluster: Name | None = None
    services: Annotated[dict[Name, Layer | None], NullDict] = {}
    hosts: Annotated[list[Host], NullList] = []


class Customer(Strict):
    name: Name
    display_name: str = ""
    plan: Name
    residency: Residency
    status: Literal["active", "suspended", "offboarding"] = "active"
    offboard_after: IsoDate | None = None
    contact: str = ""
    domains: Annotated[list[DnsName], Field(min_length=1)]
    services: Annotated[dict[Name, Layer], NullDict] = {}
    environments: Annotated[dict[Name, CustomerEnvironment], NullDict] = {}


class Quota(Strict):
    cpu: Quantity
    memory: Quantity
    pods: Annotated[int, Field(ge=1)]
    storage: Quantity | None = None


class Plan(Strict):
    name: Name
    description: str = ""
    quota: Quota


class PlanList(Strict):
    plans: list[Plan]


class Team(Strict):
    name: Name
    email: str
    chat: str = ""


class TeamList(Strict):
    teams: list[Team]
