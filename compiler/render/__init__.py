"""Stage 4, render: resolved instances in, the output files of one environment out.

Pure functions only: nothing here reads or writes files. Each `OutputFile` carries the
object to write, its path under the output folder, the instances it came from and the
catalog files it was made from (for the index and the generated-file header).

Path scheme (docs/output.md):
    <env>/kubernetes/<cluster>/<namespace>/<kind>-<name>.yaml             namespace-wide
    <env>/kubernetes/<cluster>/<namespace>/<service>/<kind>-<name>.yaml   one instance
    .../kustomization.yaml            in each of those folders, listing its objects
    <env>/argocd/<cluster>/root.yaml                                      app-of-apps
    <env>/argocd/<cluster>/apps/<kind>-<name>.yaml                        projects, apps
    <env>/argocd/<cluster>/customers/<namespace>/kustomization.yaml       per-customer apps
    <env>/kubernetes/<cluster>/kustomization.yaml              per-customer: the namespaces
    <env>/argocd/[<cluster>/]argocd-cm.patch.yaml            the ArgoCD settings relied on
    <env>/terraform/catalog.auto.tfvars.json
    <env>/ansible/inventory.yml           with `output.host_data` listing `inventory` (default)
    <env>/hiera.yaml, <env>/hieradata/nodes/<fqdn>.yaml     listing `hiera` (render/hiera.py)
    <env>/awx/controller.yml              with an `awx:` block: project, inventory, source
Render makes one file per object, the `objects` layout; the default `documents` layout
packs each folder's objects into one `manifests.yaml` and each customer's projects and
apps into `apps/<customer>.yaml` (output/layout.py), after the checks have read them.
Every segment is a validated DNS-1123 name or a fixed word, so no path can escape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from compiler.catalog import (
    NAMESPACES,
    PLATFORM_NAMESPACE,
    PLATFORM_PROJECT,
    PRIVATE_RANGES,
    PROBES,
    REALMS,
    Catalog,
    Cluster,
    Connection,
    Environment,
    Instance,
    argo_name,
    connections,
    customer_of_id,
    dashboards_namespace,
    hook_of,
)
from compiler.errors import Location, Problem
from compiler.render import (
    ansible,
    argocd,
    awx,
    edge,
    hiera,
    hooks,
    identity,
    kubernetes,
    mail_tls,
    monitoring,
    network,
    retention,
    shares,
    terraform,
)
from compiler.render.kubernetes import exposed_services
from compiler.render.meta import CUSTOMER_LABEL, labels
from compiler.render.network import derived_network_policies
from compiler.render.patches import apply_patches, extra_objects
from compiler.render.reserved import Reserved, argo_digests, object_digests
from compiler.render.retention import KEEP, SYNC_OPTIONS
from compiler.render.scope import (
    MONITORING_KINDS,
    PLATFORM_KINDS,
    TENANT_KINDS,
    allowed_kinds,
    api_group,
    group_kind,
)
from compiler.render.shares import Share, Unstorable, from_bytes, share_digest, to_bytes
from compiler.render.slo_tests import unit_tests as slo_unit_tests


@dataclass(frozen=True, slots=True)
class OutputFile:
    path: str
    data: Any
    format: Literal["yaml", "json", "documents"]  # documents: output/layout.py
    instances: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass
class SharedFiles:
    """How `render_environment` treats the files an environment's customers share (the
    platform's folders and Applications, the realms, the namespaces' kustomization,
    dashboards, probes, the platform's project, the root Applications, the ArgoCD
    settings, tfvars, inventory, Hiera and AWX): made from every customer's share
    (render/shares.py) and inputs no customer owns, so an incremental compile keeps
    them when none of those changed (pipeline/units.py).

    `keep` is called once every share is at hand (the customers' and the platform's,
    under None): it returns the digests of every object kept (render/reserved.py),
    the shared files' included, if the shared files the last compile left are the ones
    these shares make, else None (they are rendered). `kept` says which it was; `made`
    receives the path of each file rendered where a shared file is made (before
    packing), for the caller to check that those, and only those, are the files no
    customer owns."""

    keep: Callable[[Mapping[str | None, shares.Share]], Reserved | None] | None = None
    kept: bool = False
    made: list[str] = dataclasses.field(default_factory=list)


__all__ = [
    "CUSTOMER_LABEL",
    "KEEP",
    "MONITORING_KINDS",
    "PLATFORM_KINDS",
    "PRIVATE_RANGES",
    "SYNC_OPTIONS",
    "TENANT_KINDS",
    "Identity",
    "KeptRendered",
    "OutputFile",
    "Reserved",
    "Share",
    "SharedFiles",
    "Unstorable",
    "allowed_kinds",
    "api_group",
    "argo_digests",
    "derived_network_policies",
    "exposed_services",
    "from_bytes",
    "group_kind",
    "identities",
    "labels",
    "object_digests",
    "render_environment",
    "share_digest",
    "slo_unit_tests",
    "sources_of",
    "sync_waves",
    "to_bytes",
]


def _object_file(
    directory: str, obj: dict[str, Any], instances: tuple[str, ...], sources: tuple[str, ...]
) -> OutputFile:
    return OutputFile(
        f"{directory}/{obj['kind'].lower()}-{obj['metadata']['name']}.yaml",
        obj,
        "yaml",
        instances,
        sources,
    )


def _kustomization(
    directory: str, files: list[OutputFile], folders: Sequence[OutputFile] = ()
) -> OutputFile:
    """Lets `kubectl kustomize` / `kubectl apply -k` (and ArgoCD) take any rendered folder;
    `folders` are the kustomizations of sibling folders it takes in too (the hooks that
    run in its Application). It stays the file of its folder's instance; the catalog
    files behind the folders it takes in are among its sources."""
    names = sorted(f.path.rsplit("/", 1)[1] for f in files if f.path.rsplit("/", 1)[0] == directory)
    names += sorted(f"../{folder.path.split('/')[-2]}" for folder in folders)
    own = [f for f in files if f.path.rsplit("/", 1)[0] == directory]
    instances = sorted({i for f in own for i in f.instances})
    sources = sorted({s for f in [*own, *folders] for s in f.sources})
    return OutputFile(
        f"{directory}/kustomization.yaml",
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": names,
        },
        "yaml",
        tuple(instances),
        tuple(sources),
    )


def sources_of(catalog: Catalog, instance: Instance) -> tuple[str, ...]:
    files = {layer.source.file for layer in instance.layers}
    files.add(catalog.source("service", instance.service).file)
    files.add(catalog.source("environment", instance.environment).file)
    if instance.customer:
        files.add(catalog.source("customer", instance.customer).file)
    return tuple(sorted(files))


def sync_waves(catalog: Catalog) -> dict[str, int]:
    """Sync wave per service: its depth in the dependency graph (validated acyclic)."""
    waves: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in waves:
            waves[name] = 1 + max((depth(d) for d in catalog.services[name].depends_on), default=-1)
        return waves[name]

    for name in catalog.services:
        depth(name)
    return waves


def render_environment(
    catalog: Catalog,
    env: Environment,
    instances: Sequence[Instance],
    repo_path: str = "rendered",
    skip: frozenset[tuple[str, str]] = frozenset(),
    reserved: Reserved | None = None,
    kept_folders: Mapping[
        tuple[str, str, str], tuple[frozenset[tuple[str, str]], tuple[str, ...]]
    ] = MappingProxyType({}),
    connected: Sequence[Connection] | None = None,
    kept_shares: Mapping[str, shares.Share] = MappingProxyType({}),
    made_shares: dict[str, shares.Share] | None = None,
    shared: SharedFiles | None = None,
) -> tuple[list[OutputFile], list[Problem]]:
    """Every output file of one environment, and the problems patches or extras raised.

    `skip` names (cluster, customer) pairs whose own files (its service folders, its
    Applications and project) an incremental compile keeps from the last compile
    (pipeline/units.py): they are not rendered, nor is their namespace's folder.
    Everything the environment shares is: the platform's objects, tfvars and inventory
    (the platform's project still counts the kept namespaces). `reserved` are
    the digests of the objects kept, Kubernetes and ArgoCD ones (render/reserved.py),
    so that a rendered object that takes one's name, node port or path is refused as
    if both were rendered. `kept_folders`
    names the (cluster, customer, service) folders kept in customers that are rendered:
    with the group/kinds of their objects (for the customer's AppProject) and the
    sources of their kustomization (for the one of the service a hook runs for).
    `connected`: the environment's connections among `instances`, when resolve found
    them already (catalog/reachability.py `connections`); else they are found here.

    `kept_shares`: the customers an incremental compile did not resolve (none of their
    instances are among `instances`; every unit of theirs is skipped), with what they
    give the files customers share, as the last compile recorded it (render/shares.py);
    `made_shares` receives that of every customer rendered, to record. With customers
    kept so, any problem makes the caller render the environment whole
    (`KeptRendered`): its wording may need a kept customer's catalog lines.

    `shared`: whether the files customers share are kept rather than rendered (and
    which are made where, `SharedFiles`). Kept, none of them is rendered, nor any
    problem they would find: the last compile made the same files from the same
    shares and inputs, and found none."""
    files: list[OutputFile] = []
    problems: list[Problem] = []
    env_file = catalog.source("environment", env.name).file
    # each ArgoCD object rendered, as a kept one's is compared (render/reserved.py)
    argo_rendered: list[tuple[str, tuple[Any, ...]]] = []
    # problems were reported by the resolve stage; what remains renders as declared
    kept_routable = [r for share in kept_shares.values() for r in share.routable]
    routing = [*instances, *kept_routable]  # what the edges route (catalog/edges.py)
    if connected is None:
        connected = connections(catalog, env, instances, kept_routable)[0]
    by_id = {instance.id: instance for instance in instances}
    sides = network.sides_by_instance(connected)
    declared = shares.declared_sides(sides)  # before the kept customers' are added
    _add_kept_sides(sides, kept_shares, by_id)
    waves = sync_waves(catalog)
    sources = {instance.id: sources_of(catalog, instance) for instance in instances}
    kept_members = [m for share in kept_shares.values() for m in share.members]
    sources.update((member.id, member.sources) for member in kept_members)
    # an edge on Kubernetes is made from the instances it routes (issue 18): their files
    # are among its sources, so that a customer added shows in its ConfigMap's review
    for kube_edge in (i for i in instances if i.settings.edge and i.clusters):
        routes_of = set(kube_edge.settings.edge.routes)  # type: ignore[union-attr]
        sources[kube_edge.id] = tuple(
            sorted(
                {*sources[kube_edge.id]}.union(
                    *(sources[i.id] for i in instances if i.service in routes_of),
                    *(m.sources for m in kept_members if m.service in routes_of),
                )
            )
        )
    # what each customer (and the platform) gives the files they share: made here for
    # the instances rendered, kept for the customers not resolved (shares.py)
    by_customer: dict[str | None, list[Instance]] = {}
    for instance in instances:
        by_customer.setdefault(instance.customer, []).append(instance)
    made = {
        customer: shares.share_of(catalog, env, group, sources, declared)
        for customer, group in by_customer.items()
    }
    if made_shares is not None:
        made_shares.update((c, share) for c, share in made.items() if c is not None)
    every = [*made.values(), *kept_shares.values()]
    keeping = False  # the files customers share: kept, not rendered
    if shared is not None and shared.keep is not None:
        with_shared = shared.keep(made)
        if with_shared is not None:
            reserved, keeping = with_shared, True
        shared.kept = keeping
    made_shared = shared.made if shared is not None else []  # their paths, rendered
    all_members = sorted((m for share in every for m in share.members), key=_id_of)
    per_customer = env.argocd.applications == "per-customer"
    for cluster in env.clusters:
        members = [i for i in instances if cluster.name in i.clusters]
        on_cluster = [m for m in all_members if cluster.name in m.clusters]
        kept_namespaces_here: dict[str, list[shares.Member]] = {}
        for member in kept_members:
            if cluster.name in member.clusters and member.namespace is not None:
                kept_namespaces_here.setdefault(member.namespace, []).append(member)
        base = f"{env.name}/kubernetes/{cluster.name}"
        apps_dir = f"{env.name}/argocd/{cluster.name}/apps"
        platform_project = argo_name(env, cluster, PLATFORM_PROJECT)
        argo: list[
            tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]
        ] = []  # obj, ids, sources
        shared_argo: set[int] = set()  # the positions in `argo` of shared objects
        by_namespace: dict[str, list[Any]] = {}  # its instances (a kept one's members)
        for instance in members:  # grouped once: one pass per namespace would be quadratic
            by_namespace.setdefault(instance.namespace, []).append(instance)
        for namespace, kept_here in kept_namespaces_here.items():
            if namespace in by_namespace or (cluster.name, namespace) not in skip:
                raise KeptRendered(f"{base}/{namespace}: a kept customer's namespace")
            by_namespace[namespace] = sorted(kept_here, key=_id_of)
        platform_kinds: set[tuple[str, str]] = set()
        platform_ids: list[str] = []
        platform_sources: set[str] = {env_file}
        kept_namespaces: list[tuple[tuple[str, ...], tuple[str, ...]]] = []  # ids, sources
        for namespace, in_namespace in sorted(by_namespace.items()):
            ids = tuple(i.id for i in in_namespace)
            customer = catalog.customers.get(namespace) if namespace != PLATFORM_NAMESPACE else None
            if customer is None and keeping:  # the platform's: shared, kept
                continue
            first_file, first_argo = len(files), len(argo)
            plan = catalog.plans[customer.plan] if customer else None
            ns_sources = tuple(
                sorted(
                    {
                        env_file,
                        *([catalog.source("customer", customer.name).file] if customer else []),
                    }
                )
            )
            namespace_objects = kubernetes.namespace_objects(env, namespace, customer, plan)
            # the namespace and what it gets before any workload: the platform's project
            platform_kinds |= {group_kind(o) for o in namespace_objects if o["kind"] != "Namespace"}
            platform_ids += ids
            platform_sources.update(ns_sources)
            if customer is not None and (cluster.name, namespace) in skip:
                # kept as the last compile left them (see above), its namespace's folder too
                kept_namespaces.append((ids, ns_sources))
                continue
            namespace_files = [
                _object_file(f"{base}/{namespace}", obj, ids, ns_sources)
                for obj in namespace_objects
            ]
            files += [*namespace_files, _kustomization(f"{base}/{namespace}", namespace_files)]
            if not per_customer:  # per customer: in the cluster's one namespaces Application
                namespace_app = argocd.application(
                    env,
                    cluster,
                    argo_name(env, cluster, namespace),
                    platform_project,
                    f"{repo_path}/{base}/{namespace}",
                    namespace,
                    argocd.NAMESPACE_WAVE,
                )
                argo.append((namespace_app, ids, ns_sources))
            project = argo_name(env, cluster, customer.name) if customer else platform_project
            kinds = platform_kinds if customer is None else set()
            allowed = allowed_kinds(env, platform=customer is None)
            suspended = customer is not None and customer.status == "suspended"
            # hook Jobs run in the Application of the service they name (render/hooks.py):
            # their folders first, so that its kustomization can take them in
            hooked: dict[str, list[OutputFile]] = {}
            ordered = sorted(
                in_namespace,
                key=lambda i: hook_of(catalog.services[i.service], i.settings) is None,
            )
            deployed: list[Instance] = []  # the instances with an Application of their own
            for instance in ordered:
                if instance.cluster_settings:  # its values name the cluster: this one's
                    instance = dataclasses.replace(instance, settings=instance.on(cluster.name))
                if instance.settings.edge is not None:  # its configuration: this cluster's
                    instance = dataclasses.replace(
                        instance,
                        settings=edge.kubernetes_settings(
                            env, instance, cluster, routing, catalog.customers
                        ),
                    )
                    problems += edge.size_problems(instance, cluster, sources[instance.id][0])
                service = catalog.services[instance.service]
                hook = hook_of(service, instance.settings)
                directory = f"{base}/{namespace}/{instance.service}"
                taken_in = hooked.get(instance.service, [])
                folder = kept_folders.get((cluster.name, namespace, instance.service))
                if customer is not None and folder is not None:  # kept: as if rendered
                    kinds |= folder[0] & allowed
                    kustomization = OutputFile(
                        f"{directory}/kustomization.yaml", {}, "yaml", (instance.id,), folder[1]
                    )
                else:
                    customer_model = (
                        catalog.customers.get(instance.customer) if instance.customer else None
                    )
                    objects = kubernetes.workload_objects(
                        instance, service, env, customer_model, cluster
                    )
                    objects += network.policies(instance, cluster.name, sides.get(instance.id, ()))
                    objects += monitoring.monitoring_objects(
                        instance, env, catalog.teams.get(service.owner)
                    )
                    objects = monitoring.with_log_tenant(objects, instance, env)
                    extras, found = extra_objects(instance)
                    objects += extras
                    found += retention.protect(objects, _locator(instance, sources[instance.id][0]))
                    if hook is not None:
                        objects = hooks.as_hook(objects, service.name, hook, suspended)
                    objects, patched = apply_patches(
                        objects, instance, kubernetes.NOT_RENDERED[cluster.flavour]
                    )
                    objects = hooks.content_named(objects, service.name)  # a plain Job's name
                    if per_customer:  # one Application: the service order is its objects' waves
                        runs_for = hook.service if hook is not None else instance.service
                        objects = hooks.in_waves(objects, hooks.WAVE_STEP * waves[runs_for])
                    problems += found + patched
                    problems += retention.weakened(
                        objects, _locator(instance, sources[instance.id][0], patched=True)
                    )
                    # derived, not fixed: the allowed kinds this project's Applications render
                    kinds |= {group_kind(obj) for obj in objects} & allowed
                    instance_files = [
                        _object_file(directory, obj, (instance.id,), sources[instance.id])
                        for obj in objects
                    ]
                    kustomization = _kustomization(directory, instance_files, taken_in)
                    files += [*instance_files, kustomization]
                if hook is not None:  # no Application: it runs in its service's
                    hooked.setdefault(hook.service, []).append(kustomization)
                    continue
                deployed.append(instance)
                if per_customer:
                    continue
                application = argocd.application(
                    env,
                    cluster,
                    argo_name(env, cluster, namespace, instance.service),
                    project,
                    f"{repo_path}/{directory}",
                    namespace,
                    waves[instance.service],
                    [".", *(f"../{k.path.split('/')[-2]}" for k in taken_in)],
                )
                argo.append((application, (instance.id,), sources[instance.id]))
            if per_customer and deployed:
                folder, application = _customer_application(
                    env, cluster, repo_path, namespace, project, deployed, in_namespace, sources
                )
                files.append(folder)
                argo.append((application, folder.instances, folder.sources))
            if customer:
                windows = [
                    *env.argocd.sync_windows,
                    *customer.sync_windows,
                    *(
                        customer.environments[env.name].sync_windows
                        if env.name in customer.environments
                        else []
                    ),
                ]
                argo.append(
                    (
                        argocd.app_project(
                            env,
                            cluster,
                            project,
                            [namespace],
                            f"{customer.display_name or customer.name} on {cluster.name}",
                            kinds,
                            windows=windows,
                        ),
                        ids,
                        ns_sources,
                    )
                )
            if customer is None:  # no customer's namespace: its files are shared
                made_shared.extend(f.path for f in files[first_file:])
                shared_argo.update(range(first_argo, len(argo)))
        if not keeping:  # the platform's objects on the cluster (shared)
            first_file, first_argo = len(files), len(argo)
            customers_here = {customer_of_id(m.id) for m in on_cluster} - {None}
            realms = _realm_files(
                catalog, env, cluster, customers_here, repo_path, platform_project
            )
            if realms is not None:
                realm_files, application = realms
                files += realm_files
                argo.append((application, (), realm_files[-1].sources))
                platform_kinds |= identity.KINDS
            if by_namespace and per_customer:  # every namespace of the cluster, before the rest
                namespaces = _namespaces_folder(base, sorted(by_namespace), files, kept_namespaces)
                files.append(namespaces)
                namespaces_app = argocd.application(
                    env,
                    cluster,
                    argo_name(env, cluster, NAMESPACES),
                    platform_project,
                    f"{repo_path}/{base}",
                    PLATFORM_NAMESPACE,
                    argocd.NAMESPACE_WAVE,
                )
                argo.append((namespaces_app, tuple(platform_ids), tuple(sorted(platform_sources))))
            shown = [d for share in every for d in share.dashboards if cluster.name in d.clusters]
            dashboards = _dashboards(
                env, cluster, base, repo_path, on_cluster, shown, platform_project, env_file
            )
            if dashboards is not None:
                files += dashboards[0]
                argo.append(dashboards[1])
                platform_kinds.add(("", "ConfigMap"))
            probed = sorted(
                (p for share in every for p in share.probes if p.cluster == cluster.name),
                key=_id_of,
            )
            probes = _probes(
                catalog, env, cluster, base, repo_path, probed, sources, platform_project
            )
            if probes is not None and not by_namespace and probes[1][1]:
                # no instance here, so no platform project to sync them (argo_names.py)
                problems.append(
                    Problem(
                        catalog.source("environment", env.name).locate("monitoring", "blackbox"),
                        f"cluster {cluster.name} probes {', '.join(probes[1][1])} but runs no "
                        "instance, so it has no platform Application to sync the probes with",
                        "run something on it, or give the hosts' residency to a cluster that does",
                    )
                )
            if probes is not None and by_namespace:
                files += probes[0]
                argo.append(probes[1])
                platform_kinds |= {
                    group_kind(f.data) for f in probes[0][:-1]
                }  # not its kustomization
                platform_ids += probes[1][1]
            if by_namespace:
                destinations = set(by_namespace) | ({PLATFORM_NAMESPACE} if per_customer else set())
                if dashboards is not None:
                    destinations.add(dashboards[1][0]["spec"]["destination"]["namespace"])
                if probes is not None:
                    destinations.add(probes[1][0]["spec"]["destination"]["namespace"])
                if realms is not None and env.identity is not None:  # the Keycloak namespace
                    destinations.add(env.identity.namespace)
                argo.append(
                    (
                        argocd.app_project(
                            env,
                            cluster,
                            platform_project,
                            sorted(destinations),
                            f"namespaces and environment-wide services on {cluster.name}",
                            platform_kinds,
                            [("", "Namespace")],
                            env.argocd.sync_windows,
                        ),
                        tuple(platform_ids),
                        tuple(sorted(platform_sources)),
                    )
                )
            made_shared.extend(f.path for f in files[first_file:])
            shared_argo.update(range(first_argo, len(argo)))
        for position, (obj, owners, owner_sources) in enumerate(argo):
            metadata = obj["metadata"]
            # a kept customer's ArgoCD objects: one rendered again (a platform object the
            # customer's apps file held while it was the cluster's only one) is a clash
            argo_rendered.append(
                (
                    f"{apps_dir}: {obj['kind']} {metadata['name']}",
                    ("a", cluster.name, obj["kind"], metadata.get("namespace"), metadata["name"]),
                )
            )
            files.append(_object_file(apps_dir, obj, owners, owner_sources))
            if position in shared_argo:
                made_shared.append(files[-1].path)
        if keeping:  # its root Application is shared
            problems += _label_limit(catalog, env, [obj for obj, _, _ in argo])
            continue
        root = argocd.root_application(env, cluster, f"{repo_path}/{apps_dir}")
        files.append(
            OutputFile(f"{env.name}/argocd/{cluster.name}/root.yaml", root, "yaml", (), (env_file,))
        )
        made_shared.append(files[-1].path)
        problems += _label_limit(catalog, env, [*(obj for obj, _, _ in argo), root])
    clash = reserved.first_taken(argo_rendered) if reserved else None
    if clash is not None:  # before the files customers share are made from kept shares
        raise KeptRendered(clash)
    if not keeping:  # the files customers share, environment-wide
        first_file = len(files)
        for path in sorted({argocd.settings_path(env, cluster) for cluster in env.clusters}):
            files.append(OutputFile(path, argocd.settings(env), "yaml", (), (env_file,)))
        all_ids = tuple(m.id for m in all_members)
        all_sources = tuple(sorted({s for files in sources.values() for s in files} | {env_file}))
        tfvars = terraform.tfvars_of(
            env,
            catalog.customers,
            {c for m in all_members if (c := customer_of_id(m.id)) is not None},
            _tables(every),
        )
        files.append(
            OutputFile(
                f"{env.name}/terraform/catalog.auto.tfvars.json",
                tfvars,
                "json",
                all_ids,
                all_sources,
            )
        )
        problems += terraform.contract_problems(
            catalog,
            env,
            catalog.terraform.get(env.name),
            tfvars,
            terraform.origins(catalog, env, instances),
        )
        # the edges' routing tables are made from the instances they route (issue 18): those
        # are among the inventory's instances and sources, so that a customer added to the
        # catalog changes the edges' configuration in a review, and nothing else does
        routed = {
            s for i in instances if i.settings.edge and i.hosts for s in i.settings.edge.routes
        }
        vm_ids = tuple(m.id for m in all_members if m.hosts or m.service in routed)
        # the inventory names only the files that reach it (issue 15): with every catalog
        # file of the environment in its header, a Kubernetes-only customer would change
        # inventory.yml, and make a publish commit and an AWX sync for nothing
        vm_sources = tuple(sorted({s for i in vm_ids for s in sources[i]} | {env_file}))
        # made from several instances at once: each edge host's configuration, each host's
        # certificate and Postfix's STARTTLS settings
        env_source = catalog.source("environment", env.name)
        host_vars, edge_problems = edge.host_files(
            env,
            instances,
            catalog.customers,
            lambda index, *path: env_source.locate("clusters", index, *path),
            kept_routable,
        )
        problems += edge_problems
        tls_vars, tls_problems = mail_tls.host_vars(
            env, [t for share in every for t in share.tls], _settings_line(by_id)
        )
        problems += tls_problems
        for host, extra in tls_vars.items():
            host_vars.setdefault(host, {}).update(extra)
        vms = sorted((v for share in every for v in share.vms), key=_id_of)
        if "inventory" in env.output.host_data:
            files.append(
                OutputFile(
                    f"{env.name}/ansible/inventory.yml",
                    ansible.inventory(env, vms, host_vars),
                    "yaml",
                    vm_ids,
                    vm_sources,
                )
            )
        if "hiera" in env.output.host_data:
            files += _hiera_files(env, all_members, vms, sources, env_file, host_vars, routed)
        if env.awx is not None:
            files.append(
                OutputFile(
                    f"{env.name}/awx/controller.yml",
                    awx.definitions(env, env.awx, repo_path),
                    "yaml",
                    (),
                    (env_file,),
                )
            )
        made_shared.extend(f.path for f in files[first_file:])
    problems += terraform.key_collisions(instances, env_file)
    problems += _duplicates(files, env_file, by_id, reserved)
    if kept_shares and problems:  # worded as a whole render words them
        raise KeptRendered(f"{env.name}: {len(problems)} problems with customers kept")
    return files, problems


def _id_of(entry: Any) -> str:
    return entry.id


def _add_kept_sides(
    sides: dict[str, list[network.Side]],
    kept: Mapping[str, shares.Share],
    by_id: Mapping[str, Instance],
) -> None:
    """Add the connections kept customers declare to or from platform instances to
    those instances' sides, in the order one resolve of every customer finds them (by
    the declaring instance's id; each instance's own in the order it declares them)."""
    more: dict[str, list[network.Side]] = {}
    for share in kept.values():
        for side in share.sides:
            connection = shares.connection_of(side.connection, by_id)
            more.setdefault(side.instance, []).append((side.direction, connection))
    for instance_id, added in more.items():
        if instance_id not in by_id:  # only a rendered (platform) instance takes them
            raise KeptRendered(f"{instance_id}: a kept customer's connection")
        sides[instance_id] = sorted(
            [*sides.get(instance_id, ()), *added], key=lambda side: side[1].declared_by.id
        )


def _tables(every: Sequence[shares.Share]) -> dict[str, dict[str, Any]]:
    """Every share's tfvars entries, per variable. A key two customers give is a problem
    (terraform.key_collisions words it among rendered instances); one a kept customer
    gives too makes the environment render whole, where it is worded so."""
    tables: dict[str, dict[str, Any]] = {}
    for share in every:
        for table, entries in share.tfvars.items():
            merged = tables.setdefault(table, {})
            if share.kept and not merged.keys().isdisjoint(entries):
                raise KeptRendered(f"tfvars {table}: a key of a kept customer's")
            merged.update(entries)
    return tables


def _settings_line(by_id: Mapping[str, Instance]) -> mail_tls.Locate:
    """The line that wrote a path of a rendered instance's settings; a kept one's is not
    known here (the environment is then rendered whole: `render_environment`)."""

    def locate(instance_id: str, path: tuple[str, ...]) -> Location:
        instance = by_id.get(instance_id)
        if instance is None:
            raise KeptRendered(f"{instance_id}: a kept customer's settings")
        return instance.origin(path).location or Location("")

    return locate


def _realm_files(
    catalog: Catalog,
    env: Environment,
    cluster: Cluster,
    here: Iterable[str],
    repo_path: str,
    project: str,
) -> tuple[list[OutputFile], dict[str, Any]] | None:
    """The realms of the customers with single sign-on whose instances run on `cluster`
    (`here`) (render/identity.py), in `<env>/kubernetes/<cluster>/<identity.namespace>/
    realms/`, and their Application in the platform's project; None when there are
    none. The files are the platform's (no instance), made from the customers' files."""
    if env.identity is None:
        return None
    names = sorted(here)
    customers = [catalog.customers[n] for n in names if catalog.customers[n].sso is not None]
    if not customers:
        return None
    env_file = catalog.source("environment", env.name).file
    directory = f"{env.name}/kubernetes/{cluster.name}/{env.identity.namespace}/{REALMS}"
    files = [
        _object_file(
            directory,
            identity.realm_import(env, customer),
            (),
            tuple(sorted({catalog.source("customer", customer.name).file, env_file})),
        )
        for customer in customers
    ]
    every = tuple(sorted({s for f in files for s in f.sources}))
    files.append(_object_file(directory, identity.client_secrets(env, customers), (), every))
    files.append(_kustomization(directory, files))
    application = argocd.application(
        env,
        cluster,
        argo_name(env, cluster, env.identity.namespace, REALMS),
        project,
        f"{repo_path}/{directory}",
        env.identity.namespace,
        0,
    )
    return files, application


def _hiera_files(
    env: Environment,
    instances: Sequence[shares.Member],
    vms: Sequence[ansible.VmEntry],
    sources: dict[str, tuple[str, ...]],
    env_file: str,
    host_vars: Mapping[str, Mapping[str, Any]],
    routed: set[str],
) -> list[OutputFile]:
    """`hiera.yaml` and a node file per host (render/hiera.py); each node file names
    only the instances on that host and the catalog files behind them, so a customer
    added to one relay pool changes only those relays' files. An edge host's file also
    names the instances it routes (its configuration is made from them), as the
    inventory does."""
    on_host: dict[str, list[str]] = {}
    for instance in instances:
        for host in instance.hosts:
            on_host.setdefault(host, []).append(instance.id)
    routed_ids = [i.id for i in instances if i.service in routed]
    for fqdn, extra in host_vars.items():
        if fqdn in on_host and "gitopsc_edge_routes" in extra:
            on_host[fqdn] += routed_ids
    files = [
        OutputFile(
            f"{env.name}/{hiera.HIERA_CONFIG}", hiera.hiera_config(), "yaml", (), (env_file,)
        )
    ]
    for fqdn, data in hiera.nodes(env, vms, host_vars).items():
        ids = tuple(sorted(set(on_host[fqdn])))
        node_sources = tuple(sorted({s for i in ids for s in sources[i]} | {env_file}))
        files.append(OutputFile(hiera.node_path(env, fqdn), data, "yaml", ids, node_sources))
    return files


def _customer_application(
    env: Environment,
    cluster: Cluster,
    repo_path: str,
    namespace: str,
    project: str,
    deployed: Sequence[Instance],
    in_namespace: Sequence[Instance],
    sources: dict[str, tuple[str, ...]],
) -> tuple[OutputFile, dict[str, Any]]:
    """Per-customer granularity: one Application for a namespace's services on a
    cluster, reading a kustomization that takes in each service's folder (each of which
    takes in its hooks), from `<env>/argocd/<cluster>/customers/<namespace>/`, next to
    the Applications rather than in the namespace's folder, whose kustomization holds
    the namespace's own objects (the platform's, not the customer's project)."""
    directory = f"{env.name}/argocd/{cluster.name}/customers/{namespace}"
    up = f"../../../../kubernetes/{cluster.name}/{namespace}"
    ids = tuple(i.id for i in in_namespace)
    folder = OutputFile(
        f"{directory}/kustomization.yaml",
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": sorted(f"{up}/{i.service}" for i in deployed),
        },
        "yaml",
        ids,
        tuple(sorted({s for i in in_namespace for s in sources[i.id]})),
    )
    application = argocd.application(
        env,
        cluster,
        argo_name(env, cluster, namespace),
        project,
        f"{repo_path}/{directory}",
        namespace,
        # the environment-wide services first: customers' services may depend on them
        0 if namespace == PLATFORM_NAMESPACE else 1,
        # the hooks' folders too: a changed migration must refresh the Application
        [".", *sorted(f"{up}/{i.service}" for i in in_namespace)],
    )
    return folder, application


def _dashboards(
    env: Environment,
    cluster: Cluster,
    base: str,
    repo_path: str,
    members: Sequence[shares.Member],
    shown: Sequence[monitoring.Shown],
    project: str,
    env_file: str,
) -> tuple[list[OutputFile], tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]] | None:
    """The services' dashboards on `cluster` (render/monitoring.py), in a folder of the
    dashboards namespace with an Application of the platform's project: on every cluster
    with instances, where the environment declares monitoring (with an empty folder
    when no instance there has monitoring, so that the Application is known from the
    catalog alone: catalog/argo_names.py). They belong to no one instance (a service's
    dashboard shows every customer), so they name none; the catalog files of the
    instances they show are their sources."""
    namespace = dashboards_namespace(env)
    if namespace is None or not members:
        return None
    directory = f"{base}/{namespace}/{monitoring.DASHBOARDS_FOLDER}"
    files = []
    for obj in monitoring.dashboards(env, shown):
        service = obj["metadata"]["labels"]["app.kubernetes.io/name"]
        made_of = sorted({s for i in members if i.service == service for s in i.sources})
        files.append(_object_file(directory, obj, (), tuple(made_of)))
    kustomization = _kustomization(directory, files)  # the environment says where
    files.append(dataclasses.replace(kustomization, sources=(*kustomization.sources, env_file)))
    application = argocd.application(
        env,
        cluster,
        argo_name(env, cluster, namespace, monitoring.DASHBOARDS_FOLDER),
        project,
        f"{repo_path}/{directory}",
        namespace,
        0,  # with the services: a dashboard needs nothing before it, and nothing needs it
    )
    all_sources = tuple(sorted({s for f in files for s in f.sources}))
    return files, (application, (), all_sources)


def _probes(
    catalog: Catalog,
    env: Environment,
    cluster: Cluster,
    base: str,
    repo_path: str,
    probed: Sequence[shares.Probed],
    sources: dict[str, tuple[str, ...]],
    project: str,
) -> tuple[list[OutputFile], tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]] | None:
    """The VM instances' Probes and PrometheusRules (render/monitoring.py) probed from
    `cluster`, in a folder of the monitoring namespace with an Application of the
    platform's project: on every cluster with instances, where the environment declares
    a blackbox exporter (empty when nothing is probed from there, so that the
    Application is known from the catalog alone: catalog/argo_names.py). Each object is
    its instance's (its id and catalog files), as a service folder's are."""
    if env.monitoring is None or env.monitoring.blackbox is None:
        return None
    namespace = env.monitoring.namespace
    directory = f"{base}/{namespace}/{PROBES}"
    files = [
        _object_file(directory, obj, (entry.id,), sources[entry.id])
        for entry in probed  # the probes of VM instances probed from `cluster` (shares.py)
        for obj in entry.objects
    ]
    kustomization = _kustomization(directory, files)
    env_file = catalog.source("environment", env.name).file
    # the folder's list is no one instance's (as the dashboards'): a customer added to
    # it changes it, and a diff of that customer alone must not call it the customer's
    files.append(
        dataclasses.replace(
            kustomization,
            instances=(),
            sources=tuple(sorted({*kustomization.sources, env_file})),
        )
    )
    application = argocd.application(
        env,
        cluster,
        argo_name(env, cluster, namespace, PROBES),
        project,
        f"{repo_path}/{directory}",
        namespace,
        0,  # with the services: a probe needs nothing before it
    )
    ids = tuple(sorted({i for f in files for i in f.instances}))
    all_sources = tuple(sorted({s for f in files for s in f.sources}))
    return files, (application, ids, all_sources)


def _namespaces_folder(
    base: str,
    namespaces: list[str],
    files: list[OutputFile],
    kept: Sequence[tuple[tuple[str, ...], tuple[str, ...]]] = (),
) -> OutputFile:
    """Per-customer granularity: the cluster's folder takes in every namespace's folder
    (its Namespace, quota, limits, default-deny), for the one namespaces Application.
    `kept`: the instances and sources of the namespace folders an incremental compile
    keeps (their files are not among `files`)."""
    own = [
        (f.instances, f.sources)
        for f in files
        if f.path.startswith(f"{base}/") and f.path.count("/") == 4
    ]
    own += kept
    return OutputFile(
        f"{base}/kustomization.yaml",
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": namespaces,
        },
        "yaml",
        tuple(sorted({i for instances, _ in own for i in instances})),
        tuple(sorted({s for _, sources in own for s in sources})),
    )


def _label_limit(
    catalog: Catalog, env: Environment, objects: Sequence[dict[str, Any]]
) -> list[Problem]:
    """Under label tracking ArgoCD writes an Application's name into a label value on
    every object it syncs: a name longer than a label value can be never syncs."""
    if env.argocd.tracking != "label":
        return []
    where = catalog.source("environment", env.name).locate("argocd", "tracking")
    return [
        Problem(
            where,
            f"Application {obj['metadata']['name']} has {len(obj['metadata']['name'])} "
            f"characters: under label tracking its name is a label value "
            f"({argocd.LABEL_LIMIT} at most)",
            "use annotation tracking (ArgoCD 3's default), or `instance: cluster` for "
            "names without the cluster's, or shorter customer or service names",
        )
        for obj in objects
        if obj["kind"] == "Application" and len(obj["metadata"]["name"]) > argocd.LABEL_LIMIT
    ]


def _made_at(instance: Instance | None, kind: Any, name: Any) -> Location | None:
    """The catalog line that made a rendered object, where one layer did: its extra
    resource, else the first patch aimed at its kind (which may have renamed it)."""
    if instance is None:
        return None
    for index, raw in enumerate(instance.settings.extra_resources or []):
        metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        if raw.get("kind") == kind and metadata.get("name") == name:
            return instance.origin(("extra_resources", index)).location
    for index, patch in enumerate(instance.settings.patches or []):
        if patch.target.kind == kind:
            return instance.origin(("patches", index)).location
    return None


def _locator(instance: Instance, fallback: str, patched: bool = False) -> retention.Locate:
    """Where an object was made (its extra resource, a patch on its kind); `patched`:
    the patch aimed at it (else the first) first, for what is wrong after patches."""

    def locate(kind: Any, name: Any) -> Location:
        patches = instance.settings.patches or []
        aimed = next(
            (
                index
                for index, patch in enumerate(patches)
                if patch.target.kind == kind and patch.target.name in (None, name)
            ),
            0 if patches else None,  # a patch that changed what the object is
        )
        if patched and aimed is not None:
            found = instance.origin(("patches", aimed)).location
            if found is not None:
                return found
        return _made_at(instance, kind, name) or Location(fallback)

    return locate


class KeptRendered(Exception):
    """An incremental compile's reasoning about what it keeps (pipeline/units.py) does
    not hold here: a kept file is rendered too, or a kept object is one of two with one
    name or node port (whose problem is worded by which comes first in a whole render).
    The caller renders the environment whole instead."""


Identity = tuple[str, str, str, Any, Any, Any, tuple[Any, ...]]
"""A rendered object as `_duplicates` compares it: (path, cluster, API group, kind,
namespace, name, node ports)."""


def identities(files: Iterable[OutputFile]) -> list[Identity]:
    """The identity of each Kubernetes object among `files` (not kustomizations)."""
    return [found for file in files if (found := _identity(file)) is not None]


def _identity(file: OutputFile) -> Identity | None:
    parts = file.path.split("/")
    data = file.data
    if len(parts) < 4 or parts[1] != "kubernetes" or data.get("kind") == "Kustomization":
        return None
    metadata = data.get("metadata") or {}
    ports = (
        tuple(
            port["nodePort"]
            for port in (data.get("spec") or {}).get("ports") or []
            if isinstance(port, dict) and port.get("nodePort")
        )
        if data.get("kind") == "Service"
        else ()
    )
    return (
        file.path,
        parts[2],
        api_group(str(data.get("apiVersion"))),
        data.get("kind"),
        metadata.get("namespace"),
        metadata.get("name"),
        ports,
    )


def _duplicates(
    files: list[OutputFile],
    env_file: str,
    by_id: dict[str, Instance],
    reserved: Reserved | None = None,
) -> list[Problem]:
    """Two objects that would land in one file, or two objects one cluster would hold
    under one kind, namespace and name (from two instance folders: ArgoCD would have
    two Applications fight over it), are two objects with one name: refuse.

    The `reserved` objects (the digests of those kept from the last compile, not
    rendered: render/reserved.py) count as rendered: the first rendered file that
    meets one raises `KeptRendered`, whatever else clashes (its ArgoCD objects are
    looked up by `render_environment`). The rendered files are
    compared with each other first, then looked up among the kept (after a
    one-customer change at 1,000 customers, a few hundred files are rendered and
    90,000 objects kept per environment).
    """
    seen: set[str] = set()
    owners: dict[tuple[Any, ...], tuple[str, Instance | None]] = {}
    node_ports: dict[tuple[str, Any], str] = {}
    problems = []
    found_of: list[Identity | None] = []  # each file's, for the lookup among the kept
    for file in files:
        where = Location(file.sources[0] if file.sources else env_file)
        if file.path in seen:
            problems.append(
                Problem(
                    where,
                    f"two rendered objects share the path {file.path}",
                    "rename one of them (kind and name must be unique per folder)",
                )
            )
        seen.add(file.path)
        found = _identity(file)
        found_of.append(found)
        if found is None:
            continue
        _, cluster, group, kind, namespace, name, ports = found
        identity = (cluster, group, kind, namespace, name)
        owner = by_id.get(file.instances[0]) if len(file.instances) == 1 else None
        for port in ports:  # a node port is one per cluster
            holder = node_ports.setdefault((cluster, port), file.path)
            if holder != file.path:
                problems.append(
                    Problem(
                        _made_at(owner, "Service", name) or where,
                        f"node port {port} of {file.path} is already "
                        f"{holder}'s on cluster {cluster}",
                        "give each exposed port its own node_port, or leave it out "
                        "for one the cluster assigns",
                    )
                )
        first, first_owner = owners.setdefault(identity, (file.path, owner))
        if first != file.path:
            problems.append(
                Problem(
                    # the layer that made one of the two: not the victim's untouched file
                    _made_at(owner, identity[2], identity[4])
                    or _made_at(first_owner, identity[2], identity[4])
                    or where,
                    f"{file.path} and {first} are both {identity[2]} "
                    f"{identity[3]}/{identity[4]} on cluster {identity[0]}",
                    "rename one of them: a cluster holds one object per kind, namespace and name",
                )
            )
    if reserved:
        looked_up: list[tuple[str, tuple[Any, ...]]] = []
        for file, found in zip(files, found_of, strict=True):
            looked_up.append((file.path, ("p", file.path)))
            if found is not None:
                looked_up.append((file.path, ("k", *found[1:6])))
                looked_up += ((file.path, ("n", found[1], port)) for port in found[6])
        clash = reserved.first_taken(looked_up)
        if clash is not None:
            raise KeptRendered(clash)
    return problems
