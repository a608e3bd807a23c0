"""The catalog's data model: what each catalog file may contain, strictly typed.

Input: plain data from the loader. Output: frozen pydantic objects. Every model forbids
unknown keys (the validate stage turns that into a did-you-mean) and is strict: a string
is never coerced into a number or the other way round, except Kubernetes quantities,
which people write both as `1` and `"500m"`.

Names of services, customers, environments, clusters, plans and teams are DNS-1123
labels. They become Kubernetes names and output paths, so this check is also what keeps
a name such as `../x` from ever reaching the writer.

One module per kind of catalog file, and two that they share:

    fields.py       constrained types (names, quantities, ports, dates), `Strict` base
    settings.py     `Settings`, the layered part of a service, and the `Layer` marker
    dns.py          `DnsRecord`, one record of `infrastructure.dns`, and its types' values
    jobs.py         `Job` (the `job:` settings of a Job or CronJob), the cron schedule
    windows.py      `SyncWindow`, a maintenance window (ArgoCD sync window)
    service.py      `Service`        catalog/services/<name>.yaml
    customer.py     `Customer`       catalog/customers/<name>.yaml
    environment.py  `Environment`    environments/<name>/environment.yaml
    plan.py         `PlanList`       catalog/plans.yaml
    team.py         `TeamList`       catalog/teams.yaml

Service defaults, plan presets, environment defaults and overrides, customer overrides
all have the shape of `Settings` and are merged by the resolver (see docs/catalog.md for
the order and the merge rules). Everything is re-exported here: import from
`compiler.catalog.models`. Class names must not change, the JSON Schemas in schemas/
name their `$defs` after them.
"""

from compiler.catalog.models.customer import (
    RESERVED_NAMES,
    Customer,
    CustomerEnvironment,
    reserved_because,
)
from compiler.catalog.models.dns import DnsRecord, IpAddress, RecordType, reverse_name
from compiler.catalog.models.environment import (
    DATABASE_PORTS,
    ArgoCD,
    Awx,
    AwxCheckout,
    Cluster,
    Environment,
    Host,
    IngressController,
    ManagedDatabase,
    PlatformNamespace,
    ResourceKind,
    SecretStore,
    Tls,
    awx_checkout,
    ingress_controller,
)
from compiler.catalog.models.fields import (
    PATTERN_DESCRIPTIONS,
    SECRET_KEY,
    BranchName,
    Cidr,
    CustomerPrefix,
    DnsName,
    EnvVarName,
    Image,
    IsoDate,
    KubernetesVersion,
    LabelKey,
    LabelValue,
    Name,
    NamespacePattern,
    NullDict,
    NullList,
    PlatformPrefix,
    Port,
    PortName,
    Protocol,
    Provider,
    Quantity,
    RecordName,
    RepoUrl,
    Residency,
    SecretKey,
    Strict,
    expand_prefix,
)
from compiler.catalog.models.jobs import CRON_ONLY, JOB_ONLY, Job, JobHook, cron_problem
from compiler.catalog.models.monitoring import (
    Alert,
    Blackbox,
    EnvironmentMonitoring,
    HostProbe,
    Loki,
    Monitoring,
    Paging,
    Scrape,
    Sli,
    Slo,
    at_window,
    tenant_id,
)
from compiler.catalog.models.plan import Plan, PlanList, Quota
from compiler.catalog.models.service import Service
from compiler.catalog.models.settings import (
    Autoscaling,
    Bucket,
    ConfigFile,
    ConfigValue,
    Database,
    DependencyUse,
    EgressRule,
    Infrastructure,
    Ingress,
    IngressRule,
    Layer,
    Network,
    Patch,
    PatchTarget,
    PortRange,
    Probe,
    Probes,
    ResourceAmounts,
    Resources,
    RulePeer,
    RunAs,
    SecretRef,
    ServicePort,
    Settings,
    Storage,
    VmSettings,
    WritablePath,
    port_spec,
)
from compiler.catalog.models.team import Team, TeamList
from compiler.catalog.models.windows import SyncWindow

__all__ = [
    "CRON_ONLY",
    "DATABASE_PORTS",
    "JOB_ONLY",
    "PATTERN_DESCRIPTIONS",
    "RESERVED_NAMES",
    "SECRET_KEY",
    "Alert",
    "ArgoCD",
    "Autoscaling",
    "Awx",
    "AwxCheckout",
    "Blackbox",
    "BranchName",
    "Bucket",
    "Cidr",
    "Cluster",
    "ConfigFile",
    "ConfigValue",
    "Customer",
    "CustomerEnvironment",
    "CustomerPrefix",
    "Database",
    "DependencyUse",
    "DnsName",
    "DnsRecord",
    "EgressRule",
    "EnvVarName",
    "Environment",
    "EnvironmentMonitoring",
    "Host",
    "HostProbe",
    "Image",
    "Infrastructure",
    "Ingress",
    "IngressController",
    "IngressRule",
    "IpAddress",
    "IsoDate",
    "Job",
    "JobHook",
    "KubernetesVersion",
    "LabelKey",
    "LabelValue",
    "Layer",
    "Loki",
    "ManagedDatabase",
    "Monitoring",
    "Name",
    "NamespacePattern",
    "Network",
    "NullDict",
    "NullList",
    "Paging",
    "Patch",
    "PatchTarget",
    "Plan",
    "PlanList",
    "PlatformNamespace",
    "PlatformPrefix",
    "Port",
    "PortName",
    "PortRange",
    "Probe",
    "Probes",
    "Protocol",
    "Provider",
    "Quantity",
    "Quota",
    "RecordName",
    "RecordType",
    "RepoUrl",
    "Residency",
    "ResourceAmounts",
    "ResourceKind",
    "Resources",
    "RulePeer",
    "RunAs",
    "Scrape",
    "SecretKey",
    "SecretRef",
    "SecretStore",
    "Service",
    "ServicePort",
    "Settings",
    "Sli",
    "Slo",
    "Storage",
    "Strict",
    "SyncWindow",
    "Team",
    "TeamList",
    "Tls",
    "VmSettings",
    "WritablePath",
    "at_window",
    "awx_checkout",
    "cron_problem",
    "expand_prefix",
    "ingress_controller",
    "port_spec",
    "reserved_because",
    "reverse_name",
    "tenant_id",
]
