"""The catalog wing (the load, validate and resolve stages): the repository's YAML files
in; a validated, immutable `Catalog` and every resolved `Instance` (merged layers,
provenance, interpolation) out.

    load      loader.py                               files -> Documents with positions
    validate  models/, model_errors.py, validate.py   Documents -> Catalog, or every problem
    resolve   interpolate.py, resolver.py,            Catalog -> Instances keyed by id
              per_domain.py (`for_each: domains`)

`reachability.py` is declared reachability: every connection an instance makes or
accepts, which the renderer turns into NetworkPolicies and the network check evaluates.
`workloads.py` holds what each workload kind (Deployment, StatefulSet, DaemonSet, Job,
CronJob) accepts, and which service a hook Job runs for. `layout.py` says where each
kind of file lives and holds the `Catalog`. `tenancy.py` is the tenant boundary, what
one customer's file may reach (validate: hosts and domains; resolve: secret keys and
stores, ingress and DNS names, PTR addresses); its rules are public for checks over
rendered objects. `residency.py` keeps a customer's data in its residency (validate:
clusters, pins, own hosts; resolve: host pools), `versions.py` each cluster's Kubernetes
version one with schemas; `argo_names.py` names the ArgoCD objects (render's names;
validate: one object per name in each ArgoCD). `files.py` turns each configuration file
(`files:`) into the text that is mounted, so that resolve can hold it to its limits and
render packs the same text;
`emit.py` writes YAML and JSON text for it and for the writer. `terraform.py` reads each
environment's Terraform contract (its root module's variables.tf), `terraform_types.py`
holds a tfvars value to a declared type; render checks the tfvars it writes against it.
`shards.py` assigns customers (and so files and findings) to `--shard K/N`.
`identity.py` is single sign-on: a customer's realm, its clients' secret references and
`${customer.sso.*}` (resolve), and the realm and redirect-URI rules (validate).
This wing is the bottom of the pipeline: it imports nothing from render, output, check or review."""

from compiler.catalog import model_errors
from compiler.catalog.argo_names import (
    DASHBOARDS,
    NAMESPACES,
    PLATFORM_PROJECT,
    PROBES,
    REALMS,
    ArgoName,
    argo_name,
    argocd_key,
    catalog_names,
    dashboards_namespace,
    root_name,
)
from compiler.catalog.edges import EDGE_CONFIG_PATH, Routable, routable, routed
from compiler.catalog.emit import (
    Unsafe,
    Verbatim,
    data_digest,
    to_json,
    to_json_member,
    to_yaml,
)
from compiler.catalog.files import (
    CONFIG_VOLUME,
    HASH_ANNOTATION,
    RenderedFile,
    config_map_name,
    files_hash,
    rendered_files,
    secret_name,
    shown_placeholders,
)
from compiler.catalog.files import (
    MAX_BYTES as FILES_MAX_BYTES,
)
from compiler.catalog.identity import realm_name, secret_ref, secret_variable
from compiler.catalog.layout import (
    Catalog,
    CatalogFile,
    EntityKind,
    Source,
    catalog_files,
    find_root,
)
from compiler.catalog.loader import Document, YamlPath, load_document, parse_text, read_text
from compiler.catalog.models import (
    SECRET_KEY,
    Awx,
    Cluster,
    ConfigFile,
    Customer,
    Environment,
    Host,
    IsoDate,
    JobHook,
    Monitoring,
    Name,
    NullDict,
    NullList,
    Paging,
    Plan,
    PlanList,
    ResourceKind,
    Service,
    ServicePort,
    Settings,
    Slo,
    Strict,
    SyncWindow,
    Team,
    TeamList,
    WritablePath,
    at_window,
    awx_checkout,
    ingress_controller,
    port_spec,
    tenant_id,
)
from compiler.catalog.reachability import (
    INTERNET,
    PRIVATE_RANGES,
    Addresses,
    Connection,
    End,
    PathPort,
    Pods,
    connections,
    declared_networks,
    probing_cluster,
)
from compiler.catalog.resolver import (
    PLATFORM_NAMESPACE,
    Instance,
    Interpolated,
    Kept,
    merge,
    resolve,
)
from compiler.catalog.shards import Shard, customer_of_id, parse_shard, shard_of, sole_customer
from compiler.catalog.tenancy import (
    allowed_stores,
    dns_key,
    secret_prefix,
    store_kind,
    tenant_domains,
    within,
)
from compiler.catalog.terraform import Contract, Variable, load_contract, parse_contract
from compiler.catalog.terraform_types import Mismatch, TfType, mismatches, spelled
from compiler.catalog.validate import build_catalog
from compiler.catalog.workloads import RUN_TO_COMPLETION, SCALED, hook_of

__all__ = [
    "CONFIG_VOLUME",
    "DASHBOARDS",
    "EDGE_CONFIG_PATH",
    "FILES_MAX_BYTES",
    "HASH_ANNOTATION",
    "INTERNET",
    "NAMESPACES",
    "PLATFORM_NAMESPACE",
    "PLATFORM_PROJECT",
    "PRIVATE_RANGES",
    "PROBES",
    "REALMS",
    "RUN_TO_COMPLETION",
    "SCALED",
    "SECRET_KEY",
    "Addresses",
    "ArgoName",
    "Awx",
    "Catalog",
    "CatalogFile",
    "Cluster",
    "ConfigFile",
    "Connection",
    "Contract",
    "Customer",
    "Document",
    "End",
    "EntityKind",
    "Environment",
    "Host",
    "Instance",
    "Interpolated",
    "IsoDate",
    "JobHook",
    "Kept",
    "Mismatch",
    "Monitoring",
    "Name",
    "NullDict",
    "NullList",
    "Paging",
    "PathPort",
    "Plan",
    "PlanList",
    "Pods",
    "RenderedFile",
    "ResourceKind",
    "Routable",
    "Service",
    "ServicePort",
    "Settings",
    "Shard",
    "Slo",
    "Source",
    "Strict",
    "SyncWindow",
    "Team",
    "TeamList",
    "TfType",
    "Unsafe",
    "Variable",
    "Verbatim",
    "WritablePath",
    "YamlPath",
    "allowed_stores",
    "argo_name",
    "argocd_key",
    "at_window",
    "awx_checkout",
    "build_catalog",
    "catalog_files",
    "catalog_names",
    "config_map_name",
    "connections",
    "customer_of_id",
    "dashboards_namespace",
    "data_digest",
    "declared_networks",
    "dns_key",
    "files_hash",
    "find_root",
    "hook_of",
    "ingress_controller",
    "load_contract",
    "load_document",
    "merge",
    "mismatches",
    "model_errors",
    "parse_contract",
    "parse_shard",
    "parse_text",
    "port_spec",
    "probing_cluster",
    "read_text",
    "realm_name",
    "rendered_files",
    "resolve",
    "root_name",
    "routable",
    "routed",
    "secret_name",
    "secret_prefix",
    "secret_ref",
    "secret_variable",
    "shard_of",
    "shown_placeholders",
    "sole_customer",
    "spelled",
    "store_kind",
    "tenant_domains",
    "tenant_id",
    "to_json",
    "to_json_member",
    "to_yaml",
    "within",
]
