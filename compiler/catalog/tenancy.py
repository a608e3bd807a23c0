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
  one customer, or the platform's host pools; so do addresses within an environment,
  and an address that is a host name is that host's owner's; a customer's host has an
  IP address, and no address is loopback, link-local, unspecified, multicast or malformed;
- names a customer's instance publishes (ingress hosts, DNS record names, every domain's
  copy of those declared `for_each: domains`) lie inside the customer's `domains`; an
  environment-wide service's inside the environment's `base_domain`; a PTR record names
  an address of the tenant's own hosts (a customer's `hosts`, the environment's host
  pools), a customer's pointing at a name in its domains; a customer's domain is
  neither inside nor around another customer's domain, nor an environment's base
  domain or around one, nor around any other name the platform owns (host-pool hosts,
  API servers, the ArgoCD repository host); inside a base domain it is the customer's
  delegated zone `<customer>.<base>` or below, and that zone holds none of the names
  the platform's files put there (`mx`, cluster names); a customer's ingress host is
  not one an environment-wide service serves; and no domain is listed by two customers
  (the `domain-unique` check repeats that rule on the validated catalog).

Host and domain names are compared in lower case and without a trailing dot (`dns_key`;
a customer's `domains` can only be spelt so anyway: the model takes lower-case ASCII
names without a trailing dot, so an internationalised domain only as its `xn--` form). Secret
keys are compared exactly: the key's shape (models, `SecretKey`) already refuses `..`,
empty parts and anything but ASCII letters, digits, `_`, `-` and `.`.

`catalog_problems` runs in the validate stage (it needs only the files),
`instance_problems` and `platform_hosts_taken` in the resolve stage (they need the
merged, interpolated values).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from compiler.catalog import per_domain
from compiler.catalog.layout import Catalog, Source
from compiler.catalog.loader import YamlPath
from compiler.catalog.models import Customer, Environment, Host, Settings, expand_prefix
from compiler.catalog.per_domain import PerDomain, Record
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


def store_kind(env: Environment, name: str) -> str:
    """The kind of the store `name` in `env`: the environment's own store is of the kind
    it declares (a ClusterSecretStore by default); an extra store is a SecretStore in the
    instance's namespace. One answer for the renderer and for `tenant-scope`."""
    return env.secret_store.kind if name == env.secret_store.name else "SecretStore"


def tenant_domains(env: Environment, customer: Customer | None) -> list[str]:
    """The domains an instance may publish names in (ingress hosts, DNS records)."""
    return list(customer.domains) if customer is not None else [env.base_domain]


# ---------------------------------------------------------------- resolve stage


def instance_problems(
    env: Environment,
    customer: Customer | None,
    settings: Settings,
    each_domain: PerDomain,
) -> Iterator[tuple[YamlPath, str, str]]:
    """What one instance's merged values reach beyond its tenant: (path, message, hint).

    The resolver reports each at the layer that wrote the path, so the error lands on
    the `key:`, `store:`, `host:`, `name:` or `address:` line of whichever file set the
    value. Records and hosts declared for each domain are checked in every domain's copy.
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
    # the references of `secrets:` and those of the configuration files (`files:`)
    refs = [(("secrets", name), ref) for name, ref in sorted((settings.secrets or {}).items())]
    for path, spec in sorted((settings.files or {}).items()):
        refs += [
            (("files", path, "secrets", name), ref)
            for name, ref in sorted((spec.secrets or {}).items())
        ]
    for where, ref in refs:
        if not ref.key.startswith(prefix):
            yield (
                (*where, "key"),
                f"secret key '{ref.key}' is not under '{prefix}', the prefix of {whose}",
                "an instance reads only its own tenant's secrets",
            )
        if ref.store is not None and ref.store not in allowed:
            yield (
                (*where, "store"),
                f"secret store '{ref.store}' is not allowed in environment '{env.name}'",
                f"allowed: {', '.join(allowed)} (secret_store.name and extra_stores)",
            )
    names: list[tuple[YamlPath, str, str]] = [
        (("ingress", "host"), "ingress host", ingress.host)
        for _, ingress in per_domain.ingresses(settings, each_domain)
    ]
    for entry in per_domain.records(settings, each_domain):
        if entry.record.type == "PTR":
            yield from _reverse_problems(env, customer, entry, domains, owner)
        else:
            names.append(((*entry.path, "name"), "DNS record name", entry.record.owner))
    for path, what, name in dict.fromkeys(names):
        if not any(within(name, domain) for domain in domains):
            yield (
                path,
                f"{what} '{name}' is not in a domain of {owner}",
                f"use {' or '.join(domains)}, or a subdomain",
            )


def template_problems(
    settings: Settings, customer_wrote: Callable[[YamlPath], bool]
) -> Iterator[tuple[YamlPath, str, str]]:
    """Alert text (a plain alert's summary and labels) a customer's file writes holds
    no template action (`{{`). Prometheus expands an alerting rule's annotations and
    labels as Go templates each time it evaluates them, and `query` there runs any
    PromQL against the whole database: the operator's `enforcedNamespaceLabel` rewrites
    a rule's expression, not its text, so a customer's summary could read every
    customer's series (and cost a query per evaluation). The service's, plan's and
    environment's files may use templates (`{{ $value }}`); a customer's writes plain
    text."""
    monitoring = settings.monitoring
    if monitoring is None:
        return
    texts: list[tuple[YamlPath, str]] = []  # an SLO's description has none at all (models)
    for name, alert in sorted((monitoring.alerts or {}).items()):
        texts.append((("monitoring", "alerts", name, "summary"), alert.summary))
        texts += [
            (("monitoring", "alerts", name, "labels", key), value)
            for key, value in sorted(alert.labels.items())
        ]
    for path, text in texts:
        if "{{" in text and customer_wrote(path):
            yield (
                path,
                "a customer's file may not write a template action ('{{') in alert text: "
                "Prometheus expands it when the rule is evaluated, and a query there reads "
                "every customer's series",
                "write plain text here; the service's file may use templates such as {{ $value }}",
            )


def _reverse_problems(
    env: Environment, customer: Customer | None, entry: Record, domains: list[str], owner: str
) -> Iterator[tuple[YamlPath, str, str]]:
    """A PTR record writes into the reverse zone of its address, which belongs to
    whoever holds the address: a customer names only the addresses of its own `hosts`
    in the environment, and only names in its domains (else its relay could pose as
    another's in every log and spam filter); an environment-wide service only the
    addresses of the environment's host pools."""
    record = entry.record
    if customer is None:
        hosts = [host for pool in env.host_pools.values() for host in pool]
        whose = f"a host of a host pool of environment '{env.name}'"
    else:
        placement = customer.environments.get(env.name)
        hosts = list(placement.hosts) if placement else []
        whose = f"a host of customer '{customer.name}' in '{env.name}'"
    if _address_key(record.address or "") not in {_address_key(h.address) for h in hosts}:
        yield (
            (*entry.path, "address"),
            f"PTR address '{record.address}' is not the address of {whose}",
            "reverse DNS belongs to the address's owner: name the addresses of your own "
            "hosts (hosts: in the customer's environment)",
        )
    if customer is not None and not any(within(record.value, domain) for domain in domains):
        yield (
            (*entry.path, "value"),
            f"PTR value '{record.value}' is not in a domain of {owner}",
            f"point the address at a name in {' or '.join(domains)}",
        )


def platform_hosts_taken(catalog: Catalog, instances: Iterable[Instance]) -> list[Problem]:
    """A customer's ingress host that an environment-wide service of the same environment
    serves: the ingress controller would split that host's traffic between the two, so a
    customer whose domain lies inside the base domain could take over a platform host."""
    platform: dict[tuple[str, str], str] = {}  # (environment, host) -> instance id
    claims: list[tuple[Instance, str, str]] = []  # (instance, its customer, its host)
    for instance in instances:
        for _, ingress in instance.ingresses():
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
    is identical. Another owner may not, even identically: copying a line is the attack.

    Names and addresses share one space, because the inventory's `ansible_host` is where
    AWX connects: an address that is another owner's host name (or a name that is
    another owner's address given as a name) is that owner's machine. IP addresses are
    compared per environment, names across all of them. An address must also have a
    usable shape (`_address_problem`)."""
    problems: list[Problem] = []
    owners: dict[tuple[str, str], tuple[_Definition, str]] = {}  # (scope, key) -> first
    for definition in _definitions(catalog):
        host = definition.host
        name_key = ("", dns_key(host.name))
        first, field = owners.setdefault(name_key, (definition, "name"))
        if first.owner != definition.owner:
            what = f"host '{host.name}' already belongs to {first.where}"
            if field == "address":
                what = (
                    f"host '{host.name}' is already the address of host '{first.host.name}' "
                    f"of {first.where}"
                )
            problems.append(
                Problem(
                    definition.locate("name"),
                    what,
                    f"first defined at {first.locate(field)}; a host belongs to one customer "
                    "or to the host pools",
                )
            )
            continue
        if field == "name" and _identity(first.host) != _identity(host):
            problems.append(
                Problem(
                    definition.locate("name"),
                    f"host '{host.name}' is defined differently at {first.locate('name')}",
                    "list a host with the same address, region and residency everywhere",
                )
            )
        key = _address_key(host.address)
        scope = definition.environment if _is_ip(key) else ""
        other, field = owners.setdefault((scope, key), (definition, "address"))
        if other.owner != definition.owner:
            taken = f"the {field} of host '{other.host.name}'"
            problems.append(
                Problem(
                    definition.locate("address"),
                    f"address '{host.address}' of host '{host.name}' is already {taken} "
                    f"of {other.where}",
                    f"first defined at {other.locate(field)}",
                )
            )
            continue
        shape = _address_problem(host.address, customer=definition.owner != PLATFORM)
        if shape is not None:
            problems.append(
                Problem(
                    definition.locate("address"),
                    f"address '{host.address}' of host '{host.name}' {shape[0]}",
                    shape[1],
                )
            )
    return problems


# A fully qualified name: two or more letter-digit-hyphen labels, the last one starting
# with a letter, so that no resolver reads it as an IPv4 address (`010.030.001.012` is
# octal, `0x0a1e010b` hex, `167772161` decimal to inet_aton) and no search domain
# completes it (`relay1`, `localhost`).
_FQDN = re.compile(r"([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _address_problem(address: str, *, customer: bool) -> tuple[str, str] | None:
    """What is wrong with a host's address as AWX would connect to it: (message, hint).

    A customer's host is given by its IP address: a name could resolve to any machine,
    another owner's included, and its resolution is outside the catalog's review (the
    example lists every host by IP). A host pool's (the platform's) may also be a fully
    qualified name. Neither may be malformed (a port, leading zeros, a name a resolver
    would read as an IPv4 address) nor point AWX at itself or its own segment: loopback
    (`127.0.0.1`, `::1`, `localhost`), link-local, unspecified (`0.0.0.0`) or multicast."""
    text = address.strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        ip = None
    if ip is None:
        name = dns_key(text)
        if name == "localhost" or name.endswith(".localhost"):
            return "is the AWX node itself", "a host's address is a machine of its owner"
        if customer:
            return (
                "is not an IP address",
                "a customer's host is listed by its IP address, e.g. 203.0.113.10 (a name "
                "could resolve to another owner's machine); no port, no leading zeros",
            )
        if not _FQDN.match(name):
            return (
                "is neither an IP address nor a fully qualified DNS name",
                "no port, no leading zeros, no brackets; e.g. 10.30.1.11 or "
                "relay1.fra1.mail.example.net",
            )
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            return "has a zone index", "give the address without '%zone'"
        ip = ip.ipv4_mapped or ip
    for kind, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
    ):
        if hit:
            return (
                f"is a {kind} address",
                "AWX would run the plays on itself or on whatever shares its network "
                "segment; give the host's own routable address",
            )
    return None


def _identity(host: Host) -> tuple[str, str, str, str]:
    return dns_key(host.name), _address_key(host.address), host.region, host.residency


def _address_key(address: str) -> str:
    """An address as the network sees it: one spelling per IP address (`::ffff:192.0.2.1`
    is `192.0.2.1`), names compared like host names. Where a pool's DNS name resolves
    cannot be seen from here, which is why a customer's host must give an IP address."""
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
    DNS records and Ingresses take it over; inside a base domain only the customer's
    delegated zone is its (`_delegation_problem`). The very same domain listed by two
    customers is reported once, as that, at the second claim, naming the first (not
    also as a domain around one of the first customer's subdomains); the
    `domain-unique` check repeats it on the validated catalog."""
    problems: list[Problem] = []
    platform = _platform_names(catalog)
    bases = sorted({dns_key(env.base_domain) for env in catalog.environments.values()})
    reserved = _platform_labels(catalog, bases)
    claimed: dict[str, str] = {}  # domain -> the first customer that lists it
    first_at: dict[str, Location] = {}  # domain -> the line of its first claim
    around: dict[str, tuple[str, str]] = {}  # parent of a listed domain -> (domain, customer)
    for name in sorted(catalog.customers):
        source = catalog.source("customer", name)
        domains = [dns_key(domain) for domain in catalog.customers[name].domains]
        for index, domain in enumerate(domains):
            where = source.locate("domains", index)
            if claimed.get(domain, name) != name:
                problems.append(
                    Problem(
                        where,
                        f"domain '{domain}' of customer '{name}' already belongs to customer "
                        f"'{claimed[domain]}'",
                        f"claimed first at {first_at[domain]}; a domain belongs to one "
                        "customer: remove it from all but one",
                    )
                )
                continue  # the platform's and the delegation rules judged the first claim
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
            delegation = _delegation_problem(name, domain, bases, reserved)
            if delegation is not None:
                problems.append(Problem(where, *delegation))
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
                        "repository host are the platform's",
                    )
                )
        for index, domain in enumerate(domains):
            if claimed.setdefault(domain, name) == name:
                first_at.setdefault(domain, source.locate("domains", index))
            for parent in _parents(domain):
                around.setdefault(parent, (domain, name))
    return problems


def _delegation_problem(
    customer: str, domain: str, bases: list[str], reserved: dict[str, set[str]]
) -> tuple[str, str] | None:
    """Inside a base domain the platform names its own things, many of them by template
    (`mx.${env.base_domain}`, `ingress.${instance.cluster}.${env.base_domain}`, which
    every customer's MX and CNAME records point at), so no list of names can keep up.
    Instead a customer gets exactly one zone there, its delegated zone
    `<customer>.<base domain>` (the innermost base domain that holds the domain), and
    may list that or a subdomain of it; nothing else inside a base domain. The zone is
    refused too when the platform itself names something there (`_platform_labels`: a
    customer named `mx` or `prod-fra1`). (message, hint), or None if the domain is fine."""
    base = max((b for b in bases if domain != b and within(domain, b)), key=len, default=None)
    if base is None:
        return None
    zone = f"{customer}.{base}"
    if customer in reserved.get(base, set()):
        return (
            f"domain '{domain}' of customer '{customer}' is inside base domain '{base}', "
            f"where '{zone}' is a name the platform uses",
            f"the first labels {', '.join(sorted(reserved[base]))} under '{base}' are the "
            "platform's; rename the customer, or use a domain outside the base domains",
        )
    if not within(domain, zone):
        return (
            f"domain '{domain}' of customer '{customer}' is inside base domain '{base}' "
            f"but not in the customer's delegated zone '{zone}'",
            f"inside a base domain a customer may list only '{zone}' or a subdomain of it",
        )
    return None


# A label right before a base domain in the platform's text: `mx` in
# `mx.${env.base_domain}`, `${instance.cluster}` in `ingress.${instance.cluster}.${...}`.
_LABEL_BEFORE = r"(?<![-\w}])(\$\{[^}]*\}|[-\w]+)\."


def _platform_labels(catalog: Catalog, bases: list[str]) -> dict[str, set[str]]:
    """The first labels the platform's own files (services, environments) name under
    each base domain, so that a customer named like one cannot get it as its delegated
    zone: whatever directly precedes `${env.base_domain}` (under every base domain) or a
    base domain written out (under that one) in any string of those files. A fact
    stands for its values: `${instance.cluster}` for every cluster's name, `${env.name}`
    and `${env.tier}` for every environment's; `${customer.name}` is the customer's own
    zone, and other facts have no value a customer could be named."""
    facts = {
        "${instance.cluster}": {c.name for e in catalog.environments.values() for c in e.clusters},
        "${env.name}": set(catalog.environments),
        "${env.tier}": {e.tier for e in catalog.environments.values()},
    }
    patterns = [(re.escape("${env.base_domain}"), bases)]
    patterns += [(re.escape(base) + r"(?![-\w.])", [base]) for base in bases]
    texts = [*catalog.services.values(), *catalog.environments.values()]
    reserved: dict[str, set[str]] = {base: set() for base in bases}
    for text in _strings([model.model_dump() for model in texts]):
        for pattern, under in patterns:
            for match in re.finditer(_LABEL_BEFORE + pattern, text, re.IGNORECASE):
                label = match.group(1).lower()
                labels = facts.get(label, set() if label.startswith("${") else {label})
                for base in under:
                    reserved[base] |= labels
    return reserved


def _strings(value: object) -> Iterator[str]:
    """Every string inside nested lists and dicts (keys included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


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
