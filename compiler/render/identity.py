"""Render customers' single sign-on realms for the Keycloak operator (issue 18, item 3).

Per cluster, in the namespace of the environment's Keycloak (`identity.namespace`): a
`KeycloakRealmImport` per customer with `sso:` whose instances run on that cluster, and
one `ExternalSecret` that makes the Secret `keycloak-sso-clients`, holding every such
client's secret, read by reference from each customer's own prefix of the store.

Why the operator's custom resource and not the Keycloak Terraform provider's tfvars:
the realm then travels the way every other object of a customer does (rendered, checked
against the operator's CRD schema in `gitopsc check`, synced by ArgoCD, pruned when the
customer goes), and it needs no Keycloak admin credentials in the Terraform run.
The price (the operator's documentation says so): an import creates a realm and never
updates it; a change to a realm after its first import is made in Keycloak (docs/output.md).

The client's secret is never in the output. The import writes `secret: ${SSO_...}`, a
placeholder Keycloak's realm import resolves from its environment; the platform's
`Keycloak` resource takes the Secret `keycloak-sso-clients` into its environment once
(`envFrom`, docs/ci.md), so a new customer needs no change there. The CRD version
gitopsc checks against (k8s.keycloak.org/v2alpha1 of operator 18.0.0, in
../shared/reference/crds/) has no per-import `placeholders` field, which later operators
added for this; the environment route works with both.

Everything here is the platform's: the objects sit in the Keycloak namespace, in the
platform's AppProject, under one Application per cluster (`<identity.namespace>-realms`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from compiler.catalog import (
    Customer,
    Environment,
    realm_name,
    secret_ref,
    secret_variable,
    store_kind,
)
from compiler.render.meta import MANAGED_BY

API_VERSION = "k8s.keycloak.org/v2alpha1"
CLIENT_SECRETS = "keycloak-sso-clients"
KINDS = {("k8s.keycloak.org", "KeycloakRealmImport"), ("external-secrets.io", "ExternalSecret")}


def _labels(env: Environment, customer: str | None) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": "keycloak-realm" if customer else "keycloak-sso",
        "app.kubernetes.io/part-of": "sso",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "gitopsc.dev/environment": env.name,
    }
    if customer:
        labels["app.kubernetes.io/instance"] = customer
    return labels


def realm_import(env: Environment, customer: Customer) -> dict[str, Any]:
    """The customer's realm: its clients, confidential (authorization code flow only),
    each with its redirect URIs and web origins as declared and its secret as the
    placeholder of its variable in `keycloak-sso-clients`."""
    assert env.identity is not None and customer.sso is not None
    sso = customer.sso
    clients = [
        {
            "clientId": client,
            "name": client,
            "enabled": True,
            "protocol": "openid-connect",
            "publicClient": False,
            "clientAuthenticatorType": "client-secret",
            "secret": "${" + secret_variable(customer.name, client) + "}",
            "standardFlowEnabled": True,
            "implicitFlowEnabled": False,
            "directAccessGrantsEnabled": False,
            "serviceAccountsEnabled": False,
            "redirectUris": list(spec.redirect_uris),
            "webOrigins": list(spec.web_origins),
        }
        for client, spec in sorted(sso.clients.items())
    ]
    return {
        "apiVersion": API_VERSION,
        "kind": "KeycloakRealmImport",
        "metadata": {
            "name": f"realm-{customer.name}",
            "namespace": env.identity.namespace,
            "labels": _labels(env, customer.name),
        },
        "spec": {
            "keycloakCRName": env.identity.keycloak,
            "realm": {
                "realm": realm_name(customer),
                # its own field, not the customer's display_name: renaming a customer
                # for invoices must not touch the Keycloak namespace's folder
                "displayName": sso.display_name or customer.name,
                "enabled": True,
                "sslRequired": "external",
                "registrationAllowed": False,
                "loginWithEmailAllowed": True,
                "duplicateEmailsAllowed": False,
                "bruteForceProtected": True,
                "clients": clients,
            },
        },
    }


def client_secrets(env: Environment, customers: Iterable[Customer]) -> dict[str, Any]:
    """One ExternalSecret for the cluster's realms: each client's secret under its
    variable, read from its customer's own prefix (catalog/identity.py `secret_ref`)."""
    assert env.identity is not None
    data = []
    for customer in sorted(customers, key=lambda c: c.name):
        assert customer.sso is not None
        for client in sorted(customer.sso.clients):
            ref = secret_ref(env, customer, client)
            remote: dict[str, Any] = {"key": ref.key}
            if ref.property:
                remote["property"] = ref.property
            data.append({"secretKey": secret_variable(customer.name, client), "remoteRef": remote})
    store = env.secret_store.name
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {
            "name": CLIENT_SECRETS,
            "namespace": env.identity.namespace,
            "labels": _labels(env, None),
        },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": store, "kind": store_kind(env, store)},
            "target": {"name": CLIENT_SECRETS, "creationPolicy": "Owner"},
            "data": data,
        },
    }
