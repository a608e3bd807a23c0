"""What each workload kind accepts (docs/catalog.md, "Workload kinds").

    Deployment, StatefulSet   replicas, autoscaling, probes, ingress, storage (StatefulSet)
    DaemonSet                 a pod on every node: environment-scoped services only; no
                              replicas or autoscaling
    Job, CronJob              run to completion: no Service, ingress, probes, replicas or
                              autoscaling; `job:` for the schedule (CronJob), retries,
                              deadlines, clean-up, and a sync hook (Job)

Checked at validate (`service_problems`: a customer-scoped DaemonSet), for each instance
on its merged settings (`instance_problems`, which the resolver reports at the layer
that wrote the value), and across instances (`hook_problems`: a hook runs in the
Application of a service enabled beside it). `replicas` is not refused on the kinds
that have none, only left out: environments set it for every service (prod's
`defaults: {replicas: 2}`), and one layer cannot take it back for one kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from compiler.catalog.layout import Catalog
from compiler.catalog.loader import YamlPath
from compiler.catalog.models import CRON_ONLY, JOB_ONLY, JobHook, Service, Settings
from compiler.errors import Location, Problem, did_you_mean

if TYPE_CHECKING:  # the resolver reports these problems, so it imports this module
    from compiler.catalog.resolver import Instance

SCALED = ("Deployment", "StatefulSet")  # replicas, autoscaling, a PodDisruptionBudget
RUN_TO_COMPLETION = ("Job", "CronJob")  # pods that finish: no Service, probes or ingress

Failure = tuple[YamlPath, str, str]  # settings path, message, hint


def hook_of(service: Service, settings: Settings) -> JobHook | None:
    """The sync hook a Job service runs as, or None (not a Job, or no hook)."""
    if service.workload != "Job" or settings.job is None:
        return None
    return settings.job.hook


# the longest name of a Job or CronJob: its name goes into a label of its pods (63
# characters at most) with 11 more (a CronJob's run: `-<minutes>`; a plain Job's
# content digest: `-<10 hex digits>`, render/hooks.py)
JOB_NAME_MAX = 52


def service_problems(catalog: Catalog) -> list[Problem]:
    """A DaemonSet runs a pod on every node of a shared cluster: one per customer would be
    one per customer and node, and a customer could reach every node. Environment-wide
    (platform) services only. A Job's or CronJob's name leaves room for what is appended
    to it."""
    problems = []
    for name, service in sorted(catalog.services.items()):
        if service.workload in RUN_TO_COMPLETION and len(name) > JOB_NAME_MAX:
            problems.append(
                Problem(
                    catalog.source("service", name).locate("name"),
                    f"a {service.workload}'s name has at most {JOB_NAME_MAX} characters, "
                    f"'{name}' has {len(name)}",
                    "its runs are named after it with 11 more characters, in a label of at most 63",
                )
            )
        if service.workload == "DaemonSet" and service.scope != "environment":
            problems.append(
                Problem(
                    catalog.source("service", name).locate("workload"),
                    f"service '{name}' is customer-scoped: a DaemonSet runs a pod on every "
                    "node of the cluster, so only environment-scoped services may be one",
                    "make it `scope: environment` (one for every customer), or use a Deployment",
                )
            )
    return problems


def instance_problems(service: Service, settings: Settings) -> Iterator[Failure]:
    """What the merged settings of a Kubernetes instance may not hold for its kind."""
    kind = service.workload
    job = settings.job
    if service.runtime != "kubernetes":
        return
    if kind not in RUN_TO_COMPLETION and job is not None:
        yield (
            ("job",),
            f"job applies to Jobs and CronJobs; '{service.name}' is a {kind}",
            "remove it, or set `workload: Job` or `CronJob` in the service file",
        )
    if kind not in SCALED and settings.autoscaling is not None:
        yield (
            ("autoscaling",),
            f"a {kind} has no replicas to scale: autoscaling applies to Deployments and "
            "StatefulSets",
            "remove autoscaling for this service",
        )
    if kind not in RUN_TO_COMPLETION:
        return
    if settings.probes is not None:
        yield (
            ("probes",),
            f"probes do not apply to a {kind}: its pods serve no traffic to gate, and a "
            "liveness probe would restart a run partway through",
            "remove probes; bound a run that may hang with job.active_deadline_seconds",
        )
    if settings.ingress is not None:
        yield (
            ("ingress",),
            f"a {kind} serves no traffic: no Service or Ingress is rendered for it",
            "remove ingress, or run the service as a Deployment",
        )
    for field in CRON_ONLY if kind == "Job" else JOB_ONLY:
        if job is not None and getattr(job, field) is not None:
            other = "CronJob" if kind == "Job" else "Job"
            yield (("job", field), f"job.{field} applies to a {other}, not a {kind}", "")
    if kind == "CronJob" and (job is None or job.schedule is None):
        yield (
            ("job",),  # the layer that wrote `job:` without one (none: the service file)
            f"CronJob '{service.name}' has no job.schedule",
            "set a cron schedule, e.g. `job: {schedule: '30 3 * * *'}`",
        )
    if (
        kind == "Job"
        and job is not None
        and job.hook is None
        and job.ttl_seconds_after_finished is not None
    ):
        yield (
            ("job", "ttl_seconds_after_finished"),
            "a Job that is not a sync hook is an object of its Application: once "
            "Kubernetes deleted it after the TTL, ArgoCD would create it again and it "
            "would run again",
            "leave it out (the Job stays, completed, until its content changes), or run "
            "it as a hook (job.hook)",
        )


def hook_problems(catalog: Catalog, instances: Iterable[Instance]) -> list[Problem]:
    """A hook Job runs in the Application of the service it names: that service must be a
    Kubernetes service of the same scope with an instance beside the Job's (same
    environment, same customer), and not a hook itself (a hook has no Application)."""
    found = list(instances)
    by_key = {(i.environment, i.customer, i.service): i for i in found}
    failures: dict[tuple[Location, str, str], list[str]] = {}
    for instance in found:
        service = catalog.services[instance.service]
        hook = hook_of(service, instance.settings)
        if hook is None:
            continue
        where = (
            instance.origin(("job", "hook", "service")).location
            or catalog.source("service", service.name).locate()
        )
        message, hint = _hook_problem(catalog, instance, service, hook.service, by_key)
        if message:
            failures.setdefault((where, message, hint), []).append(instance.id)
    return [
        Problem(where, message, _hint(hint, ids))
        for (where, message, hint), ids in failures.items()
    ]


def _hook_problem(
    catalog: Catalog,
    instance: Instance,
    service: Service,
    name: str,
    by_key: Mapping[tuple[str, str | None, str], Instance],
) -> tuple[str, str]:
    target = catalog.services.get(name)
    if name == service.name:
        return f"'{name}' cannot be a sync hook of itself", "name the service it runs before"
    if target is None:
        return f"job.hook.service names unknown service '{name}'", did_you_mean(
            name, catalog.services
        )
    if target.runtime != "kubernetes":
        return f"'{name}' runs on VMs: it has no ArgoCD Application to hook into", ""
    if target.scope != service.scope:
        return (
            f"'{name}' is {target.scope}-scoped and '{service.name}' {service.scope}-scoped: "
            "a hook runs in the Application of the instance beside it",
            "hook a service of the same scope",
        )
    env, customer = instance.environment, instance.customer
    served = by_key.get((env, customer, name))
    if served is None:
        if customer is None:
            return f"'{name}' does not run in environment '{env}'", ""
        return (
            f"customer '{customer}' enables '{service.name}' but not '{name}', whose "
            f"Application it hooks into, in '{env}'",
            f"enable '{name}' for the customer in '{env}', or leave '{service.name}' out",
        )
    if hook_of(target, served.settings) is not None:
        return (
            f"'{name}' is itself a sync hook: it runs in another service's Application "
            "and has none of its own",
            "hook the service that one runs for",
        )
    return "", ""


def _hint(hint: str, ids: list[str]) -> str:
    which = ids[0] if len(ids) == 1 else f"{ids[0]} and {len(ids) - 1} more"
    return f"{hint + '; ' if hint else ''}in instance {which}"
