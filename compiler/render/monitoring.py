"""Monitoring objects of an instance, and the dashboards of a service (issue 18, item 1).

Per Kubernetes instance, where its environment declares `monitoring:` (an environment
without it, a dev cluster without Prometheus, gets none of these):
    ServiceMonitor or PodMonitor   its `monitoring.scrape` port, in its own namespace,
                                   selecting its Service or pods by the labels gitopsc
                                   puts on them; every series gets `customer`, `service`
                                   and `environment` labels (relabelings), so SLIs,
                                   alerts and dashboards need no join
    PrometheusRule                 its SLOs (render/slo.py) and plain alerts, in its own
                                   namespace: one per instance, because each customer's
                                   objective may differ (a plan or customer layer
                                   changes it), the rule lives and is pruned with the
                                   customer's Application, and the operator's
                                   `enforcedNamespaceLabel` can then hold each rule to
                                   its namespace's series
Both carry the environment's `monitoring.labels`, which its Prometheus selects them by.
Per service and cluster: a Grafana dashboard in a ConfigMap labelled
`grafana_dashboard: "1"` (the sidecar's default), in the dashboards namespace, with a
panel per SLO and the scrape target's state, one `customer` variable across instances.
Logs: pods already carry the customer, service and environment labels; with Loki
multi-tenancy each pod template gets the `gitopsc.dev/loki-tenant` annotation, which the
environment's Alloy reads as the tenant id (docs/ci.md, "Monitoring").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from compiler.catalog import (
    DASHBOARDS,
    Environment,
    Instance,
    Paging,
    Team,
    dashboards_namespace,
    port_spec,
    tenant_id,
)
from compiler.render import slo as slos
from compiler.render.meta import MANAGED_BY, instance_name, labels, selector

API = "monitoring.coreos.com/v1"
TENANT_ANNOTATION = "gitopsc.dev/loki-tenant"
DASHBOARD_LABEL = ("grafana_dashboard", "1")  # the Grafana sidecar's default label
DASHBOARDS_FOLDER = DASHBOARDS
_POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def series_labels(instance: Instance) -> dict[str, str]:
    """The labels every series and alert of an instance carries in Prometheus."""
    found = {"service": instance.service, "environment": instance.environment}
    if instance.customer:
        found["customer"] = instance.customer
    return found


def routing(team: Team | None) -> dict[str, dict[str, str]]:
    """Per kind of alert (`page`, `ticket`), the owner team's routing labels: its name,
    its Alertmanager receiver and the `severity` its paging target gives that kind."""
    paging = (team.paging if team else None) or Paging(receiver=team.name if team else "default")
    base = {**paging.labels, "team": team.name if team else "", "receiver": paging.receiver}
    return {
        "page": {**base, "severity": paging.page},
        "ticket": {**base, "severity": paging.ticket},
    }


def monitoring_objects(
    instance: Instance, env: Environment, team: Team | None
) -> list[dict[str, Any]]:
    """The ServiceMonitor or PodMonitor and the PrometheusRule of one instance."""
    settings = instance.settings.monitoring
    if env.monitoring is None or settings is None or instance.namespace is None:
        return []
    meta = {
        "name": instance.service,
        "namespace": instance.namespace,
        "labels": {**labels(instance), **env.monitoring.labels},
    }
    objects = []
    if settings.scrape is not None:
        scrape = settings.scrape
        endpoint = {
            "port": scrape.port,
            "path": scrape.path,
            "interval": scrape.interval,
            "relabelings": [
                {"action": "replace", "targetLabel": key, "replacement": value}
                for key, value in sorted(series_labels(instance).items())
            ],
        }
        field = "endpoints" if scrape.kind == "ServiceMonitor" else "podMetricsEndpoints"
        objects.append(
            {
                "apiVersion": API,
                "kind": scrape.kind,
                "metadata": meta,
                # no namespaceSelector: its own namespace only (tenant-scope holds it so)
                "spec": {"selector": {"matchLabels": selector(instance)}, field: [endpoint]},
            }
        )
    objects += _rule(instance, team, meta)
    return objects


def probe_objects(instance: Instance, env: Environment, team: Team | None) -> list[dict[str, Any]]:
    """A VM instance's `Probe` and PrometheusRule, in the monitoring namespace of its
    probing cluster (catalog/reachability.py, `probing_cluster`), named after the
    instance (`<customer>-<service>`).

    The Probe lists the instance's own hosts (address:port, for each probed port), so
    the blackbox exporter probes them and nothing else, and puts the customer, service
    and environment labels on every series it yields (the target's labels, as a
    ServiceMonitor's relabelings do): the SLI selects the customer's series by them,
    and the rule's own matchers carry them, so one customer's rule reads only its own
    probes' series, though all of them share the monitoring namespace. Not in the
    customer's namespace: a VM customer may have none on the cluster, and a Probe names
    addresses, which a tenant's project must not be able to write (render/scope.py)."""
    settings = instance.settings.monitoring
    if env.monitoring is None or settings is None or instance.clusters:
        return []
    meta = {
        "name": instance_name(instance),
        "namespace": env.monitoring.namespace,
        "labels": {**labels(instance), **env.monitoring.labels},
    }
    objects = []
    blackbox = env.monitoring.blackbox
    if settings.probe is not None and blackbox is not None:
        probe = settings.probe
        targets = [
            _target(host.address, port)
            for host in sorted(instance.hosts, key=lambda h: h.name)
            for port in probe.ports
        ]
        objects.append(
            {
                "apiVersion": API,
                "kind": "Probe",
                "metadata": meta,
                "spec": {
                    "jobName": instance_name(instance),
                    "interval": probe.interval,
                    "module": probe.module,
                    "prober": {"url": blackbox.url, "path": "/probe", "scheme": "http"},
                    "targets": {
                        "staticConfig": {
                            "static": targets,
                            "labels": dict(sorted(series_labels(instance).items())),
                        }
                    },
                },
            }
        )
    objects += _rule(instance, team, meta)
    return objects


def _rule(instance: Instance, team: Team | None, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The instance's PrometheusRule (its SLOs' and plain alerts' groups), if it has any."""
    groups = rule_groups(instance, team)
    if not groups:
        return []
    return [
        {
            "apiVersion": API,
            "kind": "PrometheusRule",
            "metadata": {**meta, "labels": dict(meta["labels"])},
            "spec": {"groups": groups},
        }
    ]


def _target(address: str, port: int) -> str:
    """host:port as the blackbox exporter's `target` parameter takes it (an IPv6
    address in brackets)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def rule_groups(instance: Instance, team: Team | None) -> list[dict[str, Any]]:
    """Every SLO's groups (sorted by name), then the plain alerts' group."""
    settings = instance.settings.monitoring
    if settings is None:
        return []
    own = series_labels(instance)
    routes = routing(team)
    groups = []
    for name, slo in sorted((settings.slos or {}).items()):
        groups += slos.rule_groups(name, slo, own, routes)
    alerts = []
    for name, alert in sorted((settings.alerts or {}).items()):
        rule: dict[str, Any] = {"alert": name, "expr": alert.expr}
        if alert.for_ is not None:
            rule["for"] = alert.for_
        # ours last: no layer relabels an alert as another customer's or team's
        rule["labels"] = {**alert.labels, **own, **routes[alert.severity]}
        rule["annotations"] = {"summary": alert.summary}
        alerts.append(rule)
    if alerts:
        groups.append({"name": f"{instance.service}-alerts", "rules": alerts})
    return groups


def with_log_tenant(
    objects: list[dict[str, Any]], instance: Instance, env: Environment
) -> list[dict[str, Any]]:
    """Under Loki multi-tenancy, each pod template names its tenant (an annotation the
    environment's Alloy turns into the tenant id); the objects are new, not changed."""
    if env.monitoring is None or not env.monitoring.loki.multi_tenant:
        return objects
    tenant = tenant_id(env.monitoring.loki, instance.customer)
    result = []
    for obj in objects:
        if obj.get("kind") in (*_POD_KINDS, "CronJob"):
            # new mappings along the path to the pod template's annotations, the rest
            # shared: objects may share parts, and none of them is changed
            obj = {**obj, "spec": {**obj["spec"]}}
            holder = obj["spec"]
            if obj["kind"] == "CronJob":
                holder["jobTemplate"] = {**holder["jobTemplate"]}
                holder["jobTemplate"]["spec"] = {**holder["jobTemplate"]["spec"]}
                holder = holder["jobTemplate"]["spec"]
            template = holder["template"] = {**holder["template"]}
            metadata = template["metadata"] = {**template.get("metadata", {})}
            metadata["annotations"] = {**metadata.get("annotations", {}), TENANT_ANNOTATION: tenant}
        result.append(obj)
    return result


class Shown(NamedTuple):
    """What a service's dashboard shows of one of its instances with monitoring
    (`dashboard`), kept for a customer a recompile keeps (render/shares.py)."""

    service: str
    customer: bool
    clusters: tuple[str, ...]
    slos: tuple[str, ...]
    scraped: str | None  # the scraped port's name
    ports: tuple[str, ...]  # "<name> <port>/<protocol>"


def shown(instance: Instance) -> Shown | None:
    """What the dashboards show of `instance`; None without monitoring."""
    settings = instance.settings.monitoring
    if settings is None:
        return None
    return Shown(
        instance.service,
        instance.customer is not None,
        instance.clusters,
        tuple(settings.slos or {}),
        settings.scrape.port if settings.scrape else None,
        tuple(
            f"{name} {port_spec(spec).port}/{port_spec(spec).protocol}"
            for name, spec in (instance.settings.ports or {}).items()
        ),
    )


def dashboards(env: Environment, instances: Sequence[Shown]) -> list[dict[str, Any]]:
    """A dashboard ConfigMap per service with monitoring among `instances` (those of one
    cluster), sorted by service."""
    if env.monitoring is None:
        return []
    by_service: dict[str, list[Shown]] = {}
    for instance in instances:
        by_service.setdefault(instance.service, []).append(instance)
    namespace = dashboards_namespace(env)
    assert namespace is not None
    return [
        _dashboard_map(env, namespace, service, members)
        for service, members in sorted(by_service.items())
    ]


def _dashboard_map(
    env: Environment, namespace: str, service: str, members: Sequence[Shown]
) -> dict[str, Any]:
    key = f"{env.name}-{service}"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{service}-dashboard",
            "namespace": namespace,
            "labels": {
                DASHBOARD_LABEL[0]: DASHBOARD_LABEL[1],
                "app.kubernetes.io/name": service,
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "gitopsc.dev/environment": env.name,
            },
        },
        "data": {f"{key}.json": json.dumps(dashboard(env.name, service, members), indent=2)},
    }


def dashboard(environment: str, service: str, members: Sequence[Shown]) -> dict[str, Any]:
    """The Grafana dashboard of one service: the scrape targets' state, the ports, and
    per SLO its error ratio, remaining budget and burn rate; per customer, chosen by a
    `customer` variable, for a customer-scoped service (an environment-wide one's
    series carry no customer, and a filter on it would hide them)."""
    own = f'service="{service}",environment="{environment}"'
    customers = any(i.customer for i in members)
    scope = f'{own},customer=~"$customer"' if customers else own
    by = "customer" if customers else "pod"
    slo_names = sorted({n for i in members for n in i.slos})
    scraped = sorted({i.scraped for i in members if i.scraped is not None})
    ports = sorted({port for i in members for port in i.ports})
    panels: list[dict[str, Any]] = [
        _panel(
            "text",
            "Ports",
            0,
            {"options": {"mode": "markdown", "content": ", ".join(ports)}},
        )
    ]
    if scraped:
        panels.append(
            _panel(
                "timeseries",
                f"Scrape targets up ({', '.join(scraped)})",
                len(panels),
                _targets(f"sum by ({by}) (up{{{scope}}})", by),
            )
        )
    for name in slo_names:
        selector = f'{{{scope},slo="{name}"}}'
        for title, expr in (
            (f"{name}: error ratio (5m)", f"{slos.record('5m')}{selector}"),
            (f"{name}: error budget remaining", f"slo:error_budget_remaining:ratio{selector}"),
            (
                f"{name}: burn rate (1h)",
                f"{slos.record('1h')}{selector} / on (customer, slo) "
                f"slo:error_budget:ratio{selector}",
            ),
        ):
            panels.append(
                _panel("timeseries", title, len(panels), _targets(expr, by if customers else "slo"))
            )
    return {
        "uid": _uid(environment, service),
        "title": f"{service} ({environment})",
        "tags": ["gitopsc", environment, service],
        "timezone": "utc",
        "editable": False,
        "schemaVersion": 39,
        "time": {"from": "now-24h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                *(
                    [
                        {
                            "name": "customer",
                            "type": "query",
                            "datasource": {"type": "prometheus", "uid": "${datasource}"},
                            "query": f"label_values(up{{{own}}}, customer)",
                            "includeAll": True,
                            "allValue": ".*",
                            "multi": True,
                            "refresh": 2,
                        }
                    ]
                    if customers
                    else []
                ),
            ]
        },
        "panels": panels,
    }


def _targets(expr: str, legend: str) -> dict[str, Any]:
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": f"{{{{{legend}}}}}"}],
    }


def _panel(kind: str, title: str, index: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": kind,
        "title": title,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        **body,
    }


def _uid(environment: str, service: str) -> str:
    """Grafana's uid holds 40 characters: a long name is shortened by its hash."""
    uid = f"gitopsc-{environment}-{service}"
    if len(uid) <= 40:
        return uid
    return f"gitopsc-{hashlib.sha256(uid.encode()).hexdigest()[:32]}"
