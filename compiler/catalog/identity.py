"""Single sign-on across the catalog (issue 18, item 3): what a customer's realm is
called, where its clients' secrets are, what its services may refer to, and the tenant
rules that need the whole catalog.

A realm per customer, not a client per customer in one shared realm: a realm is
Keycloak's tenant boundary. Users, groups, sessions, identity providers, login themes
and admin roles are per realm; in a shared realm every customer's users could log in to
every customer's clients unless each client carried its own access policy, and one
customer's realm settings (password policy, MFA) would be everyone's.

The realm is named after the customer, never chosen in the catalog: names are unique
and DNS-1123, so no customer's declaration can name another's realm, and a customer
named like a realm the platform keeps (`identity.reserved_realms`, `master` by default)
is refused where it has single sign-on. Redirect URIs and web origins must be on the
customer's own domains (or their subdomains): a client that redirected to another
customer's host would hand it the authorization codes of this customer's users.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from compiler.catalog.argo_names import cluster_of
from compiler.catalog.layout import Catalog
from compiler.catalog.models import Customer, Environment, SecretRef
from compiler.catalog.tenancy import secret_prefix, within
from compiler.errors import Problem

SSO = "sso"


def realm_name(customer: Customer) -> str:
    return customer.name


def secret_variable(customer: str, client: str) -> str:
    """The key of a client's secret in the Keycloak namespace's Secret, and the name of
    the environment variable Keycloak's import resolves `${...}` from. `-` is `_` and
    `__` parts customer from client; names with `--` could still meet, which
    `catalog_problems` refuses."""
    return f"SSO_{customer.upper().replace('-', '_')}__{client.upper().replace('-', '_')}"


def secret_ref(env: Environment, customer: Customer, client: str) -> SecretRef:
    """A client's secret reference, its key under the customer's prefix in `env`."""
    assert customer.sso is not None
    secret = customer.sso.clients[client].secret
    return SecretRef(key=secret_prefix(env, customer) + secret.key, property=secret.property)


def keycloak_url(env: Environment, cluster: str) -> str:
    assert env.identity is not None
    return env.identity.cluster_urls.get(cluster, env.identity.url)


def issuer(env: Environment, cluster: str, customer: Customer) -> str:
    """The OIDC issuer of the customer's realm (Keycloak 17+: no `/auth` prefix)."""
    return f"{keycloak_url(env, cluster)}/realms/{realm_name(customer)}"


def has_sso(env: Environment, customer: Customer | None) -> bool:
    return customer is not None and customer.sso is not None and env.identity is not None


def realm_cluster(env: Environment, customer: Customer) -> str:
    """The cluster whose Keycloak holds the customer's realm: the one its instances run
    on (argo_names.cluster_of), so its users' data stays in its residency."""
    return cluster_of(env, customer)


def context(env: Environment, customer: Customer | None) -> dict[str, Any]:
    """What `${customer.sso.*}` means for an instance of `customer` in `env` (nothing
    without single sign-on there): the realm, its issuer, and per client its id and the
    key and property of its secret (for a `secrets:` reference)."""
    if not has_sso(env, customer):
        return {}
    assert customer is not None and customer.sso is not None
    found: dict[str, Any] = {
        "customer.sso.realm": realm_name(customer),
        "customer.sso.issuer": issuer(env, realm_cluster(env, customer), customer),
    }
    for client in sorted(customer.sso.clients):
        ref = secret_ref(env, customer, client)
        prefix = f"customer.sso.clients.{client}"
        found[f"{prefix}.client_id"] = client
        found[f"{prefix}.secret_key"] = ref.key
        found[f"{prefix}.secret_property"] = ref.property
    return found


def catalog_problems(catalog: Catalog) -> list[Problem]:
    return [*_url_problems(catalog), *_realm_problems(catalog), *_environment_problems(catalog)]


def _url_problems(catalog: Catalog) -> Iterator[Problem]:
    for name, customer in sorted(catalog.customers.items()):
        if customer.sso is None:
            continue
        src = catalog.source("customer", name)
        for client, spec in sorted(customer.sso.clients.items()):
            urls = [("redirect_uris", i, u) for i, u in enumerate(spec.redirect_uris)]
            urls += [("web_origins", i, u) for i, u in enumerate(spec.web_origins)]
            for field, index, url in urls:
                host = urlsplit(url).hostname or ""
                if not any(within(host, domain) for domain in customer.domains):
                    yield Problem(
                        src.locate("sso", "clients", client, field, index),
                        f"{field[:-1].replace('_', ' ')} '{url}' is not on a domain of "
                        f"customer '{name}'",
                        f"use {' or '.join(customer.domains)}, or a subdomain: the realm "
                        "sends its users' authorization codes there",
                    )


def _realm_problems(catalog: Catalog) -> Iterator[Problem]:
    variables: dict[str, tuple[str, str]] = {}
    for name, customer in sorted(catalog.customers.items()):
        if customer.sso is None:
            continue
        src = catalog.source("customer", name)
        for env_name, env in sorted(catalog.environments.items()):
            if env.identity is not None and name in env.identity.reserved_realms:
                yield Problem(
                    src.locate("sso"),
                    f"customer '{name}' would import its realm over '{name}', a realm the "
                    f"platform keeps in environment '{env_name}' (identity.reserved_realms)",
                    "a customer's realm is named after it: rename the customer",
                )
        for client in sorted(customer.sso.clients):
            variable = secret_variable(name, client)
            other = variables.setdefault(variable, (name, client))
            if other != (name, client):
                yield Problem(
                    src.locate("sso", "clients", client),
                    f"client '{client}' of '{name}' and client '{other[1]}' of "
                    f"'{other[0]}' would share the secret variable {variable}",
                    "rename one of the clients",
                )


def _environment_problems(catalog: Catalog) -> Iterator[Problem]:
    for env_name, env in sorted(catalog.environments.items()):
        if env.identity is None:
            continue
        clusters = {cluster.name for cluster in env.clusters}
        src = catalog.source("environment", env_name)
        for cluster in sorted(env.identity.cluster_urls):
            if cluster not in clusters:
                yield Problem(
                    src.locate("identity", "cluster_urls", cluster),
                    f"cluster '{cluster}' is not a cluster of environment '{env_name}'",
                    f"clusters: {', '.join(sorted(clusters))}",
                )
