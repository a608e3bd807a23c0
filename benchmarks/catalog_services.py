"""The service files of the benchmark catalog: one document per `ServiceSpec`.

Each service is shaped after the example catalog's service of the same archetype
(database, app, web, worker, vm, and the environment-scoped spam filter and push gateway),
so the benchmarks exercise the same features a real catalog does: images pinned by digest,
probes, `${customer.*}` / `${env.*}` / `${values.*}` interpolation, secret references,
buckets, databases and DNS records, dependencies between services, and plan presets. The
largest builder of the generator, hence a module of its own; catalog_documents.py puts
these documents into the repository next to the environments and customers.
"""

from __future__ import annotations

import hashlib
from typing import Any

from catalog_shapes import EDGE, EDGE_POOL, KUBE_EDGE, SPAM_FILTER, ServiceSpec
from catalog_yaml import Flow


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
            # issue 18: scraped, with an SLO compiled into burn-rate alerts (the scrape is
            # admitted from the environment's monitoring namespace)
            "monitoring": {
                "scrape": Flow(port="metrics", path="/metrics"),
                "slos": {
                    "availability": {
                        "objective": 99.9,
                        "sli": {
                            "errors": f"sum(rate({key.lower()}_http_responses_total"
                            '{customer="${customer.name}",code=~"5.."}[{{window}}]))',
                            "total": f"sum(rate({key.lower()}_http_responses_total"
                            '{customer="${customer.name}"}[{{window}}]))',
                        },
                    }
                },
            },
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
                "monitoring": {"slos": {"availability": Flow(objective=99.95)}},
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
        # issue 18: the hosts' certificate (ACME role); Postfix's STARTTLS from it for the
        # relay only (a customer's own hosts run every vm service, and have one main.cf)
        defaults["vm"]["tls"] = {"names": [f"{name}.${{env.base_domain}}"]}
        if name == "postfix-relay":
            defaults["vm"]["tls"] = {
                "names": ["mx.${env.base_domain}"],
                "postfix": Flow(
                    inbound="may",
                    outbound="dane",
                    customer_domains="encrypt",
                    mta_sts_resolver="inet:127.0.0.1:8461",
                ),
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


def edge_document(customer: list[ServiceSpec], wide: list[ServiceSpec]) -> dict:
    """The edge (issue 18): HAProxy on the `edges` pool, routing the ingress hosts of
    every service that has one (the app and web archetypes, and the push gateway)."""
    routes = [s.name for s in (*customer, *wide) if s.archetype in ("app", "web", "push")]
    return {
        "name": EDGE,
        "description": "Synthetic edge: routes every ingress host to its cluster.",
        "owner": "chat-platform",
        "runtime": "vm",
        "scope": "environment",
        "defaults": {
            "vm": {"host_pool": EDGE_POOL},
            "edge": {"software": "haproxy", "routes": routes},
        },
    }


def kube_edge_document(
    customer: list[ServiceSpec], wide: list[ServiceSpec], customers: int
) -> dict:
    """The edge on Kubernetes (issue 18): HAProxy on each cluster, its configuration in
    its ConfigMap of files. It routes the first web service (up to 1,000 customers) and
    the push gateway only: a ConfigMap holds at most 1 MiB (gitopsc allows 256 KiB of
    files), and a table of every ingress host of a thousand customers would not fit
    (the VM edge carries that); past 1,000 customers even one web service's hosts do
    not fit (3,000 customers: 589 KiB on one cluster), so only the push gateway."""
    routes = [s.name for s in customer if s.archetype == "web"][:1] if customers <= 1000 else []
    routes += [s.name for s in wide if s.archetype == "push"]
    if not routes:
        routes = [s.name for s in (*customer, *wide) if s.archetype in ("app", "web", "push")]
    return {
        "name": KUBE_EDGE,
        "description": "Synthetic edge on Kubernetes: routes web and push hosts per cluster.",
        "owner": "chat-platform",
        "runtime": "kubernetes",
        "scope": "environment",
        "defaults": {
            "image": _image("docker.io/library", "haproxy", "3.0.5"),
            "replicas": 2,
            "ports": Flow(https=8443, http=8080),
            "expose": {
                "https": Flow(type="LoadBalancer"),
                "http": Flow(type="LoadBalancer"),
            },
            "resources": _resources("100m", "128Mi", "500m", "256Mi"),
            "probes": {
                "liveness": Flow(type="tcp", port="https"),
                "readiness": Flow(type="tcp", port="https"),
            },
            # its egress to the clusters' ingress is derived from its routes
            "edge": {"software": "haproxy", "routes": routes},
        },
    }
