"""Stage 3, resolve: the validated `Catalog` in, every `Instance` keyed by id out.

An instance is one service in one environment, for one customer (`prod/acme/synapse`) or
for the whole environment (`prod/sygnal`). Its values are the merge of these layers,
lowest first (DESIGN.md):

    1. service defaults          catalog/services/<s>.yaml           defaults
    2. plan preset               catalog/services/<s>.yaml           plans.<plan>
    3. environment defaults      environments/<e>/environment.yaml   defaults
    4. environment override      environments/<e>/environment.yaml   services.<s>
    5. customer override         catalog/customers/<c>.yaml          services.<s>
    6. customer env override     catalog/customers/<c>.yaml          environments.<e>.services.<s>

Merge rules: mappings merge key by key; lists and scalars replace; `null` removes the key.
Then `${...}` references are resolved (interpolate.py; a record or ingress declared
`for_each: domains` once per domain of the customer, per_domain.py), the result is
validated as `Settings` and held against the tenant boundary (tenancy.py: secret
prefixes and stores, ingress and DNS names, PTR addresses). Provenance is not copied
per leaf: an instance keeps its layers, and `Instance.origin(path)` finds the highest
layer that wrote the path, which costs nothing until someone asks (`explain`, located
policy findings).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from compiler.catalog import (
    edges,
    files,
    identity,
    model_errors,
    per_domain,
    reachability,
    residency,
    tenancy,
    workloads,
)
from compiler.catalog.argo_names import PLATFORM_NAMESPACE, cluster_of
from compiler.catalog.edges import Routable
from compiler.catalog.interpolate import (
    Each,
    interpolate,
    interpolate_each,
    path_order,
    template_paths,
)
from compiler.catalog.layout import Catalog, Source
from compiler.catalog.loader import YamlPath
from compiler.catalog.models import Customer, Environment, Host, Service, Settings, port_spec
from compiler.errors import Location, Problem


@dataclass(frozen=True, slots=True)
class Layer:
    """One settings layer that went into an instance, and where it was written."""

    name: str
    source: Source
    path: YamlPath
    data: dict[str, Any]

    def locate(self, path: YamlPath = ()) -> Location:
        return self.source.locate(*self.path, *path)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a resolved value came from: the layer (None for a built-in default) and place."""

    layer: str
    location: Location | None
    template: str | None = None


@dataclass(frozen=True)
class Instance:
    """One deployed unit, fully resolved. Renderers and policies read only this."""

    id: str
    environment: str
    service: str
    customer: str | None
    settings: Settings
    values: dict[str, Any]
    layers: tuple[Layer, ...]
    clusters: tuple[str, ...] = ()
    hosts: tuple[Host, ...] = ()
    namespace: str | None = None
    templates: MappingProxyType[YamlPath, str] = field(default_factory=lambda: MappingProxyType({}))
    # an environment-wide service on several clusters whose values name the cluster
    # (`${instance.cluster}`, `${instance.region}`): its settings on each other cluster
    cluster_settings: MappingProxyType[str, Settings] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # records and the ingress declared `for_each: domains`: each domain's copy
    # (per_domain.py); `settings` holds the first domain's
    per_domain: MappingProxyType[YamlPath, tuple[tuple[str, Any], ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def dns_records(self) -> list[per_domain.Record]:
        """Every DNS record the instance publishes, a per-domain one once per domain."""
        return per_domain.records(self.settings, self.per_domain)

    def ingresses(self) -> list[tuple[str | None, Any]]:
        """(domain or None, Ingress): the ingress, once per domain if declared so."""
        return per_domain.ingresses(self.settings, self.per_domain)

    def on(self, cluster: str) -> Settings:
        """The instance's settings on `cluster` (the same everywhere unless its values
        name the cluster)."""
        return self.cluster_settings.get(cluster, self.settings)

    def origin(self, path: YamlPath) -> Origin:
        """The highest layer that wrote `path` (or the whole list or value holding it),
        and the template that made it (an item of `${customer.domains}`: that string's)."""
        path = tuple(path)
        template = next(
            (
                self.templates[path[:n]]
                for n in range(len(path), 0, -1)
                if path[:n] in self.templates
            ),
            None,
        )
        return origin_of(self.layers, path, template)


def origin_of(layers: tuple[Layer, ...], path: YamlPath, template: str | None = None) -> Origin:
    """Provenance without copying it per leaf: walk the layers from the highest down."""
    for layer in reversed(layers):
        node: Any = layer.data
        for depth, segment in enumerate(path):
            if isinstance(node, dict):
                if segment not in node:
                    break
                node = node[segment]
                if node is None:  # removed here: nothing below this layer survives
                    return Origin("built-in default", None, template)
            elif isinstance(node, list) and isinstance(segment, int) and segment < len(node):
                node = node[segment]
            else:  # this layer set a list or scalar above the path: it owns it
                return Origin(layer.name, layer.locate(tuple(path[:depth])), template)
        else:
            return Origin(layer.name, layer.locate(tuple(path)), template)
    return Origin("built-in default", None, template)


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge, lists and scalars replace, `None` removes. Inputs are not changed."""
    result = dict(base)
    for key, value in overlay.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            below = result.get(key)
            result[key] = merge(below if isinstance(below, dict) else {}, value)
        else:
            result[key] = value
    return result


Interpolated = tuple[dict[str, Any], tuple[tuple[YamlPath, str], ...], dict[YamlPath, list[Any]]]
"""A customer's instance as interpolation left it: its values, the template of each
value that changed, each per-domain root's copies (`interpolate_each`). Plain data."""


def resolve(
    catalog: Catalog,
    environments: Iterable[str] | None = None,
    connected: dict[str, list[reachability.Connection]] | None = None,
    known: Mapping[str, Interpolated] | None = None,
    learned: dict[str, Interpolated] | None = None,
    kept: Mapping[str, Kept] | None = None,
) -> tuple[dict[str, Instance], list[Problem]]:
    """Every instance of the chosen environments (all by default), sorted by id.

    `connected` receives each environment's connections (reachability.py), which are
    found here for their problems: render and the network checks need them again, and
    finding them costs about 0.3 s of CPU per 10,000 instances each time.

    `known`: customers' instances as interpolated by an earlier resolve of inputs that
    have not changed since (the caller vouches for that: pipeline/units.py). They are
    only validated again, not interpolated and checked: three quarters of the cost of
    an instance, and nearly all of a recompile after a one-customer change. `learned`
    receives every customer's instance as interpolated, for a later resolve.

    `kept`: per environment, the customers an incremental compile keeps whole
    (pipeline/units.py) and what routing needs of their instances: theirs are not
    resolved at all. What they share with others is kept too (render/shares.py), and
    what the checks here compare across customers is not theirs to break: a customer's
    hosts against the platform's, and hooks and connections, are its own and the
    platform's inputs, unchanged when it is kept (its key covers both)."""
    wanted = sorted(catalog.environments if environments is None else environments)
    instances: dict[str, Instance] = {}
    failures: dict[tuple[Location, str, str], list[str]] = {}
    cache = _MergeCache()
    known = known or {}
    kept = kept or {}
    for env_name in wanted:
        env = catalog.environments[env_name]
        skipped = kept[env_name].customers if env_name in kept else frozenset()
        for service_name in sorted(catalog.services):
            service = catalog.services[service_name]
            if service.environments is not None and env_name not in service.environments:
                continue
            if service.scope == "environment":
                _add(catalog, env, service, None, instances, failures, cache)
                continue
            for customer_name in sorted(catalog.customers):
                customer = catalog.customers[customer_name]
                placement = customer.environments.get(env_name)
                if placement is None or service_name not in placement.services:
                    continue
                if customer_name in skipped:
                    continue
                instance_id = f"{env_name}/{customer_name}/{service_name}"
                interpolated = known.get(instance_id)
                if interpolated is not None and _add_known(
                    catalog, env, service, customer, instances, cache, interpolated
                ):
                    if learned is not None:
                        learned[instance_id] = interpolated
                    continue
                _add(catalog, env, service, customer, instances, failures, cache, learned)
    problems = [
        Problem(location, message, _instances_hint(ids, hint))
        for (location, message, hint), ids in failures.items()
    ]
    problems += tenancy.platform_hosts_taken(catalog, instances.values())
    problems += workloads.hook_problems(catalog, instances.values())
    instances = dict(sorted(instances.items()))
    for env_name in wanted:  # in the order render asks in, which is then answered at once
        in_env = [i for i in instances.values() if i.environment == env_name]
        found, failed = reachability.connections(
            catalog,
            catalog.environments[env_name],
            in_env,
            kept[env_name].routable if env_name in kept else (),
        )
        problems += failed
        if connected is not None:
            connected[env_name] = found
    return instances, problems


@dataclass(frozen=True)
class Kept:
    """The customers of one environment that a resolve leaves out (`resolve`), and their
    instances on Kubernetes as routing sees them."""

    customers: frozenset[str]
    routable: tuple[Routable, ...] = ()


def _instances_hint(ids: list[str], hint: str) -> str:
    which = ids[0] if len(ids) == 1 else f"{ids[0]} and {len(ids) - 1} more"
    return f"{hint + '; ' if hint else ''}in instance {which}"


def instance_layers(
    catalog: Catalog, env: Environment, service: Service, customer: Customer | None
) -> tuple[Layer, ...]:
    """The layers of one instance, lowest first; absent layers are left out."""
    svc = catalog.source("service", service.name)
    envsrc = catalog.source("environment", env.name)
    candidates = [
        ("service defaults", svc, ("defaults",), service.defaults),
        ("environment defaults", envsrc, ("defaults",), env.defaults),
        (
            "environment override",
            envsrc,
            ("services", service.name),
            env.services.get(service.name),
        ),
    ]
    if customer is not None:
        cust = catalog.source("customer", customer.name)
        preset = service.plans.get(customer.plan)
        candidates.insert(
            1, (f"plan preset '{customer.plan}'", svc, ("plans", customer.plan), preset)
        )
        candidates += [
            (
                "customer override",
                cust,
                ("services", service.name),
                customer.services.get(service.name),
            ),
            (
                "customer environment override",
                cust,
                ("environments", env.name, "services", service.name),
                customer.environments[env.name].services.get(service.name),
            ),
        ]
    return tuple(Layer(name, source, path, data) for name, source, path, data in candidates if data)


def instance_context(
    env: Environment,
    service: Service,
    customer: Customer | None,
    instance_id: str,
    namespace: str | None,
    clusters: tuple[str, ...],
    cluster: str | None = None,
) -> dict[str, Any]:
    """What `${...}` may refer to besides the instance's own `values.*`; `instance.cluster`
    and `instance.region` are those of `cluster` (default: the instance's first)."""
    context: dict[str, Any] = {
        "env.name": env.name,
        "env.tier": env.tier,
        "env.base_domain": env.base_domain,
        "service.name": service.name,
        "instance.id": instance_id,
    }
    if namespace is not None:
        context["instance.namespace"] = namespace
    if clusters:
        name = cluster or clusters[0]
        context["instance.cluster"] = name
        context["instance.region"] = next(c.region for c in env.clusters if c.name == name)
    if customer is not None:
        context.update(
            {
                "customer.name": customer.name,
                "customer.display_name": customer.display_name or customer.name,
                "customer.domain": customer.domains[0],
                "customer.domains": tuple(customer.domains),  # a whole value only
                "customer.plan": customer.plan,
                "customer.residency": customer.residency,
                "customer.status": customer.status,
            }
        )
        context.update(identity.context(env, customer))  # ${customer.sso.*}
    return context


def _add(
    catalog: Catalog,
    env: Environment,
    service: Service,
    customer: Customer | None,
    instances: dict[str, Instance],
    failures: dict[tuple[Location, str, str], list[str]],
    cache: _MergeCache,
    learned: dict[str, Interpolated] | None = None,
) -> None:
    """Resolve one instance; record its problems (deduplicated across instances) or add
    it (and, for a customer's, what interpolation made of it to `learned`)."""
    parts = [env.name, customer.name, service.name] if customer else [env.name, service.name]
    instance_id = "/".join(parts)
    layers = instance_layers(catalog, env, service, customer)
    merged = cache.merged(layers)

    failed: list[YamlPath] = []

    def fail(path: YamlPath, message: str, hint: str = "") -> None:
        failed.append(path)
        location = (
            origin_of(layers, path).location or catalog.source("service", service.name).locate()
        )
        failures.setdefault((location, message, hint), []).append(instance_id)

    clusters, namespace = (
        _placement(env, service, customer) if service.runtime == "kubernetes" else ((), None)
    )
    # `${secret.NAME}` of a file's secrets: a mark that only a file's content may hold
    marks = files.secret_context(merged)
    context = instance_context(env, service, customer, instance_id, namespace, clusters)
    roots = per_domain.roots(merged)
    early = list(per_domain.template_problems(merged, roots, customer, service.name))
    for path, message, hint in early:
        fail(path, message, hint)
    if early:
        return
    domains = list(customer.domains) if customer else []
    each = Each(tuple(roots), tuple(domains)) if roots else None
    values, templates, errors, copies = interpolate_each(
        merged, {**context, **marks}, cache.template_paths(layers), each
    )
    for error in errors:
        fail(error.path, error.message, error.hint)
    misplaced = list(files.misplaced_placeholders(values, templates)) if marks else []
    for path, message, hint in misplaced:
        fail(path, message, hint)
    if errors or misplaced:
        return
    settings, field_errors = model_errors.field_errors(Settings, values)
    if settings is None:
        for error in field_errors:
            fail(error.path, f"after merging layers: {error.message}", error.hint)
        return
    expanded, late = per_domain.expand(settings, roots, copies, domains)
    for path, message, hint in late:
        fail(path, f"after merging layers: {message}", hint)
    if late:
        return
    cluster_settings: dict[str, Settings] = {}
    for other in clusters[1:]:  # an environment-wide service: each cluster's own values
        other_context = instance_context(
            env, service, customer, instance_id, namespace, clusters, other
        )
        other_values, _, _ = interpolate(
            merged, {**other_context, **marks}, cache.template_paths(layers)
        )
        if other_values == values:
            continue
        for path in _differing(values, other_values):
            if path[0] in _ONE_PER_ENVIRONMENT:
                fail(
                    path,
                    f"this value names the cluster (or its region), and '{service.name}' runs "
                    f"on {len(clusters)} clusters: {path[0]} is one per environment",
                    "use ${instance.cluster} only in what is rendered per cluster "
                    "(Kubernetes objects), or name the clusters in the value itself",
                )
        other_settings, other_errors = model_errors.field_errors(Settings, other_values)
        for error in other_errors:
            fail(error.path, f"on cluster {other}: {error.message}", error.hint)
        if other_settings is not None:
            for path, message, hint in (
                *tenancy.instance_problems(env, customer, other_settings, {}),
                *files.file_problems(
                    other_settings,
                    service.name,
                    env.secret_store.name,
                    edges.generated_files(service.runtime, other_settings),
                ),
            ):
                fail(path, f"on cluster {other}: {message}", hint)
            cluster_settings[other] = other_settings
    for port in sorted(settings.expose or {}):  # the cluster's addresses: the platform's
        if origin_of(layers, ("expose", port)).layer.startswith("customer"):
            fail(
                ("expose", port),
                f"port '{port}' is exposed outside the cluster by a customer's layer",
                "exposure (LoadBalancer, NodePort) is declared in the service file or the "
                "environment, not per customer",
            )
    for path, message, hint in _published_problems(settings):
        fail(path, message, hint)
    hosts = _check_runtime(env, service, customer, settings, fail)
    for path, message, hint in workloads.instance_problems(service, settings):
        fail(path, message, hint)
    for path, message, hint in tenancy.instance_problems(env, customer, settings, expanded):
        fail(path, message, hint)
    customer_wrote = lambda path: origin_of(layers, path).layer.startswith("customer")  # noqa: E731
    for path, message, hint in edges.certificate_problems(env, customer, settings, customer_wrote):
        fail(path, message, hint)
    for path, message, hint in tenancy.template_problems(settings, customer_wrote):
        fail(path, message, hint)
    for path, message, hint in edges.kubernetes_problems(service.runtime, settings):
        fail(path, message, hint)
    generated = edges.generated_files(service.runtime, settings)
    for path, message, hint in files.file_problems(
        settings, service.name, env.secret_store.name, generated
    ):
        fail(path, message, hint)
    instances[instance_id] = Instance(
        instance_id,
        env.name,
        service.name,
        getattr(customer, "name", None),
        settings,
        values,
        layers,
        clusters,
        hosts,
        namespace,
        MappingProxyType(templates),
        MappingProxyType(cluster_settings),
        MappingProxyType(expanded),
    )
    if learned is not None and customer is not None and not cluster_settings and not failed:
        # only a sound instance: one taken back is not checked again (`_add_known`)
        learned[instance_id] = (values, tuple(templates.items()), copies)


def _add_known(
    catalog: Catalog,
    env: Environment,
    service: Service,
    customer: Customer,
    instances: dict[str, Instance],
    cache: _MergeCache,
    interpolated: Interpolated,
) -> bool:
    """Add a customer's instance from what an earlier resolve's interpolation made of
    it (`resolve`'s `known`): validated and expanded per domain again (the objects are
    this process's), its placement and hosts worked out again, nothing else; False if
    it does not validate (then it is resolved as any other)."""
    values, templates, copies = interpolated
    settings, _ = model_errors.field_errors(Settings, values)
    if settings is None:
        return False
    layers = instance_layers(catalog, env, service, customer)
    roots = per_domain.roots(cache.merged(layers))
    expanded, late = per_domain.expand(settings, roots, copies, list(customer.domains))
    if late:
        return False
    clusters, namespace = (
        _placement(env, service, customer) if service.runtime == "kubernetes" else ((), None)
    )
    failed: list[YamlPath] = []
    hosts = _check_runtime(env, service, customer, settings, lambda path, *_: failed.append(path))
    if failed or len(clusters) > 1:
        return False
    instance_id = f"{env.name}/{customer.name}/{service.name}"
    instances[instance_id] = Instance(
        instance_id,
        env.name,
        service.name,
        customer.name,
        settings,
        values,
        layers,
        clusters,
        hosts,
        namespace,
        MappingProxyType(dict(templates)),
        MappingProxyType({}),
        MappingProxyType(expanded),
    )
    return True


def _published_problems(settings: Settings) -> Iterator[tuple[YamlPath, str, str]]:
    """Two exposed ports that one Service would publish on the same port number (its
    own `port`, else the container's): Kubernetes refuses the Service. Grouped as
    render.exposed_services groups them: one Service per type and protocol."""
    declared = settings.ports or {}
    published: dict[tuple[str, str, int], str] = {}
    exposed = sorted(  # the ports published as declared first: a `port` is the one to blame
        (settings.expose or {}).items(), key=lambda item: (item[1].port is not None, item[0])
    )
    for name, exposure in exposed:
        if name not in declared:
            continue  # reachability reports a port that is not declared
        spec = port_spec(declared[name])
        number = exposure.port or spec.port
        first = published.setdefault((exposure.type, spec.protocol, number), name)
        if first != name:
            yield (
                ("expose", name, "port") if exposure.port else ("expose", name),
                f"exposed ports '{first}' and '{name}' would both be published on "
                f"{spec.protocol} port {number} of the {exposure.type} Service",
                "give each exposed port its own `port` (the port clients connect to)",
            )


# settings rendered once per environment, not per cluster: Terraform's and Ansible's
# and NetworkPolicies, derived once per environment from the connections
_ONE_PER_ENVIRONMENT = ("infrastructure", "vm", "network", "expose", "ports")


def _differing(a: Any, b: Any, path: YamlPath = ()) -> list[YamlPath]:
    """The leaf paths where two interpolated values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            found
            for key in sorted(a.keys() | b.keys(), key=str)
            for found in _differing(a.get(key), b.get(key), (*path, key))
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            found
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for found in _differing(x, y, (*path, i))
        ]
    return [] if a == b else [path]


class _MergeCache:
    """Work shared between instances: most customers add nothing to the layers that only
    depend on environment, service and plan, and a layer's `${...}` strings are found once.
    Keyed by the identity of layer data, which lives as long as the catalog does."""

    def __init__(self) -> None:
        self._merged: dict[tuple[int, ...], dict[str, Any]] = {}
        self._paths: dict[int, tuple[YamlPath, ...]] = {}
        self._sorted: dict[tuple[int, ...], tuple[YamlPath, ...]] = {}

    def merged(self, layers: tuple[Layer, ...]) -> dict[str, Any]:
        shared = [layer for layer in layers if not layer.name.startswith("customer")]
        key = tuple(id(layer.data) for layer in shared)
        base = self._merged.get(key)
        if base is None:
            base = {}
            for layer in shared:
                base = merge(base, layer.data)
            self._merged[key] = base
        for layer in layers[len(shared) :]:
            base = merge(base, layer.data)
        return base

    def template_paths(self, layers: tuple[Layer, ...]) -> tuple[YamlPath, ...]:
        key = tuple(id(layer.data) for layer in layers)
        paths = self._sorted.get(key)
        if paths is None:
            found: set[YamlPath] = set()
            for layer in layers:
                if id(layer.data) not in self._paths:
                    self._paths[id(layer.data)] = tuple(template_paths(layer.data))
                found.update(self._paths[id(layer.data)])
            paths = self._sorted[key] = tuple(sorted(found, key=path_order))
        return paths


def _placement(
    env: Environment, service: Service, customer: Customer | None
) -> tuple[tuple[str, ...], str | None]:
    """The clusters an instance runs on, and its namespace.

    A customer lands on the cluster it names for the environment, else on the first
    cluster that may hold its residency (`argo_names.cluster_of`, which validation uses
    for the names of the Applications too). Environment-wide services run on every
    cluster.
    """
    if customer is None:
        return tuple(cluster.name for cluster in env.clusters), PLATFORM_NAMESPACE
    return (cluster_of(env, customer),), customer.name


def _check_runtime(
    env: Environment, service: Service, customer: Customer | None, settings: Settings, fail: Any
) -> tuple[Host, ...]:
    """What the merged settings must have for the service's runtime; the VM hosts."""
    ports = settings.ports or {}
    if service.runtime == "kubernetes":
        mount = settings.storage.mount_path if settings.storage else None
        if mount is not None and mount in {"/tmp", *(settings.writable_paths or {})}:
            fail(
                ("storage", "mount_path"),
                f"storage.mount_path '{mount}' is also a writable path (an emptyDir there)",
                "one path, one mount: the API server refuses a pod that mounts two volumes "
                "at one path; give the volume or the writable path another path",
            )
        if settings.image is None:
            fail(
                ("image",),
                f"kubernetes service '{service.name}' has no image after merging layers",
                "set defaults.image in the service file",
            )
        if settings.ingress and settings.ingress.port not in ports:
            fail(
                ("ingress", "port"),
                f"ingress port '{settings.ingress.port}' is not a declared port",
                f"declared ports: {', '.join(sorted(ports)) or 'none'}",
            )
        elif settings.ingress and port_spec(ports[settings.ingress.port]).protocol != "TCP":
            fail(
                ("ingress", "port"),
                f"ingress port '{settings.ingress.port}' is not a TCP port",
                "an Ingress serves HTTP over TCP; expose UDP ports by other means",
            )
        serves = settings.network.serves if settings.network else None
        for index, name in enumerate(serves or []):
            if name not in ports:
                fail(
                    ("network", "serves", index),
                    f"serving port '{name}' is not a declared port",
                    f"declared ports: {', '.join(sorted(ports)) or 'none'}",
                )
        for kind, probe in (
            settings.probes.model_dump(exclude_none=True) if settings.probes else {}
        ).items():
            if probe["port"] not in ports:
                fail(
                    ("probes", kind, "port"),
                    f"{kind} probe port '{probe['port']}' is not a declared port",
                    f"declared ports: {', '.join(sorted(ports)) or 'none'}",
                )
            elif port_spec(ports[probe["port"]]).protocol != "TCP":
                fail(
                    ("probes", kind, "port"),
                    f"{kind} probe port '{probe['port']}' is not a TCP port",
                    "HTTP and TCP probes connect over TCP",
                )
        return ()
    if settings.files:
        fail(
            ("files",),
            f"files applies to Kubernetes services; '{service.name}' runs on VMs",
            "a VM's files are its playbooks' to write, from vm.vars",
        )
    own = customer.environments[env.name].hosts if customer else []
    if own:
        return tuple(own)
    pool = settings.vm.host_pool if settings.vm else None
    if pool is None:
        fail(
            ("vm",),
            f"vm service '{service.name}' has no vm.host_pool and the customer no hosts",
            "set defaults.vm.host_pool in the service file",
        )
        return ()
    if pool not in env.host_pools:
        fail(
            ("vm", "host_pool"),
            f"environment '{env.name}' has no host pool '{pool}'",
            f"host pools: {', '.join(sorted(env.host_pools)) or 'none'}",
        )
        return ()
    hosts = tuple(env.host_pools[pool])
    for message in residency.pool_problems(customer, pool, hosts) if customer else ():
        fail(
            ("vm", "host_pool"),
            message,
            f"set vm.host_pool for this customer to a pool in '{customer.residency}'",
        )
    return hosts
