"""Monitoring in the catalog (issue 18, item 1): what a service's `monitoring:` setting
says, what an environment's `monitoring:` block says, and a team's paging target.

A service's `monitoring` is a setting like any other, merged across layers (maps merge:
SLOs and alerts are keyed by name, so an enterprise plan can tighten one SLO's objective
without repeating the others). The environment says where Prometheus runs (a platform
namespace it already declares, whose pods the scrape is admitted from), the labels its
Prometheus selects monitoring objects by, and whether Loki is multi-tenant. The owner
team's `paging` becomes the routing labels of every alert. Rendering is in
render/monitoring.py (objects) and render/slo.py (the burn-rate rules).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from compiler.catalog.models.fields import (
    PATTERN_DESCRIPTIONS,
    LabelKey,
    LabelValue,
    Name,
    NullDict,
    PortName,
    Strict,
)

# a Prometheus duration of one unit, as ServiceMonitor's `interval` takes it
_DURATION = r"^[0-9]+(ms|s|m|h)$"
PATTERN_DESCRIPTIONS[_DURATION] = "a duration such as '30s', '1m' or '2h'"
Duration = Annotated[str, Field(pattern=_DURATION)]

# an SLO's window: whole days, from a week to a quarter (the ticket alert's 3-day window
# must fit in it, and the workbook's budget shares are for windows of this size)
_WINDOW = r"^[0-9]{1,2}d$"
PATTERN_DESCRIPTIONS[_WINDOW] = "a number of days such as '30d' or '28d'"
MIN_WINDOW_DAYS, MAX_WINDOW_DAYS = 7, 90

# the alert name Prometheus takes ([a-zA-Z_][a-zA-Z0-9_]*), capitalised by convention
_ALERT = r"^[A-Z][A-Za-z0-9_]{0,99}$"
PATTERN_DESCRIPTIONS[_ALERT] = "an alert name such as 'SynapseDown' (letters, digits, _)"
AlertName = Annotated[str, Field(pattern=_ALERT)]

# a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, less the `__` names Prometheus keeps
# for itself): an alert's labels are Prometheus's, not Kubernetes' (no `.` or `/`)
_PROM_LABEL = r"^[a-zA-Z][a-zA-Z0-9_]{0,127}$"
PATTERN_DESCRIPTIONS[_PROM_LABEL] = "a Prometheus label name such as 'team' or 'pager'"
PromLabel = Annotated[str, Field(pattern=_PROM_LABEL)]
PromValue = Annotated[str, Field(min_length=1, max_length=256)]

# the placeholder an SLI expression writes where the rate window goes: `[{{window}}]`
WINDOW_PLACEHOLDER = "{{window}}"
PromQL = Annotated[str, Field(min_length=1, max_length=4096)]
Severity = Literal["page", "ticket"]


class Scrape(Strict):
    """Which named port Prometheus scrapes, at which path and how often, through a
    ServiceMonitor (the instance's Service) or a PodMonitor (its pods: for workloads
    whose metrics port is not in a Service, or a DaemonSet's per-node agents)."""

    port: PortName
    path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]*$", max_length=256)] = "/metrics"
    interval: Duration = "30s"
    kind: Literal["ServiceMonitor", "PodMonitor"] = "ServiceMonitor"


# a blackbox exporter module name, as its configuration file spells it (`smtp_starttls`)
_MODULE = r"^[A-Za-z0-9_.-]{1,100}$"
PATTERN_DESCRIPTIONS[_MODULE] = "a blackbox exporter module name such as 'smtp_starttls'"
Module = Annotated[str, Field(pattern=_MODULE)]
Port = Annotated[int, Field(ge=1, le=65535)]
# where Prometheus reaches the exporter: a Service's DNS name and port, no scheme or path
_HOST_PORT = r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?:[0-9]{1,5}$"
PATTERN_DESCRIPTIONS[_HOST_PORT] = (
    "host:port such as 'blackbox-exporter.monitoring.svc:9115' (no scheme, no path)"
)


class HostProbe(Strict):
    """A VM service's hosts, probed from the cluster by the environment's blackbox
    exporter (a prometheus-operator `Probe`): each host's address on each of `ports`,
    with `module` (one the environment's `monitoring.blackbox.modules` declares)."""

    module: Module
    ports: Annotated[list[Port], Field(min_length=1, max_length=16)]
    interval: Duration = "60s"

    @model_validator(mode="after")
    def _distinct(self) -> HostProbe:
        if len(set(self.ports)) != len(self.ports):
            raise ValueError(f"ports {self.ports} name a port twice")
        return self


class Sli(Strict):
    """The service level indicator as PromQL: the rate of bad (`errors`) or of good
    (`good`) events, and of all events (`total`), each with `[{{window}}]` where the
    range goes (gitopsc fills in each window of the burn-rate table)."""

    errors: PromQL | None = None
    good: PromQL | None = None
    total: PromQL

    @model_validator(mode="after")
    def _one_kind(self) -> Sli:
        if (self.errors is None) == (self.good is None):
            raise ValueError(
                "an SLI has either errors or good (with total), not both; set the other "
                "to null in the layer that changes it"
            )
        for field in ("errors", "good", "total"):
            value = getattr(self, field)
            if value is not None and WINDOW_PLACEHOLDER not in value:
                raise ValueError(
                    f"the SLI's {field} has no {WINDOW_PLACEHOLDER}: write the range as "
                    f"[{WINDOW_PLACEHOLDER}] (e.g. rate(requests_total[{WINDOW_PLACEHOLDER}]))"
                )
        return self


class Slo(Strict):
    """An objective (percent of good events, e.g. 99.9) over a window (e.g. 30d), and
    its SLI; compiled into multi-window, multi-burn-rate alerts (render/slo.py)."""

    objective: Annotated[float, Field(gt=0, lt=100)]
    sli: Sli
    window: Annotated[str, Field(pattern=_WINDOW)] = "30d"
    description: Annotated[str, Field(max_length=1024)] = ""

    @field_validator("description")
    @classmethod
    def _plain(cls, description: str) -> str:
        # it becomes the burn-rate alerts' description, which Prometheus expands as a Go
        # template (a `query` there reads any series) and the generated unit tests
        # expect as written: plain text only
        if "{{" in description:
            raise ValueError(
                "description is plain text: Prometheus would expand '{{' in it as a template"
            )
        return description

    @model_validator(mode="after")
    def _window(self) -> Slo:
        days = int(self.window[:-1])
        if not MIN_WINDOW_DAYS <= days <= MAX_WINDOW_DAYS:
            raise ValueError(
                f"window {self.window} is outside {MIN_WINDOW_DAYS}d..{MAX_WINDOW_DAYS}d "
                "(the 3-day ticket window must fit in it)"
            )
        return self


class Alert(Strict):
    """A plain alert: PromQL that fires while it returns series, for `for` (optional),
    paged or ticketed by the owner team's routing."""

    expr: PromQL
    for_: Annotated[Duration | None, Field(alias="for")] = None
    severity: Severity = "ticket"
    summary: Annotated[str, Field(min_length=1, max_length=1024)]
    labels: Annotated[dict[PromLabel, PromValue], NullDict] = {}


class Monitoring(Strict):
    """A service's monitoring, layer-mergeable (docs/catalog.md, "Monitoring")."""

    scrape: Scrape | None = None
    probe: HostProbe | None = None  # a VM service's: its hosts, from the blackbox exporter
    slos: dict[Name, Slo] | None = None
    alerts: dict[AlertName, Alert] | None = None


class Loki(Strict):
    """How logs reach Loki: with `multi_tenant`, each customer's pods carry their own
    tenant id (`tenant`, `${customer.name}` filled in), the platform's `platform_tenant`."""

    multi_tenant: bool = False
    tenant: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.${}-]{1,150}$")] = "${customer.name}"
    platform_tenant: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,150}$")] = "platform"

    @model_validator(mode="after")
    def _tenant(self) -> Loki:
        rest = self.tenant.replace("${customer.name}", "")
        if "$" in rest or "{" in rest or "}" in rest:
            raise ValueError(
                f"tenant '{self.tenant}' may refer to ${{customer.name}} only (a Loki tenant "
                "id has letters, digits and - _ .)"
            )
        return self


class Blackbox(Strict):
    """The environment's blackbox exporter, which probes VM services' hosts (`Probe`s):
    its address as Prometheus reaches it (`url`, host:port), the labels of its pods in
    the monitoring namespace (their egress to the probed hosts is what a probe opens),
    and the modules its configuration defines (a probe names one of them)."""

    url: Annotated[str, Field(pattern=_HOST_PORT)]
    pods: Annotated[dict[LabelKey, LabelValue], Field(min_length=1)]
    modules: Annotated[list[Module], Field(min_length=1)]

    @field_validator("url")
    @classmethod
    def _port(cls, url: str) -> str:
        port = int(url.rpartition(":")[2])
        if not 1 <= port <= 65535:
            raise ValueError(f"url {url} names port {port}, outside 1-65535")
        return url


class EnvironmentMonitoring(Strict):
    """Where an environment's monitoring objects go and how they are found: Prometheus
    runs in `namespace`, one of the environment's `platform_namespaces` (its pods are
    admitted to each scraped port); it selects ServiceMonitors, PodMonitors and
    PrometheusRules by `labels`; Grafana's dashboard sidecar reads ConfigMaps labelled
    `grafana_dashboard: "1"` in `dashboards_namespace` (default: `namespace`); VM
    services' hosts are probed by `blackbox`, in `namespace`."""

    namespace: Name
    labels: Annotated[dict[LabelKey, LabelValue], NullDict] = {}
    dashboards_namespace: Name | None = None
    loki: Loki = Loki()
    blackbox: Blackbox | None = None


class Paging(Strict):
    """A team's paging target: the Alertmanager receiver its alerts route to, and the
    `severity` label each kind of alert carries (what Alertmanager routes on)."""

    receiver: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]
    page: PromValue = "critical"
    ticket: PromValue = "warning"
    labels: Annotated[dict[PromLabel, PromValue], NullDict] = {}


def tenant_id(loki: Loki, customer: str | None) -> str:
    """The Loki tenant id of a customer's pods (or the platform's)."""
    return loki.tenant.replace("${customer.name}", customer) if customer else loki.platform_tenant


_PLACEHOLDER = re.compile(re.escape(WINDOW_PLACEHOLDER))


def at_window(expr: str, window: str) -> str:
    """An SLI expression with its range filled in."""
    return _PLACEHOLDER.sub(window, expr)
