"""The tenant boundary of the catalog (issue 11): what one customer's file may reach.

A catalog editor is trusted with their own customer's file, not with other customers.
Whatever a customer file says, its instances must not read another tenant's secrets,
run on another owner's machines, or serve another owner's host names. Each rule here
turns such a reach into a located error, at the line that makes it:

- secrets: a customer's instance reads keys under the environment's
  `secret_store.customer_prefix` only (`prod/acme/`), an environment-wide service under
  `platform_prefix` only (`prod/platform/`), and a reference names only the stores the
  environment allows (`secret_store.name` and `extra_stores`);
- host names (customers' own `hosts`, environments' `host_pools`) belong to one owner:
  one customer, or the platform's host pools; so do addresses within an environment;
- names a customer's instance publishes (ingress host, DNS record names) lie inside the
  customer's `domains`; an environment-wide service's inside the environment's
  `base_domain`; a customer's domain is neither inside nor around another customer's
  domain, nor an environment's base domain or around one, nor around any other name the
  platform owns (host-pool hosts, API servers, the ArgoCD repository host), and a
  customer's ingress host is not one an environment-wide service serves. Two customers
  with the same domain are left to the `domain-unique` check.

Host and domain names are compared in lower case and without a trailing dot. Secret
keys are compared exactly: the key's shape (models, `SecretKey`) already refuses `..`,
empty parts and anything but ASCII letters, digits, `_`, `-` and `.`.

`catalog_problems` runs in the validate stage (it needs only the files),
`instance_problems` and `platform_hosts_taken` in the resolve stage (they need the
merged, interpolated values).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from compiler.catalog.layout import Catalog, Source
from compiler.catalog.loader import YamlPath
from compiler.catalog.models import Customer, Environment, Host, Settings, expand_prefix
from compiler.errors import Location, Problem

if TYPE_CHECKING:
    from compiler.catalog.resolver import Instance

PLATFORM = "the host pools"  # the one owner of every host in every environment's pools


def dns_key(name: str) -> str:
    """A host or domain name as DNS compares it: case-insensitive, trailing dot optional."""
    return name.strip().lower().rstrip(".")


def within(name: str, domain: str) -> bool:
    """`name` is `domain` or a subdomain of it (`evilacme.example` is not in `acme.example`)."""
    name, domain = dns_key(name), dns_key(domain)
    return name == domain or name.endswith("." + domain)


def secret_prefix(env: Environment, customer: Customer | None) -> str:
    """The key prefix an instance may read: the customer's, or the platform's for an
    environment-wide service (`prod/acme/`, `prod/platform/`). Public so that a check
    over rendered objects (patched ExternalSecrets) can hold them to the same rule."""
    facts = {"env.name": env.name, "env.tier": env.tier}
    if customer is None:
        return expand_prefix(env.secret_store.platform_prefix, facts)
    return expand_prefix(
        env.secret_store.customer_prefix, {**facts, "customer.name": customer.name}
    )


def allowed_stores(env: Environment) -> list[str]:
    """The stores a secret reference may name: the environment's own, then `extra_stores`."""
    return [env.secret_store.name, *env.secret_store.extra_stores]


def tenant_domains(env: Environment, customer: Customer | None) -> list[str]:
    """The domains an instance may publish names in (ingress hosts, DNS records)."""
    return list(customer.domains) if customer is not None else [env.base_domain]


# ---------------------------------------------------------------- resolve stage


def instance_problems(
    env: Environment, customer: Customer | None, settings: Settings
) -> Iterator[tuple[YamlPath, str, str]]:
    """What one instance's merged values reach beyond its tenant: (path, message, hint).

    The resolver reports each at the layer that wrote the path, so the error lands on
    the `key:`, `store:` or `host:` line of whichever file set the value.
    """
    prefix, allowed, domains = (
        secret_prefix(env, customer),
        allowed_stores(env),
        tenant_domains(env, customer),
    )
    if customer is None:
        whose = f"environment-wide services in '{env.name}' (secret_store.platform_prefix)"
        owner = f"environment '{env.name}' (its base_domain)"
    else:
        whose = f"customer '{customer.name}' in '{env.name}' (secret_store.customer_prefix)"
        owner = f"customer '{customer.name}'"
    for variable, ref in sorted((settings.secrets or {}).items()):
        if not ref.key.startswith(prefix):
            yield (
                ("secrets", variable, "key"),
                f"secret key '{ref.key}' is not under '{prefix}', the prefix of {whose}",
                "an instance reads only its own tenant's secrets",
            )
        if ref.store is not None and ref.store not in allowed:
            yield (
                ("secrets", variable, "store"),
                f"secret store '{ref.store}' is not allowed in environment '{env.name}'",
                f"allowed: {', '.join(allowed)} (secret_store.name and extra_stores)",
            )
    names: list[tuple[YamlPath, str, str]] = []
    if settings.ingress:
        names.append((("ingress", "host"), "ingress host", settings.ingress.host))
    dns = settings.infrastructure.dns if settings.infrastructure else None
    for record, entry in sorted((dns or {}).items()):
        names.append((("infrastructure", "dns", record, "name"), "DNS record name", entry.name))
    for path, what, name in names:
        if not any(within(name, domain) for domain in domains):
            yield (
                path,
                f"{what} '{name}' is not in a domain of {owner}",
                f"use {' or '.join(domains)}, or a subdomain",
            )


def platform_hosts_taken(catalog: Catalog, instances: Iterable[Instance]) -> list[Problem]:
    """A customer's ingress host that an environment-wide service of the same environment
    serves: the ingress controller would split that host's traffic between the two, so a
    customer whose domain lies inside the base domain could take over a platform host."""
    platform: dict[tuple[str, str], str] = {}  # (environment, host) -> instance id
    claims: list[tuple[Instance, str, str]] = []  # (instance, its customer, its host)
    for instance in instances:
        ingress = instance.settings.ingress
        if ingress is None:
            continue
        if instance.customer is None:
            platform.setdefault((instance.environment, dns_key(ingress.host)), instance.id)
        else:
            claims.append((instance, instance.customer, ingress.host))
    problems = []
    for instance, customer, host in claims:
        taken = platform.get((instance.environment, dns_key(host)))
        if taken is None:
            continue
        origin = instance.origin(("ingress", "host")).location
        problems.append(
            Problem(
                origin or catalog.source("customer", customer).locate(),
                f"ingress host '{host}' is already served by {taken}",
                f"an environment-wide host is the platform's; in instance {instance.id}",
            )
        )
    return problems


# ---------------------------------------------------------------- validate stage


def catalog_problems(catalog: Catalog) -> list[Problem]:
    """The rules that need only the catalog files: host, domain and prefix ownership."""
    return _host_problems(catalog) + _domain_problems(catalog) + _prefix_problems(catalog)


@dataclass(frozen=True, slots=True)
class _Definition:
    """One place a host is listed, and who owns it there."""

    owner: str  # PLATFORM, or a customer name
    where: str  # the owner in words
    environment: str
    host: Host
    source: Source
    path: YamlPath

    def locate(self, field: str) -> Location:
        return self.source.locate(*self.path, field)


def _definitions(catalog: Catalog) -> list[_Definition]:
    """Every host listing: first the host pools (environments and pools in name order),
    then customers' own hosts (customers and environments in name order), each list in
    file order; so a customer listing a pool's host is reported in the customer's file."""
    found = []
    for env_name in sorted(catalog.environments):
        source = catalog.source("environment", env_name)
        pools = catalog.environments[env_name].host_pools
        for pool in sorted(pools):
            where = f"host pool '{pool}' of environment '{env_name}'"
            for index, host in enumerate(pools[pool]):
                path = ("host_pools", pool, index)
                found.append(_Definition(PLATFORM, where, env_name, host, source, path))
    for name in sorted(catalog.customers):
        source = catalog.source("customer", name)
        placements = catalog.customers[name].environments
        for env_name in sorted(placements):
            for index, host in enumerate(placements[env_name].hosts):
                path = ("environments", env_name, "hosts", index)
                found.append(_Definition(name, f"customer '{name}'", env_name, host, source, path))
    return found


def _host_problems(catalog: Catalog) -> list[Problem]:
    """A host name belongs to one owner across all environments, and an address to one
    owner within an environment (one AWX inventory): otherwise AWX would run one
    customer's plays, with its variables and secrets, on another owner's machine. The
    same owner may list a host again (another environment, another pool) if the listing
    is identical. Another owner may not, even identically: copying a line is the attack."""
    problems: list[Problem] = []
    by_name: dict[str, _Definition] = {}
    by_address: dict[tuple[str, str], _Definition] = {}
    for definition in _definitions(catalog):
        host = definition.host
        first = by_name.setdefault(dns_key(host.name), definition)
        if first.owner != definition.owner:
            problems.append(
                Problem(
                    definition.locate("name"),
                    f"host '{host.name}' already belongs to {first.where}",
                    f"first defined at {first.locate('name')}; a host belongs to one customer "
                    "or to the host pools",
                )
            )
            continue
        if _identity(first.host) != _identity(host):
            problems.append(
                Problem(
                    definition.locate("name"),
                    f"host '{host.name}' is defined differently at {first.locate('name')}",
                    "list a host with the same address, region and residency everywhere",
                )
            )
        key = (definition.environment, _address_key(host.address))
        other = by_address.setdefault(key, definition)
        if other.owner != definition.owner:
            problems.append(
                Problem(
                    definition.locate("address"),
                    f"address '{host.address}' of host '{host.name}' is already the address "
                    f"of host '{other.host.name}' of {other.where}",
                    f"first defined at {other.locate('address')}",
                )
            )
    return problems


def _identity(host: Host) -> tuple[str, str, str, str]:
    return dns_key(host.name), _address_key(host.address), host.region, host.residency


def _address_key(address: str) -> str:
    """An address as the network sees it: one spelling per IP address (`::ffff:192.0.2.1`
    is `192.0.2.1`), names compared like host names. A DNS name that resolves to another
    owner's machine cannot be seen from here; AWX credentials per customer guard that."""
    text = dns_key(address)
    try:
        ip = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _domain_problems(catalog: Catalog) -> list[Problem]:
    """A customer's ingress and DNS names are checked against its `domains`, so a domain
    must not reach into another owner's: a domain inside or around another customer's
    (`matrix.acme.example` or `example` against `acme.example`) is reported at the
    second customer in name order; one that is or contains a name of the platform
    (`_platform_names`: a base domain, a host-pool host, ...) would let the customer's
    DNS records and Ingresses take it over. The very same domain twice is the
    `domain-unique` check's."""
    problems: list[Problem] = []
    platform = _platform_names(catalog)
    claimed: dict[str, str] = {}  # domain -> the first customer that lists it
    around: dict[str, tuple[str, str]] = {}  # parent of a listed domain -> (domain, customer)
    for name in sorted(catalog.customers):
        source = catalog.source("customer", name)
        domains = [dns_key(domain) for domain in catalog.customers[name].domains]
        for index, domain in enumerate(domains):
            where = source.locate("domains", index)
            clash = next(
                (
                    (parent, claimed[parent])
                    for parent in _parents(domain)
                    if claimed.get(parent, name) != name
                ),
                None,
            )
            if clash is not None:
                problems.append(
                    Problem(
                        where,
                        f"domain '{domain}' of customer '{name}' is inside domain "
                        f"'{clash[0]}' of customer '{clash[1]}'",
                        "a domain and its subdomains belong to one customer",
                    )
                )
            elif around.get(domain, ("", name))[1] != name:
                inner, owner = around[domain]
                problems.append(
                    Problem(
                        where,
                        f"domain '{domain}' of customer '{name}' contains domain "
                        f"'{inner}' of customer '{owner}'",
                        "a domain and its subdomains belong to one customer",
                    )
                )
            owned: dict[str, list[str]] = {}  # what the platform name is -> environments
            for what, env_name in platform.get(domain, []):
                owned.setdefault(what, []).append(env_name)
            if owned:
                (what, env_names), *more = owned.items()
                also = f"it also holds {len(more)} more of the platform's names; " if more else ""
                problems.append(
                    Problem(
                        where,
                        f"domain '{domain}' of customer '{name}' is or contains {what} of "
                        f"environment {', '.join(dict.fromkeys(env_names))}",
                        f"{also}base domains, host-pool hosts, API servers and the ArgoCD "
                        "repository host are the platform's (a domain inside a base domain "
                        "is fine)",
                    )
                )
        for domain in domains:
            claimed.setdefault(domain, name)
            for parent in _parents(domain):
                around.setdefault(parent, (domain, name))
    return problems


def _platform_names(catalog: Catalog) -> dict[str, list[tuple[str, str]]]:
    """The DNS names the platform owns, under each domain that holds them (the name and
    its parents), as (what it is, environment): each environment's base domain, the
    hosts of its host pools, its clusters' API servers and the host of its ArgoCD
    repository. A customer domain holding one of them would let the customer's DNS
    records (which land in Terraform), Ingresses and certificates take that name."""
    names = []
    for env_name, env in sorted(catalog.environments.items()):
        names.append((env.base_domain, "the base domain", env_name))
        for cluster in env.clusters:
            host = _url_host(cluster.api_server)
            what = f"the API server '{host}' of cluster '{cluster.name}'"
            names.append((host, what, env_name))
        host = _url_host(env.argocd.repo_url)
        names.append((host, f"the ArgoCD repository host '{host}'", env_name))
        for pool, hosts in sorted(env.host_pools.items()):
            for entry in hosts:
                names.append((entry.name, f"host '{entry.name}' of host pool '{pool}'", env_name))
    holders: dict[str, list[tuple[str, str]]] = {}
    for name, what, env_name in names:
        key = dns_key(name)
        if key:  # "" for a URL without a host
            for holder in [key, *_parents(key)]:
                holders.setdefault(holder, []).append((what, env_name))
    return holders


def _url_host(url: str) -> str:
    """The host of an `https://`, `ssh://` or `git://` URL or of `git@host:path` ("" for
    a URL too broken to have one: the models only check the scheme)."""
    if "://" not in url:
        return url.partition("@")[2].partition(":")[0]
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # an unclosed '[' of an IPv6 address
        return ""


def _parents(domain: str) -> list[str]:
    """The proper parent domains: `a.b.example` -> `b.example`, `example`."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels))]


def _prefix_problems(catalog: Catalog) -> list[Problem]:
    """An environment may choose its prefixes; a customer's name must then not make its
    prefix one that holds the platform's secrets (customer `shared` against a platform
    prefix `prod/shared/`). With the defaults the name `platform` is reserved anyway."""
    problems = []
    for name in sorted(catalog.customers):
        for env_name in sorted(catalog.customers[name].environments):
            env = catalog.environments.get(env_name)
            if env is None:
                continue
            own = secret_prefix(env, catalog.customers[name])
            platform = secret_prefix(env, None)
            if platform.startswith(own):
                problems.append(
                    Problem(
                        catalog.source("customer", name).locate("name"),
                        f"customer '{name}' would read the platform's secrets in environment "
                        f"'{env_name}': its secret prefix '{own}' holds '{platform}'",
                        "choose another customer name",
                    )
                )
    return problems
