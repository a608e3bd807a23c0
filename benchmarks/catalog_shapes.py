"""The sizes a benchmark asks for, and the catalog shape each one implies.

A `Size` (customers, customer-scoped services, environments, environment-scoped services,
seed) fixes, before any document is written, which services exist, what kind each one is
(`ServiceSpec`: name, archetype, runtime, host pool) and which environments there are, in
a fixed order. Kept apart from the documents so that the questions a benchmark reader
asks, "how many instances is this size" and "which services and environments does it
have", are answered here without reading the YAML builders in catalog_services.py and
catalog_documents.py, which only fill in the content.
"""

from __future__ import annotations

from dataclasses import dataclass

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
EDGE = "edge-proxy"  # environment-scoped, vm: routes the ingress hosts (issue 18)
EDGE_POOL = "edges"
KUBE_EDGE = "kube-edge"  # environment-scoped, kubernetes: an edge on each cluster (issue 18)


@dataclass(frozen=True)
class Size:
    customers: int
    services: int
    environments: int
    env_services: int = 2
    seed: int = 1
    # every environment's `argocd.applications` (issue 15: how many Applications)
    applications: str = "per-instance"
    # an edge (EDGE, environment-scoped, vm) routing every ingress host, and one on
    # Kubernetes (KUBE_EDGE) on each cluster (issue 18)
    edge: bool = True

    @property
    def instances(self) -> int:
        """Every customer enables every customer-scoped service everywhere (see generate.py)."""
        wide = self.env_services + (2 if self.edge else 0)
        return (self.customers * self.services + wide) * self.environments


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
