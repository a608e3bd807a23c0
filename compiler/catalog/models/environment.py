"""`Environment`: environments/<name>/environment.yaml, and what it is made of.

Its clusters, ArgoCD sync, secret store, AWX, TLS issuer, ingress controller and host
pools, plus its settings layers. `Host` lives here (host pools) and customer.py reuses it
for a customer's own hosts. Separate so that each kind of catalog file has its own module.
"""

from __future__ import annotations

from typing import Annotated, Literal, NamedTuple

from pydantic import Field, model_validator

from compiler.catalog.models.edge import Address
from compiler.catalog.models.fields import (
    PATTERN_DESCRIPTIONS,
    BranchName,
    Cidr,
    CustomerPrefix,
    DnsName,
    KubernetesVersion,
    LabelKey,
    LabelValue,
    Name,
    NamespacePattern,
    NullDict,
    NullList,
    PlatformPrefix,
    Port,
    Provider,
    RepoUrl,
    Residency,
    Strict,
    TerraformVariable,
)
from compiler.catalog.models.identity import Identity
from compiler.catalog.models.monitoring import EnvironmentMonitoring
from compiler.catalog.models.settings import Layer, PortRange
from compiler.catalog.models.windows import SyncWindow


class Host(Strict):
    name: DnsName
    address: str
    region: Name
    residency: Residency


class IngressController(Strict):
    class_name: Name = "nginx"
    namespace: Name = "ingress-nginx"


class Cluster(Strict):
    name: Name
    region: Name
    residency: Annotated[list[Residency], Field(min_length=1)]
    kubernetes_version: KubernetesVersion
    api_server: Annotated[str, Field(pattern=r"^https://")]
    # what the platform is: on `openshift` no fixed user or group IDs are rendered (its
    # restricted-v2 SCC assigns them per namespace), and the SCC check applies
    flavour: Literal["kubernetes", "openshift"] = "kubernetes"
    # this cluster's own ingress controller, where it differs from the environment's;
    # on OpenShift the default is its router (`openshift-ingress`), exposed by Routes
    ingress_controller: IngressController | None = None
    # where edges send this cluster's ingress hosts: its ingress controller's load
    # balancer, inside (the public name, ingress.<cluster>.<base_domain>, is the edges')
    ingress_address: Address | None = None
    # annotations of this cluster's LoadBalancer Services, where they differ from the
    # environment's (the cloud's load balancer class, an address pool)
    load_balancer_annotations: Annotated[dict[LabelKey, str], NullDict] | None = None
    # the cluster's own pod, service and node ranges: no network, host or database range
    # the catalog names for NetworkPolicies may overlap them (an ipBlock there would
    # name other tenants' pods or the nodes' kubelets)
    internal_networks: Annotated[list[Cidr], NullList] = []
    # the cloud the cluster runs in, where it is not the environment's `provider`; the
    # databases and buckets of the instances on it are created there too (tfvars)
    provider: Provider | None = None


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
    # which ArgoCD reads this environment's Applications: one per cluster, one for the
    # environment, or one shared by every environment that says `shared`; names carry
    # what tells them apart in that ArgoCD (docs/output.md, "ArgoCD names")
    instance: Literal["cluster", "environment", "shared"] = "shared"
    # one Application per instance, or one per customer (and cluster) holding all its
    # services in sync waves (docs/output.md, "Application granularity")
    applications: Literal["per-instance", "per-customer"] = "per-instance"
    # how that ArgoCD tracks what an Application owns: `label` puts the Application's
    # name in a label value (63 characters at most), `annotation` (ArgoCD 3's default)
    # does not limit it
    tracking: Literal["annotation", "label"] = "annotation"
    # maintenance windows for every AppProject of the environment
    sync_windows: Annotated[list[SyncWindow], NullList] = []

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


# how Kubernetes objects are laid out in their folders (docs/output.md, "Layout"):
# `documents`, one multi-document `manifests.yaml` per namespace and instance folder
# and one apps file per customer (its AppProject and Applications); `objects`, one file
# per object (gitopsc 0.x's only layout)
Layout = Literal["documents", "objects"]
DEFAULT_LAYOUT: Layout = "documents"


class Output(Strict):
    """How the environment's folder is written. Per environment, not per run: ArgoCD,
    the review diff, the drift gate and the hydrated branch all read the same files,
    so everyone who compiles the environment must write it the same way."""

    layout: Layout = DEFAULT_LAYOUT
    # what the hosts of VM services get (docs/output.md, "Hiera data"): the Ansible
    # inventory (AWX), Hiera data for Puppet, or both. Default: the inventory only, what
    # every environment had before Hiera, so turning it on is a choice of the team that
    # runs Puppet on the hosts and no existing environment's output changes
    host_data: Annotated[list[Literal["inventory", "hiera"]], Field(min_length=1, max_length=2)] = [
        "inventory"
    ]

    @model_validator(mode="after")
    def _once(self) -> Output:
        if len(set(self.host_data)) != len(self.host_data):
            raise ValueError("host_data names each kind of host data once")
        return self


class SecretStore(Strict):
    """The External Secrets store that secret references point into, and the tenant
    boundary inside it: a customer's instances read keys under `customer_prefix` only,
    environment-wide services under `platform_prefix` only, and a reference's own
    `store` must be `name` or one of `extra_stores`. The defaults are the example
    catalog's convention (`prod/acme/...`, `prod/platform/...`)."""

    name: Name
    kind: Literal["SecretStore", "ClusterSecretStore"] = "ClusterSecretStore"
    customer_prefix: CustomerPrefix = "${env.name}/${customer.name}/"
    platform_prefix: PlatformPrefix = "${env.name}/platform/"
    extra_stores: Annotated[list[Name], NullList] = []


# AWX names an object by up to 512 characters; surrounding blanks would make a second,
# look-alike object (the modules look objects up by exact name); no braces: the
# definitions are loaded as Ansible variables, where `{{ ... }}` would run
_AWX_NAME = r"^[^\s{}]([^{}\n]*[^\s{}])?$"
PATTERN_DESCRIPTIONS[_AWX_NAME] = "an AWX name: one line without braces or blanks at either end"
AwxName = Annotated[str, Field(min_length=1, max_length=512, pattern=_AWX_NAME)]


class Awx(Strict):
    """The AWX objects that pick up the environment's inventory (rendered to
    `rendered/<env>/awx/controller.yml`): a git project of the repository in
    `organization`, an inventory, and an inventory source that reads the inventory file
    from the project. The project reads where ArgoCD reads (`awx_checkout`)."""

    organization: AwxName
    project: AwxName
    inventory: AwxName
    # the name of the Source Control credential AWX clones the repository with (a
    # read-only deploy token; never the secret itself); none for a public repository
    credential_name: AwxName | None = None
    # the repository as AWX reaches it, where that differs from `argocd.repo_url`
    scm_url: RepoUrl | None = None


class AwxCheckout(NamedTuple):
    """Where AWX finds an environment's inventory: the repository, the branch (or tag,
    or commit) of the project, and the inventory file within that checkout."""

    scm_url: str
    scm_branch: str
    source_path: str


def awx_checkout(env: Environment, awx: Awx, repo_path: str = "rendered") -> AwxCheckout:
    """The checkout the environment's AWX project makes, and the inventory's path in it.
    AWX reads where ArgoCD reads: with a hydrated branch (`argocd.branch`, written by
    `gitopsc publish`) the branch's root is the environment's folder; else the catalog's
    revision holds the output tree at `repo_path` (`rendered`, or `compile --out`'s)."""
    url = awx.scm_url or env.argocd.repo_url
    if env.argocd.branch is not None:
        return AwxCheckout(url, env.argocd.branch, "ansible/inventory.yml")
    return AwxCheckout(url, env.argocd.revision, f"{repo_path}/{env.name}/ansible/inventory.yml")


class Tls(Strict):
    """How ingress certificates are issued (cert-manager)."""

    issuer: Name = "letsencrypt"
    issuer_kind: Literal["Issuer", "ClusterIssuer"] = "ClusterIssuer"


# Where the cluster's pods and services, the nodes' link-local services (the cloud
# metadata endpoint at 169.254.169.254) and carrier-grade NAT pod networks live: what
# "the internet" excludes, so that `internet_egress` never reaches another tenant's pod or
# the platform's node credentials, and what the network check treats as inside the cluster
PRIVATE_RANGES = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
)


Networks = Annotated[list[Cidr], Field(min_length=1, max_length=256)]


class ManagedDatabase(Strict):
    """Where an engine's managed databases (`infrastructure.database`, created by the
    Terraform root module) live: their address ranges by cluster or region name, and
    their port (default: the engine's, 5432 or 3306). An instance with a database may
    reach the ranges of its cluster (else of its region) on that port, nothing else."""

    port: Port | None = None
    networks: Annotated[dict[Name, Networks], Field(min_length=1)]
    # where every database of this engine is created, whatever cluster its instance runs
    # on (default: the instance's cluster's provider)
    provider: Provider | None = None


class ProviderChoice(Strict):
    """Which provider creates a kind of thing the Terraform root module makes (DNS zones'
    records, buckets), where it is not the default (docs/catalog.md, Providers)."""

    provider: Provider


class TerraformInputs(Strict):
    """What the environment's root module reads besides gitopsc's tfvars: its required
    variables that the operator sets (`TF_VAR_upcloud_token` in CI); the contract check
    lets these, and only these, go unset in the tfvars."""

    operator_variables: Annotated[list[TerraformVariable], NullList] = []


class PlatformNamespace(Strict):
    """A namespace the platform runs shared tooling in (monitoring, log shipping) that
    services may admit by name (`network.ingress`); `pods` narrows it to the pods with
    these labels (empty: any pod of the namespace)."""

    pods: Annotated[dict[LabelKey, LabelValue], NullDict] = {}


# ports (or ranges) a shared peer accepts from pods
Grant = Annotated[list[Port | PortRange], Field(min_length=1, max_length=256)]

DATABASE_PORTS = {"postgres": 5432, "mysql": 3306}


_API_GROUP = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$"


class ResourceKind(Strict):
    """A Kubernetes kind by API group, as ArgoCD's AppProject whitelists name them
    (`group: ""` is the core group)."""

    group: Annotated[str, Field(pattern=_API_GROUP)]
    kind: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]{0,62}$")]


OPENSHIFT_ROUTER = IngressController(class_name="openshift-default", namespace="openshift-ingress")


def ingress_controller(env: Environment, cluster: Cluster) -> IngressController:
    """The ingress controller serving `cluster`: its own, else OpenShift's router on an
    OpenShift cluster, else the environment's."""
    if cluster.ingress_controller is not None:
        return cluster.ingress_controller
    return OPENSHIFT_ROUTER if cluster.flavour == "openshift" else env.ingress_controller


class Environment(Strict):
    name: Name
    tier: Literal["dev", "staging", "prod"]
    description: str = ""
    base_domain: DnsName
    clusters: Annotated[list[Cluster], Field(min_length=1)]
    # the cloud provider the Terraform root module creates this environment's things in
    # (`aws`, `upcloud`), unless a cluster, database engine, `dns` or `buckets` names
    # another; every tfvars entry carries its provider (null when none is declared)
    provider: Provider | None = None
    dns: ProviderChoice | None = None  # DNS zones' provider (default: `provider`)
    buckets: ProviderChoice | None = None  # every bucket's (default: its cluster's)
    terraform: TerraformInputs = TerraformInputs()
    argocd: ArgoCD
    output: Output = Output()
    secret_store: SecretStore
    tls: Tls = Tls()
    ingress_controller: IngressController = IngressController()
    # annotations every LoadBalancer Service gets (`expose`), e.g. the cloud's LB type
    load_balancer_annotations: Annotated[dict[LabelKey, str], NullDict] = {}
    awx: Awx | None = None
    # the Keycloak that holds customers' single sign-on realms (models/identity.py)
    identity: Identity | None = None
    host_pools: Annotated[dict[Name, Annotated[list[Host], Field(min_length=1)]], NullDict] = {}
    # named address ranges services may reach or admit by name (`network.egress`/`ingress`)
    networks: Annotated[dict[Name, Networks], NullDict] = {}
    # managed databases' address ranges per engine (`infrastructure.database`)
    databases: Annotated[dict[Literal["postgres", "mysql"], ManagedDatabase], NullDict] = {}
    # shared namespaces (monitoring) that services may admit or reach by name; reserved,
    # like the ingress controller's, so no customer can be named like one
    platform_namespaces: Annotated[dict[Name, PlatformNamespace], NullDict] = {}
    # the ports pods may open to each shared peer (a host pool, network or platform
    # namespace, by name); none unless listed: a service's `network.egress` rule is
    # held to them, so no customer's layer can open its pods' way into the platform
    accepts: Annotated[
        dict[Name, Annotated[list[Port | PortRange], Field(min_length=1)]], NullDict
    ] = {}
    # namespaced kinds a customer's instances may render beyond the built-in tenant
    # allow-list (monitoring or OpenShift kinds, allowed on purpose; docs/policies.md)
    tenant_kinds: Annotated[list[ResourceKind], NullList] = []
    # namespaces the platform runs its own things in, beyond those the compiler knows
    # (models/customer.py): no customer may be named like one (`team-*`: a prefix)
    reserved_namespaces: Annotated[list[NamespacePattern], NullList] = []
    # where monitoring objects go, the labels Prometheus selects, Loki tenancy (issue 18)
    monitoring: EnvironmentMonitoring | None = None
    defaults: Annotated[Layer, NullDict] = {}
    services: Annotated[dict[Name, Layer], NullDict] = {}

    @model_validator(mode="after")
    def _awx_reads_the_inventory(self) -> Environment:
        """AWX's inventory source reads `ansible/inventory.yml`: without it AWX would
        sync an inventory file that is no longer rendered."""
        if self.awx is not None and "inventory" not in self.output.host_data:
            raise ValueError(
                "awx reads the Ansible inventory: output.host_data must list 'inventory' "
                "(or remove awx:)"
            )
        return self
