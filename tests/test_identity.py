"""Single sign-on per customer (issue 18, item 3): a realm per customer rendered as the
Keycloak operator's `KeycloakRealmImport`, checked against the operator's CRD (the
reference file, and the strict schema `gitopsc check` embeds), its client secrets by
reference only, MAS's upstream provider made from the same declaration, and the tenant
boundary (realm names, redirect URIs, secret keys; more in tests/fixtures/hostile/sso-*).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from compiler.check.custom_crds import strict_schema
from compiler.check.schemas import CRDS, ManifestSchemas
from tests.conftest import copy_example, reference, rendered_objects, run_cli

API = "k8s.keycloak.org/v2alpha1"


def _crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(reference("crds/k8s.keycloak.org_keycloakrealmimports.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v2alpha1"]
    return version["schema"]["openAPIV3Schema"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The example compiled: rendered path (#document) -> object."""
    root = copy_example(tmp_path_factory.mktemp("identity") / "repo")
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    return rendered_objects(root / "rendered")


def _of_kind(objects: dict[str, dict], kind: str) -> dict[str, dict]:
    return {path: obj for path, obj in objects.items() if obj.get("kind") == kind}


def test_the_realm_import_schema_is_the_published_crd_made_strict():
    shipped = json.loads((CRDS / "k8s.keycloak.org_v2alpha1_keycloakrealmimport.json").read_text())
    expected = strict_schema(_crd_schema())
    # the CRD leaves out what the API server checks itself (compiler/check/crds/SOURCES.md)
    expected["properties"] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        **expected["properties"],
    }
    assert shipped == expected


def test_every_rendered_realm_import_validates_against_the_operators_crd(compiled):
    imports = _of_kind(compiled, "KeycloakRealmImport")
    assert len(imports) == 4  # acme and helvetia-bank, in staging and prod
    crd = _crd_schema()
    strict = ManifestSchemas().lookup("1.31", API, "KeycloakRealmImport")
    for path, obj in imports.items():
        assert obj["apiVersion"] == API
        jsonschema.validate({"spec": obj["spec"]}, crd)  # the published schema, as written
        assert strict.errors(obj) == [], path  # and the strict one `gitopsc check` uses


def test_the_strict_schema_refuses_a_field_the_operator_does_not_know(compiled):
    (obj, *_) = _of_kind(compiled, "KeycloakRealmImport").values()
    strict = ManifestSchemas().lookup("1.31", API, "KeycloakRealmImport")
    misspelt = json.loads(json.dumps(obj))
    misspelt["spec"]["realm"]["clients"][0]["redirectUri"] = ["https://x.example/"]
    assert strict.errors(misspelt)
    wrong_type = json.loads(json.dumps(obj))
    wrong_type["spec"]["realm"]["clients"][0]["publicClient"] = "no"
    assert strict.errors(wrong_type)
    missing = json.loads(json.dumps(obj))
    del missing["spec"]["keycloakCRName"]
    assert strict.errors(missing)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"spec": missing["spec"]}, _crd_schema())


def test_each_customer_has_its_own_realm_on_its_residencys_keycloak(compiled):
    imports = _of_kind(compiled, "KeycloakRealmImport")
    realms = sorted(
        (path.split("/")[0], path.split("/")[2], obj["spec"]["realm"]["realm"])
        for path, obj in imports.items()
    )
    # on the cluster each customer's instances run on: the Swiss bank's realm in the
    # Zurich Keycloak in prod, acme's in Frankfurt; staging has one cluster for both
    assert realms == [
        ("prod", "prod-fra1", "acme"),
        ("prod", "prod-zrh1", "helvetia-bank"),
        ("staging", "stg-fra1", "acme"),
        ("staging", "stg-fra1", "helvetia-bank"),
    ]
    for obj in imports.values():
        assert obj["metadata"]["namespace"] == "keycloak"
        assert obj["spec"]["keycloakCRName"] == "keycloak"
        assert obj["metadata"]["name"] == f"realm-{obj['spec']['realm']['realm']}"
        (client,) = obj["spec"]["realm"]["clients"]
        assert client["publicClient"] is False and client["implicitFlowEnabled"] is False
        assert client["directAccessGrantsEnabled"] is False


def _mas_upstream(compiled: dict[str, dict], env: str, customer: str) -> tuple[dict, dict]:
    """(the provider in MAS's upstream.yaml, the ExternalSecret that writes it) in `env`."""
    (secret,) = [
        obj
        for path, obj in _of_kind(compiled, "ExternalSecret").items()
        if path.startswith(f"{env}/")
        and obj["metadata"]["namespace"] == customer
        and obj["metadata"]["name"].startswith("mas-file-upstream")
    ]
    text = secret["spec"]["target"]["template"]["data"]["upstream.yaml"]
    (provider,) = yaml.safe_load(text.replace("{{ .UPSTREAM_CLIENT_SECRET | toJson }}", "X"))[
        "upstream_oauth2"
    ]["providers"]
    return provider, secret


ZURICH = "https://id-zrh1.chat.example.net"  # prod-zrh1's own Keycloak (cluster_urls)


@pytest.mark.parametrize(
    ("env", "customer", "cluster", "url", "domain"),
    [
        ("prod", "acme", "prod-fra1", "https://id.chat.example.net", "acme"),
        ("prod", "helvetia-bank", "prod-zrh1", ZURICH, "helvetia-bank"),
        (
            "staging",
            "helvetia-bank",
            "stg-fra1",
            "https://id.staging.chat.example.net",
            "helvetia-bank",
        ),
    ],
)
def test_mas_logs_in_through_the_realm_its_customer_declares(
    compiled, env, customer, cluster, url, domain
):
    """MAS's issuer, client id, secret reference and callback are the realm's: one
    declaration, so MAS and Keycloak cannot drift apart."""
    provider, secret = _mas_upstream(compiled, env, customer)
    realm_import = next(
        obj
        for path, obj in _of_kind(compiled, "KeycloakRealmImport").items()
        if path.startswith(f"{env}/kubernetes/{cluster}/")
        and obj["spec"]["realm"]["realm"] == customer
    )
    (client,) = realm_import["spec"]["realm"]["clients"]
    assert provider["issuer"] == f"{url}/realms/{customer}"
    assert provider["client_id"] == client["clientId"] == "mas"
    assert (
        f"https://auth.{domain}.example/upstream/callback/{provider['id']}"
        in (client["redirectUris"])
    )
    # the same store key on both sides, and only references: never a value
    (mas_ref,) = secret["spec"]["data"]
    keycloak_secrets = next(
        obj
        for path, obj in _of_kind(compiled, "ExternalSecret").items()
        if path.startswith(f"{env}/kubernetes/{cluster}/keycloak/")
    )
    variable = client["secret"].removeprefix("${").removesuffix("}")
    assert client["secret"] == "${" + variable + "}"
    (realm_ref,) = [d for d in keycloak_secrets["spec"]["data"] if d["secretKey"] == variable]
    assert (
        mas_ref["remoteRef"]
        == realm_ref["remoteRef"]
        == {
            "key": f"{env}/{customer}/sso",
            "property": "mas_client_secret",
        }
    )


def test_the_keycloak_namespace_holds_only_its_own_clusters_customers(compiled):
    """A cluster's client secrets are those of the realms it imports: Swiss customers'
    secrets never reach the EU Keycloak."""
    by_cluster = {
        path.split("/")[2]: sorted(d["remoteRef"]["key"] for d in obj["spec"]["data"])
        for path, obj in _of_kind(compiled, "ExternalSecret").items()
        if path.startswith("prod/") and obj["metadata"]["namespace"] == "keycloak"
    }
    assert by_cluster == {"prod-fra1": ["prod/acme/sso"], "prod-zrh1": ["prod/helvetia-bank/sso"]}


def test_the_realms_application_and_project(compiled):
    apps = {
        obj["metadata"]["name"]: obj
        for obj in _of_kind(compiled, "Application").values()
        if obj["metadata"]["name"].endswith("keycloak-realms")
    }
    app = apps["prod-zrh1-keycloak-realms"]
    assert app["spec"]["destination"]["namespace"] == "keycloak"
    assert app["spec"]["source"]["path"] == "rendered/prod/kubernetes/prod-zrh1/keycloak/realms"
    project = next(
        obj
        for obj in _of_kind(compiled, "AppProject").values()
        if obj["metadata"]["name"] == app["spec"]["project"]
    )
    assert {"namespace": "keycloak", "server": app["spec"]["destination"]["server"]} in (
        project["spec"]["destinations"]
    ) or any(d.get("namespace") == "keycloak" for d in project["spec"]["destinations"])
    whitelisted = project["spec"].get("namespaceResourceWhitelist", [])
    assert {"group": "k8s.keycloak.org", "kind": "KeycloakRealmImport"} in whitelisted


def test_no_client_secret_value_is_rendered(compiled):
    """Each realm client's secret is a placeholder of a variable of keycloak-sso-clients
    (filled in from the store inside the cluster), and no Secret object is rendered."""
    variables = {
        d["secretKey"]
        for obj in _of_kind(compiled, "ExternalSecret").values()
        if obj["metadata"]["name"] == "keycloak-sso-clients"
        for d in obj["spec"]["data"]
    }
    for obj in _of_kind(compiled, "KeycloakRealmImport").values():
        for client in obj["spec"]["realm"]["clients"]:
            assert re.fullmatch(r"\$\{(SSO_[A-Z0-9_]+)\}", client["secret"]), client["secret"]
            assert client["secret"][2:-1] in variables
    assert not _of_kind(compiled, "Secret")


def test_mas_without_single_sign_on_is_an_error_at_the_reference(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    path = root / "catalog/customers/helvetia-bank.yaml"
    data = yaml.safe_load(path.read_text())
    del data["sso"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2 and result.exception is None
    assert "catalog/services/mas.yaml:" in result.stderr
    assert "customer.sso.issuer" in result.stderr


def test_a_cluster_url_for_an_unknown_cluster_is_refused(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    path = root / "environments/prod/environment.yaml"
    text = path.read_text().replace("prod-zrh1: https://id-zrh1", "prod-zrh9: https://id-zrh1")
    path.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "prod-zrh9:" in row)
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2 and result.exception is None
    assert f"environments/prod/environment.yaml:{line}:" in result.stderr
    assert "cluster 'prod-zrh9' is not a cluster of environment 'prod'" in result.stderr


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://auth.helvetia-bank.example/cb", "is not an https:// URL"),
        ("https://*.helvetia-bank.example/cb", "does not name a lower-case DNS host"),
        ("https://auth.helvetia-bank.example/a*b", "a '*' may only end it"),
        (
            "https://auth.helvetia-bank.example/cb?next=https://evil.example",
            "has a query or a fragment",
        ),
        ("https://AUTH.helvetia-bank.example/cb", "does not name a lower-case DNS host"),
        ("https://auth.helvetia-bank.example\\@evil.example/", "has a user part"),
        ("https://auth.helvetia-bank.example:99999/cb", "has a bad port"),
        (
            "https://helvetia-bank.example.evil.example/cb",
            "is not on a domain of customer 'helvetia-bank'",
        ),
    ],
)
def test_a_bad_redirect_uri_is_refused_at_its_line(tmp_path: Path, uri: str, message: str):
    root = copy_example(tmp_path / "repo")
    path = root / "catalog/customers/helvetia-bank.yaml"
    text = path.read_text()
    old = '"https://auth.helvetia-bank.example/upstream/callback/01J00000000000000000000KC1"'
    assert old in text
    path.write_text(text.replace(old, json.dumps(uri)))
    line = next(i for i, row in enumerate(text.splitlines(), 1) if old in row)
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2 and result.exception is None
    located = [
        r
        for r in result.stderr.splitlines()
        if f"catalog/customers/helvetia-bank.yaml:{line}:" in r
    ]
    assert any(message in r for r in located), result.stderr


def test_mas_may_reach_its_keycloak_and_only_on_https(compiled):
    """Valid is not enough: under default-deny MAS could not fetch the issuer's discovery
    document, so its egress to the Keycloak addresses (networks.keycloak) is declared in
    mas.yaml and rendered; 443 only (accepts.keycloak)."""
    policy = compiled[
        "prod/kubernetes/prod-zrh1/helvetia-bank/mas/networkpolicy-mas-egress-keycloak.yaml"
    ]
    (rule,) = policy["spec"]["egress"]
    assert sorted(peer["ipBlock"]["cidr"] for peer in rule["to"]) == [
        "198.51.100.80/32",
        "198.51.100.81/32",
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
