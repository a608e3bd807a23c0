"""AppProjects that match what their Applications render (issue 11): a customer's
project whitelists exactly the allowed kinds its instances render, nothing
cluster-scoped; Namespaces and namespace objects belong to the platform project."""

from __future__ import annotations

from pathlib import Path

from compiler import pipeline
from compiler.render import MONITORING_KINDS, TENANT_KINDS, api_group
from tests.conftest import REPO, objects_of_tree


def _rendered(root: Path) -> dict[str, dict]:
    resolved = pipeline.run(root)
    tree = pipeline.render_bytes(resolved)
    return {
        path: obj
        for path, obj in objects_of_tree(tree).items()
        if not path.endswith("kustomization.yaml")
    }


def _projects(objects: dict[str, dict]) -> dict[tuple[str, str], dict]:
    """(env/cluster, project name without its `<cluster>-` prefix) -> AppProject (the
    example's ArgoCD is shared: names carry the cluster, docs/output.md)."""
    return {
        (
            "/".join(path.split("/")[:3:2]),
            obj["metadata"]["name"].removeprefix(f"{path.split('/')[2]}-"),
        ): obj
        for path, obj in objects.items()
        if obj.get("kind") == "AppProject"
    }


def _kinds_under(objects: dict[str, dict], prefix: str) -> set[tuple[str, str]]:
    return {
        (api_group(obj["apiVersion"]), obj["kind"])
        for path, obj in objects.items()
        if path.startswith(prefix) and path.count("/") == prefix.count("/")
    }


def test_each_customer_project_whitelists_exactly_what_its_applications_render():
    objects = _rendered(REPO)
    checked = 0
    for (place, name), project in _projects(objects).items():
        env, cluster = place.split("/")
        spec = project["spec"]
        listed = {(k["group"], k["kind"]) for k in spec["namespaceResourceWhitelist"]}
        if name == "platform":
            assert spec["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
            continue
        assert spec["clusterResourceWhitelist"] == []
        assert [d["namespace"] for d in spec["destinations"]] == [name]
        base = f"{env}/kubernetes/{cluster}/{name}/"
        services = {p.split("/")[4] for p in objects if p.startswith(base) and p.count("/") == 5}
        rendered = set().union(*(_kinds_under(objects, f"{base}{s}/") for s in services))
        # the monitoring kinds too, where the environment declares monitoring (all do)
        allowed = TENANT_KINDS | MONITORING_KINDS
        assert listed == rendered & allowed and listed == rendered, (env, cluster, name)
        checked += 1
    assert checked >= 8  # every customer on every cluster of the example


def test_namespaces_belong_to_the_platform_project():
    objects = _rendered(REPO)
    checked = 0
    for path, obj in objects.items():
        if obj.get("kind") != "Application" or "/argocd/" not in path:
            continue
        destination = obj["spec"]["source"]["path"].split("/")
        # a namespace folder, or (per-customer) the cluster's folder of all namespaces
        if len(destination) in (4, 5) and destination[2] == "kubernetes":
            assert obj["spec"]["project"] == f"{destination[3]}-platform", path
            checked += 1
    assert checked >= 10


def test_an_out_of_scope_kind_is_never_whitelisted_and_an_allowed_one_is(example: Path):
    customer = example / "catalog/customers/acme.yaml"
    customer.write_text(
        customer.read_text().replace(
            "synapse:\n        replicas: 3\n",
            "synapse:\n        replicas: 3\n        extra_resources:\n"
            "          - {apiVersion: v1, kind: Namespace, metadata: {name: globex}}\n"
            "          - {apiVersion: monitoring.coreos.com/v1, kind: Probe,"
            " metadata: {name: synapse}, spec: {targets: {staticConfig: {static: [a.example]}}}}\n",
        )
    )

    def acme() -> set[tuple[str, str]]:
        project = _projects(_rendered(example))[("prod/prod-fra1", "acme")]["spec"]
        assert project["clusterResourceWhitelist"] == []
        return {(k["group"], k["kind"]) for k in project["namespaceResourceWhitelist"]}

    assert ("", "Namespace") not in acme()
    # a Probe: the monitoring kinds gitopsc renders (ServiceMonitor, PrometheusRule)
    # are allowed where the environment declares monitoring; this one is not
    assert ("monitoring.coreos.com", "Probe") not in acme()
    env = example / "environments/prod/environment.yaml"
    env.write_text(
        env.read_text().replace(
            "defaults:\n",
            "tenant_kinds:\n  - {group: monitoring.coreos.com, kind: Probe}\ndefaults:\n",
            1,
        )
    )
    kinds = acme()
    assert ("monitoring.coreos.com", "Probe") in kinds and ("", "Namespace") not in kinds
