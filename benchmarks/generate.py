"""Write a synthetic, valid gitopsc repository of a chosen size, for benchmarks.

    python benchmarks/generate.py --customers 1000 --services 10 --environments 3 \
        --out /tmp/bench [--env-services 2] [--seed 1]

Why synthetic: the example catalog has 40 instances; performance problems show up at tens
of thousands. The generated catalog uses every feature a real one does (kubernetes and vm
services, customer- and environment-scoped services, dependencies, plan presets,
`${customer.*}` / `${env.*}` / `${values.*}` interpolation, secret references, DNS,
buckets and databases, environment defaults and overrides, per-customer overrides, clusters
per residency, host pools, suspended and offboarding customers), so that every code path
of load, validate and resolve is exercised in realistic proportions.

How instances are counted: `--services S` customer-scoped services, all enabled by every
customer in every environment, plus `--env-services` (0-2, default 2) environment-scoped
ones that run once per environment:

    instances = customers x S x environments + env_services x environments

Output is deterministic: the same arguments and seed give byte-identical files (the
random choices come from one seeded `random.Random`, files are written in a fixed order,
and nothing depends on time, locale or dict/set iteration of unordered input).

Only the standard library is used: the YAML is emitted by the small writer below, which
quotes any string that a YAML 1.2 reader could take for something other than a string.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = ".gitopsc-benchmark.json"  # written at the root; proves the folder is ours to replace

PLANS = (
    ("starter", "Small teams; one replica, shared capacity.", (4, "8Gi", 20, "50Gi")),
    ("business", "Companies; larger limits and daily backups.", (8, "16Gi", 40, "200Gi")),
    ("enterprise", "Regulated organisations; HA and autoscaling.", (32, "64Gi", 120, "1Ti")),
)
PLAN_WEIGHTS = (50, 35, 15)
RESIDENCIES = ("eu", "ch", "us")
RESIDENCY_WEIGHTS = (60, 25, 15)
TEAMS = ("chat-platform", "mail-ops", "data-services", "identity")
# Environment names in the order they are taken, with their tier; prod first so that even
# a 1- or 2-environment catalog has the multi-cluster, per-residency placement.
ENVIRONMENTS = (
    ("prod", "prod"),
    ("staging", "staging"),
    ("dev", "dev"),
    ("qa", "staging"),
    ("perf", "staging"),
    ("sandbox", "dev"),
)
# Cluster sites per residency in prod-tier environments (region, residency).
SITES = (("fra1", "eu"), ("zrh1", "ch"), ("iad1", "us"))

# Customer-scoped services cycle through five archetypes; the names of the first ten
# follow a chat platform like the example catalog, further ones get a numeric suffix.
SERVICE_NAMES = (
    "postgres",
    "synapse",
    "element-web",
    "media-worker",
    "postfix-relay",
    "redis",
    "mas",
    "admin-web",
    "sliding-sync",
    "backup-agent",
)
ARCHETYPES = ("database", "app", "web", "worker", "vm")
SPAM_FILTER = "rspamd"  # environment-scoped, vm
PUSH_GATEWAY = "sygnal"  # environment-scoped, kubernetes

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


# ---------------------------------------------------------------- YAML writer


class Flow(dict):
    """A mapping written in flow style (`{cpu: 50m, memory: 64Mi}`), as people write it."""


_PLAIN = re.compile(r"[A-Za-z_/$][^\n]*\Z")
_RESERVED = frozenset({"", "~", "null", "true", "false", "yes", "no", "on", "off"})


def _scalar(value: Any, flow: bool = False) -> str:
    """One scalar as YAML text; strings are quoted unless they are unambiguously plain."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"cannot write {type(value).__name__} {value!r}")
    plain = (
        _PLAIN.match(value) is not None
        and value.lower() not in _RESERVED
        and ": " not in value
        and " #" not in value
        and not value.endswith((":", " "))
        and not (flow and any(char in value for char in ",[]{}:#"))
    )
    return value if plain else json.dumps(value, ensure_ascii=False)


def _inline(value: Any) -> str | None:
    """Flow text of a value that fits on its key's line, or None for a block."""
    if isinstance(value, Flow):
        items = ", ".join(f"{_scalar(k, True)}: {_scalar(v, True)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, dict):
        return "{}" if not value else None
    if isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            return "[" + ", ".join(_scalar(item, True) for item in value) + "]"
        return None
    return _scalar(value)


def _block(node: dict[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in node.items():
        head = f"{pad}{_scalar(key)}:"
        if value is None:  # `service:` alone enables a service with no override
            lines.append(head)
            continue
        text = _inline(value)
        if text is not None:
            lines.append(f"{head} {text}")
        elif isinstance(value, dict):
            lines.append(head)
            _block(value, indent + 2, lines)
        else:
            lines.append(head)
            for item in value:
                if isinstance(item, Flow):
                    lines.append(f"{pad}  - {_inline(item)}")
                else:
                    start = len(lines)
                    _block(item, indent + 4, lines)
                    lines[start] = f"{pad}  - " + lines[start].lstrip()


def dump(node: dict[str, Any], header: str = "") -> str:
    """A YAML document for `node`, with `header` comment lines on top."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    _block(node, 0, lines)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the catalog


STARTER_POLICIES = Path(__file__).resolve().parent.parent / "policies"


@dataclass(frozen=True)
class Size:
    customers: int
    services: int
    environments: int
    env_services: int = 2
    seed: int = 1

    @property
    def instances(self) -> int:
        """Every customer enables every customer-scoped service everywhere (see top)."""
        return (self.customers * self.services + self.env_services) * self.environments


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    archetype: str  # one of ARCHETYPES, or "push" / "spam" for the environment-scoped ones
    index: int

    @property
    def runtime(self) -> str:
        return "vm" if self.archetype in ("vm", "spam") else "kubernetes"

    @property
    def pool(self) -> str:
        return f"{self.name}-hosts"


def service_specs(size: Size) -> tuple[list[ServiceSpec], list[ServiceSpec]]:
    """The customer-scoped and the environment-scoped services, in a fixed order."""
    customer = []
    for index in range(size.services):
        base = SERVICE_NAMES[index % len(SERVICE_NAMES)]
        rounds = index // len(SERVICE_NAMES)
        name = base if rounds == 0 else f"{base}-{rounds + 1}"
        customer.append(ServiceSpec(name, ARCHETYPES[index % len(ARCHETYPES)], index))
    wide = [ServiceSpec(SPAM_FILTER, "spam", 0), ServiceSpec(PUSH_GATEWAY, "push", 1)]
    return customer, wide[: size.env_services]


def environment_specs(size: Size) -> list[tuple[str, str]]:
    names = list(ENVIRONMENTS[: size.environments])
    names += [(f"env{n}", "dev") for n in range(len(names) + 1, size.environments + 1)]
    return names


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def _image(registry: str, name: str, tag: str) -> str:
    return f"{registry}/{name}:{tag}@sha256:{_digest(name, tag)}"


def _secret(service: str, prop: str, scope: str = "${customer.name}") -> Flow:
    return Flow(key=f"${{env.name}}/{scope}/{service}", property=prop)


def _resources(cpu: str, memory: str, cpu_limit: Any, memory_limit: str) -> dict[str, Any]:
    return {
        "requests": Flow(cpu=cpu, memory=memory),
        "limits": Flow(cpu=cpu_limit, memory=memory_limit),
    }


def _env_key(name: str) -> str:
    return name.upper().replace("-", "_")


def _depends_on(spec: ServiceSpec, customer: list[ServiceSpec], wide: list[str]) -> list[str]:
    """A dependency DAG in the spirit of the example: apps need the nearest database before
    them, web clients and workers the nearest app, mail relays the spam filter."""
    earlier = customer[: spec.index]

    def nearest(archetype: str) -> list[str]:
        found = [s.name for s in earlier if s.archetype == archetype]
        return found[-1:]

    if spec.archetype == "app":
        return nearest("database")
    if spec.archetype in ("web", "worker"):
        return nearest("app") or nearest("database")
    if spec.archetype == "vm":
        return ([SPAM_FILTER] if SPAM_FILTER in wide else []) + nearest("database")
    return []


def service_document(spec: ServiceSpec, customer: list[ServiceSpec], wide: list[str]) -> dict:
    """One service file, shaped after the example service of the same archetype."""
    name, key = spec.name, _env_key(spec.name)
    doc: dict[str, Any] = {"name": name}
    scope = "environment" if spec.archetype in ("spam", "push") else "customer"
    owners = {"database": "data-services", "vm": "mail-ops", "spam": "mail-ops", "app": "identity"}
    doc["description"] = f"Synthetic {spec.archetype} service '{name}' ({scope}-scoped)."
    doc["owner"] = owners.get(spec.archetype, "chat-platform")
    doc["runtime"] = spec.runtime
    doc["scope"] = scope
    if spec.archetype == "database":
        doc["workload"] = "StatefulSet"
    depends = _depends_on(spec, customer, wide) if scope == "customer" else []
    if depends:
        doc["depends_on"] = depends
    plans: dict[str, Any] = {}

    if spec.archetype == "database":
        defaults: dict[str, Any] = {
            "image": _image("docker.io/library", name, "16.4-bookworm"),
            "replicas": 1,
            "ports": Flow(db=5432),
            "resources": _resources("250m", "512Mi", 1, "1Gi"),
            "probes": {
                "liveness": Flow(type="tcp", port="db", initial_delay_seconds=30),
                "readiness": Flow(type="tcp", port="db"),
            },
            "config": {
                "DB_NAME": "${customer.name}",
                "DB_PORT": "${values.ports.db}",
                "WAL_ARCHIVE_BUCKET": f"${{customer.name}}-${{env.name}}-{name}-wal",
            },
            "secrets": {"DB_PASSWORD": _secret(name, "password")},
            "infrastructure": {"buckets": {"wal": Flow(versioning=False, retention_days=14)}},
        }
        plans = {
            "business": {"resources": _resources("500m", "1Gi", 2, "2Gi")},
            "enterprise": {
                "resources": _resources("2", "4Gi", 4, "8Gi"),
                "infrastructure": {"buckets": {"wal": Flow(retention_days=35)}},
            },
        }
    elif spec.archetype == "app":
        database = _depends_on(spec, customer, wide)
        defaults = {
            "image": _image("ghcr.io/example", name, "v1.120.2"),
            "replicas": 1,
            "ports": Flow(http=8008, metrics=9000),
            "resources": _resources("250m", "512Mi", 1, "1Gi"),
            "probes": {
                "liveness": Flow(path="/health", port="http", initial_delay_seconds=20),
                "readiness": Flow(path="/health", port="http"),
            },
            "config": {
                "SERVER_NAME": "${customer.domain}",
                "PUBLIC_BASEURL": "https://${values.ingress.host}/",
                "METRICS_PORT": "${values.ports.metrics}",
                "REPORT_STATS": "no",
                "MEDIA_BUCKET": f"${{customer.name}}-${{env.name}}-{name}-media",
            },
            "secrets": {
                f"{key}_SIGNING_KEY": _secret(name, "signing_key"),
                f"{key}_SHARED_SECRET": _secret(name, "shared_secret"),
            },
            "ingress": Flow(host=f"{name}.${{customer.domain}}", port="http"),
            "infrastructure": {
                "database": Flow(engine="postgres", version="16", size="small", storage_gb=20),
                "buckets": {"media": Flow(versioning=True)},
                "dns": {
                    "web": {
                        "name": "${values.ingress.host}",
                        "type": "CNAME",
                        "value": "ingress.${instance.cluster}.${env.base_domain}",
                    }
                },
            },
        }
        if database:
            defaults["config"]["DB_HOST"] = f"{database[0]}.${{instance.namespace}}.svc"
            defaults["secrets"]["DB_PASSWORD"] = _secret(database[0], "password")
        plans = {
            "business": {"resources": _resources("500m", "1Gi", 2, "2Gi")},
            "enterprise": {
                "resources": _resources("1", "2Gi", 4, "4Gi"),
                "autoscaling": Flow(min_replicas=2, max_replicas=6, target_cpu_percent=70),
                "infrastructure": {"database": Flow(size="medium", high_availability=True)},
            },
        }
    elif spec.archetype == "web":
        app = _depends_on(spec, customer, wide)
        upstream = f"https://{app[0]}.${{customer.domain}}" if app else "https://${env.base_domain}"
        defaults = {
            "image": _image("docker.io/example", name, "v1.11.90"),
            "replicas": 1,
            "ports": Flow(http=8080),
            "resources": _resources("50m", "64Mi", "200m", "128Mi"),
            "probes": {
                "liveness": Flow(path="/", port="http"),
                "readiness": Flow(path="/", port="http"),
            },
            "config": {
                "UPSTREAM_URL": upstream,
                "SERVER_NAME": "${customer.domain}",
                "BRAND": "${customer.display_name} Chat",
            },
            "ingress": Flow(host=f"{name}.${{customer.domain}}", port="http"),
            "infrastructure": {
                "dns": {
                    "web": {
                        "name": f"{name}.${{customer.domain}}",
                        "type": "CNAME",
                        "value": "ingress.${instance.cluster}.${env.base_domain}",
                    }
                }
            },
        }
    elif spec.archetype in ("worker", "push"):
        scope_name = "${customer.name}" if scope == "customer" else "platform"
        defaults = {
            "image": _image("docker.io/example", name, "v0.15.1"),
            "replicas": 1,
            "ports": Flow(metrics=9100),
            "resources": _resources("100m", "128Mi", "500m", "256Mi"),
            "probes": {
                "liveness": Flow(path="/health", port="metrics"),
                "readiness": Flow(path="/health", port="metrics"),
            },
            "config": {
                f"{key}_LOG_LEVEL": "INFO",
                f"{key}_WORKERS": 2,
                f"{key}_METRICS": "http://0.0.0.0:${values.ports.metrics}/metrics",
                f"{key}_CONF": f"/etc/{name}/{name}.yaml",
            },
            "secrets": {f"{key}_API_TOKEN": _secret(name, "api_token", scope_name)},
        }
        if spec.archetype == "push":
            defaults["ports"] = Flow(http=5000, metrics=9100)
            defaults["ingress"] = Flow(host="push.${env.base_domain}", port="http")
        else:
            plans = {
                "enterprise": {
                    "autoscaling": Flow(min_replicas=2, max_replicas=8, target_cpu_percent=75),
                }
            }
    elif spec.archetype == "vm":
        defaults = {
            "vm": {
                "host_pool": spec.pool,
                "vars": {
                    f"{name.replace('-', '_')}_domain": "${customer.domain}",
                    f"{name.replace('-', '_')}_hostname": "mx.${env.base_domain}",
                    "message_size_limit": 26214400,
                    "milters": ["inet:localhost:11332"],
                },
            },
            "secrets": {"SASL_PASSWORD": _secret(name, "sasl_password")},
            "infrastructure": {
                "dns": {
                    "mx": Flow(
                        name="${customer.domain}",
                        type="MX",
                        value="mx.${env.base_domain}",
                        priority=10,
                    ),
                    "spf": Flow(
                        name="${customer.domain}",
                        type="TXT",
                        value="v=spf1 include:_spf.${env.base_domain} -all",
                    ),
                }
            },
        }
        plans = {"enterprise": {"vm": {"vars": Flow(message_size_limit=52428800)}}}
    else:  # spam: environment-scoped vm service
        defaults = {
            "vm": {
                "host_pool": spec.pool,
                "vars": Flow(workers=2, redis_servers="localhost:6379", greylisting=True),
            }
        }
    doc["defaults"] = defaults
    if plans:
        doc["plans"] = plans
    return doc


def environment_document(
    name: str, tier: str, customer: list[ServiceSpec], wide: list[ServiceSpec]
) -> dict:
    """Clusters per residency in prod, one shared cluster elsewhere; a host pool for every
    vm service; defaults and a few per-service overrides by tier."""
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
        },
        "secret_store": {"name": f"vault-{name}"},
        "awx": {"organization": "Platform", "project": "gitops", "inventory": name},
        "host_pools": pools,
        "defaults": defaults,
    }
    if overrides:
        doc["services"] = overrides
    return doc


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
    if overridden:
        services: dict[str, Any] = {}
        for spec in customer:
            if spec.archetype == "app":
                services[spec.name] = {"config": {"MAX_UPLOAD_SIZE": "100M"}}
            elif spec.archetype == "vm":
                services[spec.name] = {"vm": {"vars": Flow(tls_security_level="encrypt")}}
        if services:
            doc["services"] = services
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
                    address=f"192.0.2.{n + 10}",
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
            {"name": team, "email": f"{team}@example.net", "chat": f"#{team}"} for team in TEAMS
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
    for name, tier in environments:
        files[f"environments/{name}/environment.yaml"] = dump(
            environment_document(name, tier, customer, wide), header("environment")
        )
    width = max(4, len(str(size.customers - 1)))
    for index in range(size.customers):
        doc = customer_document(index, width, rng, customer, environments)
        files[f"catalog/customers/{doc['name']}.yaml"] = dump(doc, header("customer"))
    return files


def write_catalog(size: Size, out: Path) -> dict[str, Any]:
    """Write the repository at `out` and return its summary (also saved as MARKER).

    A folder that already has catalog/ or environments/ is only replaced if a previous
    run of this script wrote it, so `--out .` can never wipe a real catalog.
    """
    out.mkdir(parents=True, exist_ok=True)
    ours = (out / MARKER).is_file()
    for part in ("catalog", "environments", "policies"):
        if (out / part).exists():
            if not ours:
                raise SystemExit(
                    f"{out / part} exists and was not written by generate.py; "
                    "choose an empty or new folder"
                )
            shutil.rmtree(out / part)
    files = catalog_texts(size)
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    summary = {
        "customers": size.customers,
        "services": size.services,
        "env_services": size.env_services,
        "environments": size.environments,
        "seed": size.seed,
        "instances": size.instances,
        "files": len(files),
        "bytes": sum(len(text.encode("utf-8")) for text in files.values()),
    }
    # the example's starter pack (policies, config, custom checkov checks), so that a
    # benchmarked `check` evaluates what a real repository would
    shutil.copytree(
        STARTER_POLICIES, out / "policies", ignore=shutil.ignore_patterns("__pycache__")
    )
    (out / MARKER).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--services", type=int, default=10, help="customer-scoped services")
    parser.add_argument("--environments", type=int, default=3)
    parser.add_argument(
        "--env-services", type=int, default=2, help="environment-scoped services (0-2)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    size = Size(args.customers, args.services, args.environments, args.env_services, args.seed)
    try:
        summary = write_catalog(size, args.out)
    except ValueError as error:
        parser.error(str(error))
    print(
        f"wrote {summary['files']} files ({summary['bytes']:,} bytes) to {args.out}: "
        f"{summary['instances']:,} instances = ({size.customers} customers x "
        f"{size.services} services + {size.env_services} environment-scoped) x "
        f"{size.environments} environments"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
