"""A customer's data stays where its residency says: refused as input, not graded.

A customer promised that its data stays in Switzerland (`residency: ch`) must never be
written to a cluster or host outside the residencies that place may hold. Before issue
16 only the `residency-region` check said so; `validate` passed, and the resolver put a
customer that no cluster of the environment may hold on the environment's first
cluster, so `compile` wrote a data-residency breach into the output. No organisation
may grade a breach of a customer's contract as acceptable, so it is a catalog error
(exit 2), located at the line that is wrong given the rest of the catalog:

- a residency that no cluster or host of any environment holds is most likely a typo
  or a region not built yet: at the customer's `residency:` line, with a did-you-mean;
- a residency that other environments hold, but no cluster of this one: the placement
  is the mistake (the residency is right for the others), so at the customer's
  `environments.<env>` entry, the hint naming the `residency:` line;
- a pin (`environments.<env>.cluster`) on a cluster that does not hold it: at the pin;
- one of the customer's own hosts of another residency: at that host's `residency:`;
- a host pool (`vm.host_pool`, after layers merge) with a host of another residency:
  from the resolver (`pool_problems`), at the layer that chose the pool;
- a network rule to a host pool or hosts of another residency (mail sent through a
  relay in another country has left the customer's residency): from reachability.py's
  `_peer`, at the rule's peer.

The `residency-region` check repeats the rule on the resolved instances, so that the
guarantee stays visible in the reports.
"""

from __future__ import annotations

from compiler.catalog.layout import Catalog
from compiler.catalog.models import Customer, Environment, Host
from compiler.errors import Problem, did_you_mean


def catalog_problems(catalog: Catalog) -> list[Problem]:
    """Every customer placement that would put its data outside its residency."""
    served = {
        residency
        for env in catalog.environments.values()
        for residency in (
            *(r for cluster in env.clusters for r in cluster.residency),
            *(host.residency for pool in env.host_pools.values() for host in pool),
        )
    }
    problems: list[Problem] = []
    for name in sorted(catalog.customers):
        customer = catalog.customers[name]
        src = catalog.source("customer", name)
        if customer.residency not in served:
            problems.append(
                Problem(
                    src.locate("residency"),
                    f"no cluster or host of any environment holds residency '{customer.residency}'",
                    did_you_mean(customer.residency, served)
                    or f"residencies held: {', '.join(sorted(served)) or 'none'}",
                )
            )
            continue  # the same mistake again per environment would only bury it
        for env_name, placement in customer.environments.items():
            env = catalog.environments.get(env_name)
            if env is None:
                continue  # an unknown environment: reported by check_references
            residency_line = src.locate("residency")
            for index, host in enumerate(placement.hosts):
                if host.residency != customer.residency:
                    problems.append(
                        Problem(
                            src.locate("environments", env_name, "hosts", index, "residency"),
                            f"host {host.name} is in residency '{host.residency}', not the "
                            f"customer's '{customer.residency}'",
                            f"the customer's data stays in '{customer.residency}' "
                            f"(residency at {residency_line}); list a host there",
                        )
                    )
            if not _runs_on_clusters(catalog, customer, env_name):
                continue
            holding = [c.name for c in env.clusters if customer.residency in c.residency]
            pinned = next((c for c in env.clusters if c.name == placement.cluster), None)
            if pinned is not None and customer.residency not in pinned.residency:
                problems.append(
                    Problem(
                        src.locate("environments", env_name, "cluster"),
                        f"cluster '{pinned.name}' (region {pinned.region}) holds "
                        f"{', '.join(pinned.residency)}, not the customer's residency "
                        f"'{customer.residency}'",
                        f"pin a cluster that holds it ({', '.join(holding)}), or drop the pin"
                        if holding
                        else f"environment '{env_name}' has no cluster that holds it",
                    )
                )
            elif placement.cluster is None and not holding:
                problems.append(
                    Problem(
                        src.locate("environments", env_name),
                        f"no cluster of environment '{env_name}' holds the customer's "
                        f"residency '{customer.residency}' ({_clusters(env)})",
                        f"residency at {residency_line}; place the customer in an "
                        f"environment that holds it, or add a cluster with residency "
                        f"[{customer.residency}] to environment '{env_name}'",
                    )
                )
    return problems


def pool_problems(customer: Customer, pool: str, hosts: tuple[Host, ...]) -> list[str]:
    """A customer's instance on a host pool: one message per pool, naming each host
    outside the customer's residency (empty when all of them hold it)."""
    outside = [h for h in hosts if h.residency != customer.residency]
    if not outside:
        return []
    names = ", ".join(f"{h.name} ({h.residency})" for h in outside)
    return [
        f"host pool '{pool}' has hosts outside the customer's residency "
        f"'{customer.residency}': {names}"
    ]


def _runs_on_clusters(catalog: Catalog, customer: Customer, env_name: str) -> bool:
    """Whether the customer has an instance on a cluster of the environment: a
    customer-scoped Kubernetes service enabled there."""
    for service_name in customer.environments[env_name].services:
        service = catalog.services.get(service_name)
        if service is not None and service.scope == "customer" and service.runtime == "kubernetes":
            return True
    return False


def _clusters(env: Environment) -> str:
    return "; ".join(f"{c.name} holds {', '.join(c.residency)}" for c in env.clusters)
