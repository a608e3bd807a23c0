"""Monitoring (issue 18, item 1): what `monitoring:` renders, for whom, and what it opens.

The monitors select the instance's own Service or pods; the scrape is admitted from
Prometheus's pods to the scraped port and nothing else (evaluated with Kubernetes'
NetworkPolicy semantics); the rules carry the tenant's and the owner team's labels and
the workbook's burn rates; the objects pass the prometheus-operator's published CRDs;
the dashboards are where Grafana's sidecar looks. promtool itself runs in
test_monitoring_promtool.py.
"""

from __future__ import annotations

import functools
import json
from fractions import Fraction
from pathlib import Path

import jsonschema
import pytest
import yaml

from compiler import pipeline
from compiler.catalog import Slo
from compiler.check.custom_crds import strict_schema
from compiler.check.netpol import Cluster, Pod
from compiler.check.schemas import CRDS
from compiler.render import slo
from tests.conftest import reference, run_cli

KINDS = {
    "ServiceMonitor": "servicemonitors",
    "PodMonitor": "podmonitors",
    "PrometheusRule": "prometheusrules",
    "Probe": "probes",  # a VM service's hosts (tests/test_vm_monitoring.py)
}


@functools.cache
def _crd_schema(kind: str) -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(  # a safe loader: the C one where there is one
        reference(f"crds/monitoring.coreos.com_{KINDS[kind]}.yaml").read_text(), Loader=loader
    )
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return v1["schema"]["openAPIV3Schema"]


def _render(root: Path, env: str = "prod") -> dict[str, dict]:
    resolved = pipeline.run(root, [env])
    return {f.path: f.data for f in pipeline.render(resolved)[env]}


def _of_kind(files: dict[str, dict], kind: str) -> dict[str, dict]:
    return {p: o for p, o in files.items() if o.get("kind") == kind}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_monitoring_schemas_are_the_published_crds_made_strict(kind: str):
    shipped = json.loads((CRDS / f"monitoring.coreos.com_v1_{kind.lower()}.json").read_text())
    assert shipped == strict_schema(_crd_schema(kind))


def test_every_monitoring_object_passes_the_published_crd(example: Path):
    files = _render(example)
    seen = set()
    for kind in KINDS:
        published = _crd_schema(kind)
        strict = json.loads((CRDS / f"monitoring.coreos.com_v1_{kind.lower()}.json").read_text())
        for obj in _of_kind(files, kind).values():
            # the published schema as the API server reads it (its Go patterns are not all
            # Python's: only the fields present are matched, and none of ours has one)
            jsonschema.Draft202012Validator(published).validate(obj)
            jsonschema.Draft202012Validator(strict).validate(obj)
            seen.add(kind)
    assert seen == set(KINDS)  # the example renders each kind


def test_a_misspelt_monitor_field_fails_gitopsc_check(example: Path):
    """The shipped schema is what `gitopsc check` uses: a patch that misspells a field
    of the ServiceMonitor is a crd-schema finding, not something the API server prunes."""
    acme = example / "catalog/customers/acme.yaml"
    text = acme.read_text()
    assert "\nservices:\n  synapse:\n" in text
    patch = (
        "\nservices:\n  synapse:\n    patches:\n      - target: {kind: ServiceMonitor}\n"
        "        merge_patch: {spec: {sampleLimitt: 10}}\n"
    )
    acme.write_text(text.replace("\nservices:\n  synapse:\n", patch, 1))
    config = example / "policies/config.yaml"
    config.write_text(
        config.read_text().replace("checkov: {enabled: true", "checkov: {enabled: false")
    )
    result = run_cli("check", "--root", str(example), "--env", "prod")
    assert result.exit_code == 1, result.stdout
    assert "crd-schema" in result.stdout and "sampleLimitt" in result.stdout
    assert "servicemonitor-synapse" in result.stdout


def test_the_monitor_selects_the_instances_own_service_and_port(example: Path):
    files = _render(example)
    folder = "prod/kubernetes/prod-fra1/acme/synapse/"
    monitor = files[folder + "servicemonitor-synapse.yaml"]
    service = files[folder + "service-synapse.yaml"]
    assert monitor["metadata"]["namespace"] == "acme"
    assert "namespaceSelector" not in monitor["spec"]  # its own namespace only
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/_synapse/metrics"
    # every series is labelled with the tenant, whatever the exporter calls things
    replaced = {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}
    assert replaced == {"customer": "acme", "service": "synapse", "environment": "prod"}
    # Prometheus finds it by the environment's label
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_a_pod_monitor_selects_the_daemonsets_pods(example: Path):
    files = _render(example)
    folder = "prod/kubernetes/prod-fra1/platform/otel-agent/"
    monitor = files[folder + "podmonitor-otel-agent.yaml"]
    template = files[folder + "daemonset-otel-agent.yaml"]["spec"]["template"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    ports = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
    assert endpoint["port"] == "metrics" and "metrics" in ports
    assert "customer" not in {r["targetLabel"] for r in endpoint["relabelings"]}


def _pod(files: dict[str, dict], folder: str, kind: str, name: str) -> Pod:
    template = files[f"{folder}{kind}-{name}.yaml"]["spec"]["template"]
    ports = {
        p["name"]: (p["containerPort"], p.get("protocol", "TCP"))
        for c in template["spec"]["containers"]
        for p in c.get("ports", [])
    }
    namespace = folder.split("/")[3]
    return Pod(name, namespace, template["metadata"]["labels"], None, ports)


def test_the_scrape_is_admitted_to_the_metrics_port_and_no_more(example: Path):
    files = _render(example)
    cluster_files = {p: o for p, o in files.items() if p.startswith("prod/kubernetes/prod-fra1/")}
    policies = [o for o in cluster_files.values() if o.get("kind") == "NetworkPolicy"]
    cluster = Cluster(policies)
    synapse = _pod(files, "prod/kubernetes/prod-fra1/acme/synapse/", "deployment", "synapse")
    other = _pod(files, "prod/kubernetes/prod-fra1/initech/synapse/", "deployment", "synapse")
    prometheus = Pod("prometheus-0", "monitoring", {"app.kubernetes.io/name": "prometheus"})
    grafana = Pod("grafana-0", "monitoring", {"app.kubernetes.io/name": "grafana"})
    metrics, http = synapse.ports["metrics"][0], synapse.ports["http"][0]
    assert cluster.allowed(prometheus, synapse, metrics).allowed
    assert not cluster.allowed(prometheus, synapse, http).allowed  # the scrape port only
    assert not cluster.allowed(grafana, synapse, metrics).allowed  # Prometheus's pods only
    assert not cluster.allowed(other, synapse, metrics).allowed  # never another tenant
    # the rule that admits it is the monitoring one
    verdict = cluster.allowed(prometheus, synapse, metrics)
    assert [r.policy for r in verdict.ingress.admitted_by] == ["acme/synapse-from-monitoring"]


def test_an_environment_without_monitoring_renders_none_and_opens_nothing(example: Path):
    path = example / "environments/dev/environment.yaml"
    text = path.read_text()
    start = text.index("monitoring:  #")
    end = text.index("platform_namespaces:")
    path.write_text(text[:start] + text[end:])
    files = _render(example, "dev")
    kinds = {o.get("kind") for o in files.values()}
    assert not {"ServiceMonitor", "PodMonitor", "PrometheusRule"} & kinds
    assert not [p for p in files if p.endswith("-from-monitoring.yaml")]
    assert not [p for p in files if "/dashboards/" in p]


def _rule(files: dict[str, dict], customer: str, service: str = "synapse") -> dict:
    (found,) = [
        o for p, o in _of_kind(files, "PrometheusRule").items() if f"/{customer}/{service}/" in p
    ]
    return found


def _alerts(rule: dict, group: str) -> list[dict]:
    (found,) = [g for g in rule["spec"]["groups"] if g["name"] == group]
    return found["rules"]


def test_alerts_carry_the_tenant_and_the_owner_teams_routing(example: Path):
    files = _render(example)
    rule = _rule(files, "acme")
    burns = _alerts(rule, "slo-availability-alerts")
    assert [(a["labels"]["long_window"], a["labels"]["short_window"]) for a in burns] == [
        ("1h", "5m"),
        ("6h", "30m"),
        ("1d", "2h"),
        ("3d", "6h"),
    ]
    for alert in burns:
        labels = alert["labels"]
        assert labels["customer"] == "acme" and labels["service"] == "synapse"
        assert labels["environment"] == "prod" and labels["slo"] == "availability"
        assert labels["team"] == "chat-platform"
        assert labels["receiver"] == "chat-platform-pagerduty"
        page = labels["slo_severity"] == "page"
        assert labels["severity"] == ("critical" if page else "warning")
    (down,) = _alerts(rule, "synapse-alerts")
    assert down["alert"] == "SynapseDown" and down["for"] == "5m"
    assert down["labels"]["severity"] == "critical" and down["labels"]["customer"] == "acme"
    assert down["expr"] == 'up{customer="acme",service="synapse"} == 0'
    # the mail team's own routing on its service's alerts
    mta = _rule(files, "helvetia-bank", "mta-sts")
    labels = _alerts(mta, "slo-policy-served-alerts")[0]["labels"]
    assert labels["team"] == "mail-ops" and labels["pager"] == "opsgenie"


def test_an_alerts_own_labels_cannot_relabel_it_as_another_tenant(example: Path):
    path = example / "catalog/services/synapse.yaml"
    text = path.read_text()
    assert "        severity: page\n" in text
    path.write_text(
        text.replace(
            "        severity: page\n",
            "        severity: page\n"
            "        labels: {customer: initech, team: mail-ops, room: a}\n",
            1,
        )
    )
    (down,) = _alerts(_rule(_render(example), "acme"), "synapse-alerts")
    assert down["labels"]["customer"] == "acme" and down["labels"]["team"] == "chat-platform"
    assert down["labels"]["room"] == "a"


def test_a_plan_layer_tightens_one_objective_and_keeps_the_rest(example: Path):
    files = _render(example)
    # acme is on the enterprise plan, initech is not (catalog/customers/)
    plans = {
        name: yaml.safe_load((example / f"catalog/customers/{name}.yaml").read_text())["plan"]
        for name in ("acme", "initech")
    }
    budgets = {}
    for customer in plans:
        rules = _alerts(_rule(files, customer), "slo-availability-budget")
        (budget,) = [r for r in rules if r["record"] == "slo:error_budget:ratio"]
        budgets[customer] = budget["expr"]
        federation = _alerts(_rule(files, customer), "slo-federation-budget")
        (kept,) = [r for r in federation if r["record"] == "slo:error_budget:ratio"]
        assert kept["expr"] == "vector(0.01)"  # the service's own, in every plan
    expected = {
        name: "vector(0.0005)" if plan in ("business", "enterprise") else "vector(0.001)"
        for name, plan in plans.items()
    }
    assert budgets == expected
    assert len(set(budgets.values())) == 2, plans  # the example shows both


@pytest.mark.parametrize(
    ("window", "rates"),
    [
        ("30d", [Fraction(72, 5), 6, 3, 1]),  # the workbook's table 5-8
        ("28d", [Fraction(336, 25), Fraction(28, 5), Fraction(14, 5), Fraction(14, 15)]),
    ],
)
def test_burn_rates_are_the_workbooks_shares_of_the_window(window: str, rates: list):
    assert [slo.burn_rate(window, long, share) for _, long, _, share in slo.BURNS] == rates


def test_the_good_over_total_sli_is_an_error_ratio():
    declared = Slo.model_validate(
        {
            "objective": 99.5,
            "sli": {"good": "sum(rate(ok[{{window}}]))", "total": "sum(rate(all[{{window}}]))"},
        }
    )
    assert slo.error_ratio(declared, "1h") == "1 - ((sum(rate(ok[1h]))) / (sum(rate(all[1h]))))"
    assert slo.budget(declared) == Fraction(1, 200)


def test_dashboards_are_where_the_grafana_sidecar_looks(example: Path):
    files = _render(example)
    folder = "prod/kubernetes/prod-fra1/monitoring/dashboards/"
    maps = {p: o for p, o in files.items() if p.startswith(folder) and o["kind"] == "ConfigMap"}
    assert set(maps) == {
        folder + "configmap-otel-agent-dashboard.yaml",
        folder + "configmap-synapse-dashboard.yaml",
    }
    synapse = maps[folder + "configmap-synapse-dashboard.yaml"]
    assert synapse["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert synapse["metadata"]["namespace"] == "monitoring"
    (content,) = synapse["data"].values()
    board = json.loads(content)
    assert len(board["uid"]) <= 40 and board["title"] == "synapse (prod)"
    titles = [p["title"] for p in board["panels"]]
    for name in ("availability", "federation"):
        assert f"{name}: error budget remaining" in titles
    ports = next(p for p in board["panels"] if p["title"] == "Ports")["options"]["content"]
    assert "metrics 9000/TCP" in ports and "http 8008/TCP" in ports
    # the panels' expressions name the recorded series the rules write
    exprs = " ".join(t["expr"] for p in board["panels"] for t in p.get("targets", []))
    assert slo.record("5m") in exprs and "slo:error_budget_remaining:ratio" in exprs
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource", "customer"]
    # an environment-wide service's series carry no customer: no filter that hides them
    (agent,) = maps[folder + "configmap-otel-agent-dashboard.yaml"]["data"].values()
    agent_board = json.loads(agent)
    assert [v["name"] for v in agent_board["templating"]["list"]] == ["datasource"]
    assert "customer" not in json.dumps(agent_board["panels"])
    # synced by an Application of the platform's project, which may deploy there
    apps = "prod/argocd/prod-fra1/apps/"
    (app,) = [
        o
        for p, o in files.items()
        if p.startswith(apps + "application-")
        and o["spec"]["source"]["path"].endswith("prod-fra1/monitoring/dashboards")
    ]
    assert app["spec"]["destination"]["namespace"] == "monitoring"
    project = files[apps + f"appproject-{app['spec']['project']}.yaml"]
    assert {"namespace": "monitoring", "server": app["spec"]["destination"]["server"]} in [
        {"namespace": d["namespace"], "server": d["server"]}
        for d in project["spec"]["destinations"]
    ]


def test_loki_tenants_where_the_environment_asks(example: Path):
    prod = _render(example, "prod")
    template = prod["prod/kubernetes/prod-fra1/acme/synapse/deployment-synapse.yaml"]["spec"][
        "template"
    ]
    assert template["metadata"]["annotations"]["gitopsc.dev/loki-tenant"] == "acme"
    assert template["metadata"]["labels"]["gitopsc.dev/customer"] == "acme"
    agent = prod["prod/kubernetes/prod-fra1/platform/otel-agent/daemonset-otel-agent.yaml"]
    assert agent["spec"]["template"]["metadata"]["annotations"] == {
        "gitopsc.dev/loki-tenant": "platform"
    }
    staging = _render(example, "staging")
    for obj in staging.values():
        annotations = (
            ((obj.get("spec") or {}).get("template") or {}).get("metadata", {}).get("annotations")
        )
        assert "gitopsc.dev/loki-tenant" not in (annotations or {})


def _located(example: Path, relative: str, old: str, new: str) -> str:
    path = example / relative
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.exception is None
    return result.stdout + result.stderr


def test_a_scrape_port_the_service_lacks_is_located(example: Path):
    output = _located(
        example,
        "catalog/services/synapse.yaml",
        "scrape: {port: metrics,",
        "scrape: {port: metric,",
    )
    line = next(
        i
        for i, text in enumerate(
            (example / "catalog/services/synapse.yaml").read_text().splitlines(), 1
        )
        if "scrape: {port: metric," in text
    )
    assert f"catalog/services/synapse.yaml:{line}:" in output
    assert "port 'metric' is not a port of this service" in output


def test_a_scrape_on_a_vm_service_is_located(example: Path):
    """A VM service is probed (tests/test_vm_monitoring.py); a ServiceMonitor or
    PodMonitor would select pods it has none of."""
    output = _located(
        example,
        "catalog/services/postfix-relay.yaml",
        "    probe:\n      module: smtp_starttls",
        "    scrape: {port: metrics}\n    probe:\n      module: smtp_starttls",
    )
    text = (example / "catalog/services/postfix-relay.yaml").read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if "scrape: {port: metrics}" in t)
    assert f"catalog/services/postfix-relay.yaml:{line}:" in output  # its `scrape:`
    assert "runs on VMs: a ServiceMonitor or PodMonitor needs pods" in output


def test_a_monitoring_namespace_that_is_no_platform_namespace_is_located(example: Path):
    output = _located(
        example,
        "environments/prod/environment.yaml",
        "  namespace: monitoring  #",
        "  namespace: prometheus  #",
    )
    assert "environments/prod/environment.yaml:" in output
    assert "monitoring.namespace 'prometheus' is no platform namespace" in output
