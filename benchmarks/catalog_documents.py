"""Every file of the benchmark catalog: environments, customers, plans and teams, and the
assembly of all documents (services included) into path -> YAML text.

This is the generator proper; `catalog_texts(size)` is its one entry point. What the
catalog contains is decided here (plans, residencies, teams, cluster sites, the words
customer names are made of) and by catalog_services.py; how many of each comes from
catalog_shapes.py; the text from catalog_yaml.py. Nothing here touches the disk, so the
output is a pure function of the size and seed (generate.py writes it).
"""

from __future__ import annotations

import random
from typing import Any

from catalog_services import edge_document, kube_edge_document, service_document
from catalog_shapes import (
    EDGE,
    EDGE_POOL,
    ENVIRONMENTS,
    KUBE_EDGE,
    ServiceSpec,
    Size,
    environment_specs,
    service_specs,
)
from catalog_yaml import Flow, dump

PLANS = (
    ("starter", "Small teams; one replica, shared capacity.", (4, "8Gi", 20, "50Gi")),
    ("business", "Companies; larger limits and daily backups.", (8, "16Gi", 40, "200Gi")),
    ("enterprise", "Regulated organisations; HA and autoscaling.", (32, "64Gi", 120, "1Ti")),
)
PLAN_WEIGHTS = (50, 35, 15)
RESIDENCIES = ("eu", "ch", "us")
RESIDENCY_WEIGHTS = (60, 25, 15)
TEAMS = ("chat-platform", "mail-ops", "data-services", "identity")
# Cluster sites per residency in prod-tier environments (region, residency).
SITES = (("fra1", "eu"), ("zrh1", "ch"), ("iad1", "us"))

WORDS_A = (
    "acme", "alpine", "amber", "apex", "arctic", "atlas", "aurora", "blue", "bright", "cedar",
    "coral", "crystal", "delta", "eagle", "ember", "falcon", "forest", "granite", "harbor",
    "helios", "iron", "jade", "lunar", "maple", "nimbus", "nova", "oak", "orbit", "pacific",
    "pine", "polar", "quartz", "river", "sierra", "silver", "solar", "summit", "terra",
)  # fmt: skip
WORDS_B = (
    "analytics", "bank", "biotech", "capital", "clinic", "consulting", "dynamics", "energy",
    "foods", "freight", "games", "health", "industries", "insurance", "labs", "legal",
    "logistics", "media", "motors", "networks", "pharma", "research", "retail", "robotics",
    "school", "software", "systems", "telecom", "travel", "university", "ventures", "works",
)  # fmt: skip


def environment_document(
    name: str,
    tier: str,
    customer: list[ServiceSpec],
    wide: list[ServiceSpec],
    applications: str = "per-instance",
    edge: bool = False,
) -> dict:
    """Clusters per residency in prod, one shared cluster elsewhere; a host pool for every
    vm service; defaults and a few per-service overrides by tier. With `edge`, each
    cluster's ingress address and an edge host per residency (issue 18)."""
    base_domain = "chat.example.net" if name == "prod" else f"{name}.chat.example.net"
    if tier == "prod":
        clusters = [
            {
                "name": f"{name}-{region}",
                "region": region,
                "residency": [residency],
                "kubernetes_version": "1.31" if residency != "ch" else "1.30",
                "api_server": f"https://{name}-{region}.k8s.example.net:6443",
            }
            for region, residency in SITES
        ]
    else:
        clusters = [
            {
                "name": f"{name}-fra1",
                "region": "fra1",
                "residency": list(RESIDENCIES),
                "kubernetes_version": "1.31",
                "api_server": f"https://{name}-fra1.k8s.example.net:6443",
            }
        ]
    pools = {}
    hosts_per_pool = 2 if tier == "prod" else 1
    net = 10 + [n for n, _ in ENVIRONMENTS].index(name) if name in dict(ENVIRONMENTS) else 99
    if edge:
        for number, cluster in enumerate(clusters):
            cluster["ingress_address"] = f"10.{net}.254.{number + 10}"
        pools[EDGE_POOL] = [
            Flow(
                name=f"edge.{region}.{base_domain}",
                address=f"10.{net}.253.{number + 10}",
                region=region,
                residency=residency,
            )
            for number, (region, residency) in enumerate(SITES)
        ]
    for number, spec in enumerate(s for s in (*customer, *wide) if s.runtime == "vm"):
        pools[spec.pool] = [
            Flow(
                name=f"{spec.name}{host + 1}.{base_domain}",
                address=f"10.{net}.{number % 250}.{host + 11}",
                region="fra1",
                residency="eu",
            )
            for host in range(hosts_per_pool)
        ]
        if spec in wide:
            continue
        # a customer's data stays in its residency (validation refuses a host pool of
        # another): a pool per other residency, which those customers name
        for offset, (region, residency) in enumerate(SITES[1:], 1):
            pools[pool_of(spec, residency)] = [
                Flow(
                    name=f"{spec.name}{host + 1}.{region}.{base_domain}",
                    address=f"10.{net}.{number % 250}.{host + 11 + 20 * offset}",
                    region=region,
                    residency=residency,
                )
                for host in range(hosts_per_pool)
            ]
    defaults: dict[str, Any] = (
        {"replicas": 2} if tier == "prod" else {"resources": {"requests": Flow(cpu="50m")}}
    )
    overrides: dict[str, Any] = {}
    for spec in customer:
        if spec.archetype == "app":
            level = "WARNING" if tier == "prod" else "DEBUG"
            overrides[spec.name] = {"config": {"LOG_LEVEL": level}}
        elif spec.archetype == "database" and tier == "prod":
            overrides[spec.name] = {"resources": {"limits": Flow(memory="2Gi")}}
    for spec in wide:
        if spec.archetype == "spam" and tier == "prod":
            overrides[spec.name] = {"vm": {"vars": Flow(workers=8)}}
        elif spec.archetype == "push":
            overrides[spec.name] = {"resources": {"limits": Flow(memory="512Mi")}}
    doc: dict[str, Any] = {
        "name": name,
        "tier": tier,
        "description": f"Synthetic {tier} environment.",
        "base_domain": base_domain,
        "clusters": clusters,
        "argocd": {
            "repo_url": "https://gitlab.example.net/platform/gitops.git",
            "revision": "main",
            "automated": True,
            "prune": True,
            "self_heal": True,
            **({"applications": applications} if applications != "per-instance" else {}),
        },
        # the hosts get Hiera data beside the inventory, and customers with sso: a realm
        # in the environment's Keycloak (issue 18: both outputs at scale)
        "output": {"host_data": ["inventory", "hiera"]},
        "secret_store": {"name": f"vault-{name}"},
        "identity": {"url": f"https://id.{base_domain}"},
        "awx": {"organization": "Platform", "project": "gitops", "inventory": name},
        "host_pools": pools,
        # managed databases per region, and the monitoring namespace scraping metrics
        "databases": {
            "postgres": {
                "networks": {
                    c["region"]: [f"10.{net}.{200 + i}.0/24"] for i, c in enumerate(clusters)
                }
            }
        },
        "monitoring": {  # issue 18: where monitors and rules go, Loki tenants per customer
            "namespace": "monitoring",
            "labels": Flow(release="kube-prometheus-stack"),
            "loki": Flow(multi_tenant=True),
        },
        "platform_namespaces": {
            "monitoring": {"pods": Flow(**{"app.kubernetes.io/name": "prometheus"})}
        },
        "defaults": defaults,
    }
    if overrides:
        doc["services"] = overrides
    return doc


def pool_of(spec: ServiceSpec, residency: str) -> str:
    """The host pool of a customer-scoped vm service for customers of `residency`."""
    return spec.pool if residency == "eu" else f"{spec.pool}-{residency}"


def _own_address(index: int, n: int) -> str:
    """A customer's own host address, unique across the catalog (an address belongs to
    one owner): 198.18.0.0/15, the range set aside for benchmarks (RFC 2544)."""
    slot = 2 * index + n
    return f"198.{18 + slot // 65024}.{slot // 254 % 256}.{slot % 254 + 1}"


def customer_document(
    index: int,
    width: int,
    rng: random.Random,
    customer: list[ServiceSpec],
    environments: list[tuple[str, str]],
) -> dict:
    """One customer that enables every customer-scoped service in every environment;
    about one in ten has overrides, a few are suspended or offboarding."""
    first, second = rng.choice(WORDS_A), rng.choice(WORDS_B)
    name = f"{first}-{second}-{index:0{width}d}"
    plan = rng.choices([p[0] for p in PLANS], PLAN_WEIGHTS)[0]
    residency = rng.choices(RESIDENCIES, RESIDENCY_WEIGHTS)[0]
    roll = rng.random()
    status = "suspended" if roll < 0.03 else "offboarding" if roll < 0.05 else "active"
    domain = f"{name}.example"
    doc: dict[str, Any] = {
        "name": name,
        "display_name": f"{first.title()} {second.title()} {index}",
        "plan": plan,
        "residency": residency,
        "status": status,
    }
    if status == "offboarding":
        doc["offboard_after"] = f"2027-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    doc["contact"] = f"it-ops@{domain}"
    doc["domains"] = [domain] + ([f"chat.{domain}"] if rng.random() < 0.1 else [])
    overridden = rng.random() < 0.1
    services: dict[str, Any] = {}
    if overridden:
        for spec in customer:
            if spec.archetype == "app":
                services[spec.name] = {"config": {"MAX_UPLOAD_SIZE": "100M"}}
            elif spec.archetype == "vm":
                services[spec.name] = {"vm": {"vars": Flow(tls_security_level="encrypt")}}
    if residency != "eu":  # the services' own pools are in the EU
        for spec in customer:
            if spec.runtime == "vm":
                vm = services.setdefault(spec.name, {}).setdefault("vm", {})
                vm["host_pool"] = pool_of(spec, residency)
    if services:
        doc["services"] = services
    if index % 3 == 0:  # a third have single sign-on (not drawn: the seed's draws stay put)
        doc["sso"] = {
            "clients": {
                "portal": {
                    "redirect_uris": [f"https://auth.{domain}/callback"],
                    "web_origins": [f"https://auth.{domain}"],
                    "secret": Flow(key="sso", property="portal_client_secret"),
                }
            }
        }
    placements: dict[str, Any] = {}
    for env, tier in environments:
        placement: dict[str, Any] = {}
        if tier == "prod" and rng.random() < 0.2:
            region = next(region for region, where in SITES if where == residency)
            placement["cluster"] = f"{env}-{region}"
        enabled: dict[str, Any] = {}
        for spec in customer:
            layer = None
            if overridden and tier == "prod" and spec.archetype == "app":
                layer = {"replicas": 3}
            elif overridden and tier == "prod" and spec.archetype == "database":
                layer = {"resources": {"limits": Flow(memory="4Gi")}}
            enabled[spec.name] = layer
        placement["services"] = enabled
        if tier == "prod" and any(s.runtime == "vm" for s in customer) and rng.random() < 0.03:
            placement["hosts"] = [
                Flow(
                    name=f"mx{n}.{domain}",
                    address=_own_address(index, n),
                    region="customer-dc",
                    residency=residency,
                )
                for n in (1, 2)
            ]
        placements[env] = placement
    doc["environments"] = placements
    return doc


def plans_document() -> dict:
    return {
        "plans": [
            {
                "name": name,
                "description": description,
                "quota": {"cpu": cpu, "memory": memory, "pods": pods, "storage": storage},
            }
            for name, description, (cpu, memory, pods, storage) in PLANS
        ]
    }


def teams_document() -> dict:
    return {
        "teams": [
            {
                "name": team,
                "email": f"{team}@example.net",
                "chat": f"#{team}",
                "paging": Flow(receiver=f"{team}-pager"),  # routing labels on alerts
            }
            for team in TEAMS
        ]
    }


def catalog_texts(size: Size) -> dict[str, str]:
    """Every file of the repository, relative path -> text, in the order they are made."""
    if size.customers < 1 or size.services < 1 or size.environments < 1:
        raise ValueError("customers, services and environments must each be at least 1")
    if not 0 <= size.env_services <= 2:
        raise ValueError("env_services must be 0, 1 or 2")
    rng = random.Random(size.seed)
    customer, wide = service_specs(size)
    wide_names = [spec.name for spec in wide]
    environments = environment_specs(size)
    note = f"Generated by benchmarks/generate.py (seed {size.seed}); do not edit."

    def header(schema: str, depth: int = 2) -> str:
        return f"yaml-language-server: $schema={'../' * depth}schemas/{schema}.schema.json\n{note}"

    files: dict[str, str] = {
        "catalog/plans.yaml": dump(plans_document(), header("plans", 1)),
        "catalog/teams.yaml": dump(teams_document(), header("teams", 1)),
    }
    for spec in (*customer, *wide):
        files[f"catalog/services/{spec.name}.yaml"] = dump(
            service_document(spec, customer, wide_names), header("service")
        )
    if size.edge:
        edge = edge_document(customer, wide)
        files[f"catalog/services/{EDGE}.yaml"] = dump(edge, header("service"))
        kube_edge = kube_edge_document(customer, wide, size.customers)
        files[f"catalog/services/{KUBE_EDGE}.yaml"] = dump(kube_edge, header("service"))
    for name, tier in environments:
        files[f"environments/{name}/environment.yaml"] = dump(
            environment_document(name, tier, customer, wide, size.applications, size.edge),
            header("environment"),
        )
    width = max(4, len(str(size.customers - 1)))
    for index in range(size.customers):
        doc = customer_document(index, width, rng, customer, environments)
        files[f"catalog/customers/{doc['name']}.yaml"] = dump(doc, header("customer"))
    return files
