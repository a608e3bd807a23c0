"""Single sign-on per customer (issue 18, item 3): the environment's Keycloak, and a
customer's realm and clients.

An environment that runs the Keycloak operator declares `identity:` (the namespace and
name of its `Keycloak` resource, the public URL); a customer declares `sso:`, its OIDC
clients. gitopsc renders one realm per customer, named after the customer, as a
`KeycloakRealmImport` (render/identity.py). Separate so that each kind of catalog block
has its own module; what spans the catalog (domains, realm names) is in
catalog/identity.py.

A URL here is checked for its shape only (https, a host, no user part, no fragment, a
`*` only at the end of a redirect URI's path, as Keycloak matches it); whether its host
is one of the customer's domains is a tenant rule, checked with the catalog.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from compiler.catalog.models.fields import (
    Name,
    NullDict,
    NullList,
    SecretKey,
    Strict,
)

_HOST = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_PATH = re.compile(r"(/[A-Za-z0-9._~!$&'()+,;=:@%-]*)*\*?\Z")


def _url(value: str, *, path: bool, wildcard: bool) -> str:
    """`value` if it is an https URL with a lower-case DNS host and an optional port,
    without user part, query (`path=False`: without path either) or fragment."""
    if any(c.isspace() or ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        raise ValueError(f"'{value}' holds a blank, control or non-ASCII character")
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise ValueError(f"'{value}' is not an https:// URL")
    if "@" in parts.netloc or "\\" in value:
        raise ValueError(f"'{value}' has a user part ('@') or a backslash")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError(f"'{value}' has a query or a fragment")
    host = parts.hostname or ""
    if parts.netloc.split(":")[0] != host or not _HOST.match(host):
        raise ValueError(f"'{value}' does not name a lower-case DNS host")
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as error:
        raise ValueError(f"'{value}' has a bad port") from error
    if not path and parts.path not in ("", "/"):
        raise ValueError(f"'{value}' is an origin: scheme, host and port, no path")
    if path and not _PATH.match(parts.path or "/"):
        raise ValueError(
            f"'{value}' has a path Keycloak would not match as written (a '*' may only end it)"
        )
    if not wildcard and "*" in value:
        raise ValueError(f"'{value}' has a '*'")
    return value


RedirectUri = Annotated[
    str,
    Field(max_length=2048),
    AfterValidator(lambda value: _url(value, path=True, wildcard=True)),
]
WebOrigin = Annotated[
    str,
    Field(max_length=2048),
    AfterValidator(lambda value: _url(value, path=False, wildcard=False)),
]
KeycloakUrl = Annotated[
    str,
    Field(max_length=2048),
    AfterValidator(lambda value: _url(value, path=True, wildcard=False).rstrip("/")),
]


class Identity(Strict):
    """The environment's Keycloak, run by the Keycloak operator: customers' realms are
    imported into the `Keycloak` resource `keycloak` in `namespace` (the operator wants
    a realm import in the namespace of its Keycloak), which serves them at `url`, or at
    the cluster's own URL (`cluster_urls`) on the clusters that run their own."""

    namespace: Name = "keycloak"
    keycloak: Name = "keycloak"
    url: KeycloakUrl
    cluster_urls: Annotated[dict[Name, KeycloakUrl], NullDict] = {}
    # realms the platform keeps for itself (its admins' realm): no customer is named
    # like one when it has single sign-on, or its import would target that realm
    reserved_realms: Annotated[list[Name], NullList] = ["master"]


class SsoSecret(Strict):
    """Where a client's secret is in the environment's secret store: `property` of `key`,
    `key` being relative to the customer's prefix (`secret_store.customer_prefix`,
    `prod/acme/` by default), so a customer's client only ever reads its own keys."""

    key: SecretKey
    # required: services that use the client take the secret as one value
    # (`${customer.sso.clients.<client>.secret_property}`), not the key's whole JSON
    property: Annotated[str, Field(min_length=1, max_length=253)]


class SsoClient(Strict):
    """An OIDC client of the customer's realm (its id is its key in `clients:`): a
    confidential client (authorization code flow) whose secret is read by reference."""

    redirect_uris: Annotated[list[RedirectUri], Field(min_length=1, max_length=64)]
    web_origins: Annotated[list[WebOrigin], Field(max_length=64)] = []
    secret: SsoSecret


class Sso(Strict):
    """The customer's single sign-on: its own realm (named after the customer) with
    these clients, in every environment that has `identity:` and deploys the customer."""

    display_name: str = ""
    clients: Annotated[dict[Name, SsoClient], Field(min_length=1, max_length=64)]
