"""The workload of one instance and its pods: instance in, one object of the service's
kind out (Deployment, StatefulSet, DaemonSet, Job or CronJob). No I/O.

Every pod gets the secure defaults whatever the catalog says (non-root, read-only root
filesystem, no privilege escalation, all capabilities dropped, seccomp RuntimeDefault,
no service-account token); the catalog can only change them through an explicit patch,
which the policy checker re-examines after patching. The kinds differ around the pod:

    Deployment, StatefulSet   replicas (0 for a suspended customer), a claim per replica
                              (StatefulSet)
    DaemonSet                 one pod per node, no replicas
    Job                       runs to completion (restartPolicy Never unless
                              job.restart_policy), suspended for a suspended customer
    CronJob                   a Job on job.schedule (concurrencyPolicy Forbid unless
                              job.concurrency_policy), suspended for a suspended customer

Whether a Job is an ArgoCD hook, and the name of one that is not, is decided after
patches (hooks.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from compiler.catalog import (
    CONFIG_VOLUME,
    HASH_ANNOTATION,
    Cluster,
    Instance,
    RenderedFile,
    Service,
    ServicePort,
    Settings,
    WritablePath,
    config_map_name,
    files_hash,
    port_spec,
)
from compiler.render.meta import dns_part, labels, object_meta, secret_name, selector
from compiler.render.retention import RETAIN

RUN_AS = 10001  # a high UID: never a host user, never root


def workload(
    instance: Instance,
    service: Service,
    suspended: bool,
    cluster: Cluster,
    files: list[RenderedFile] | None = None,
) -> dict[str, Any]:
    """The instance's workload object on `cluster`; its configuration files (`files`)
    are mounted, and their hash on the pod template rolls the pods when one changes."""
    kind = service.workload
    files = files or []
    metadata: dict[str, Any] = {"labels": labels(instance)}
    if files:
        metadata["annotations"] = {HASH_ANNOTATION: files_hash(files)}
    template = {"metadata": metadata, "spec": pod(instance, service, cluster, files)}
    if kind in ("Job", "CronJob"):
        return _run_to_completion(instance, service, suspended, template)
    settings = instance.settings
    spec: dict[str, Any] = {"selector": {"matchLabels": selector(instance)}}
    if kind != "DaemonSet" and (not settings.autoscaling or suspended):
        spec["replicas"] = replicas(settings, suspended)
    if kind == "StatefulSet":
        spec["serviceName"] = service.name
    spec["template"] = template
    if settings.storage and kind == "StatefulSet":
        claim_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": settings.storage.size}},
        }
        if settings.storage.storage_class:
            claim_spec["storageClassName"] = settings.storage.storage_class
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": claim_spec}]
    if kind == "StatefulSet":  # its claims outlive it (retention.py)
        spec["persistentVolumeClaimRetentionPolicy"] = dict(RETAIN)
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": object_meta(instance, service.name),
        "spec": spec,
    }


def _run_to_completion(
    instance: Instance, service: Service, suspended: bool, template: dict[str, Any]
) -> dict[str, Any]:
    """A Job, or a CronJob with the same Job as its template. A suspended customer's is
    suspended (`spec.suspend`: a Job creates no pods, a CronJob no Jobs), as its other
    workloads are scaled to zero."""
    job = instance.settings.job
    template["spec"]["restartPolicy"] = (job.restart_policy if job else None) or "Never"
    job_spec: dict[str, Any] = {}
    for field, key in (
        ("backoff_limit", "backoffLimit"),
        ("active_deadline_seconds", "activeDeadlineSeconds"),
        ("ttl_seconds_after_finished", "ttlSecondsAfterFinished"),
    ):
        if job is not None and getattr(job, field) is not None:
            job_spec[key] = getattr(job, field)
    suspend = suspended or bool(job and job.suspend)
    spec: dict[str, Any]
    if service.workload == "Job":
        spec = {**job_spec, **({"suspend": True} if suspend else {}), "template": template}
    else:
        assert job is not None and job.schedule is not None  # validated (catalog/workloads.py)
        spec = {"schedule": job.schedule, "concurrencyPolicy": job.concurrency_policy or "Forbid"}
        for field, key in (
            ("starting_deadline_seconds", "startingDeadlineSeconds"),
            ("successful_jobs_history_limit", "successfulJobsHistoryLimit"),
            ("failed_jobs_history_limit", "failedJobsHistoryLimit"),
        ):
            if getattr(job, field) is not None:
                spec[key] = getattr(job, field)
        if suspend:
            spec["suspend"] = True
        spec["jobTemplate"] = {
            "metadata": {"labels": labels(instance)},
            "spec": {**job_spec, "template": template},
        }
    return {
        "apiVersion": "batch/v1",
        "kind": service.workload,
        "metadata": object_meta(instance, service.name),
        "spec": spec,
    }


def ports(settings: Settings) -> list[tuple[str, ServicePort]]:
    """The named ports, each with its number and protocol (`http: 8008` is TCP)."""
    return [(name, port_spec(value)) for name, value in sorted((settings.ports or {}).items())]


def replicas(settings: Settings, suspended: bool) -> int:
    if suspended:
        return 0
    if settings.autoscaling:
        return settings.autoscaling.min_replicas
    return 1 if settings.replicas is None else settings.replicas


def identity(settings: Settings, cluster: Cluster) -> dict[str, int]:
    """runAsUser, runAsGroup and fsGroup of the pods, or none where the platform assigns
    them (`run_as.assigned_by_platform`, and always on OpenShift, whose restricted-v2
    SCC refuses IDs outside the namespace's range). Unset: 10001 for all three; a group
    defaults to the user, the fsGroup to the group."""
    run_as = settings.run_as
    if cluster.flavour == "openshift" or (run_as and run_as.assigned_by_platform):
        return {}
    user = run_as.user if run_as and run_as.user is not None else RUN_AS
    group = run_as.group if run_as and run_as.group is not None else user
    fs_group = run_as.fs_group if run_as and run_as.fs_group is not None else group
    return {"runAsUser": user, "runAsGroup": group, "fsGroup": fs_group}


def writable_volume(path: str) -> str:
    """The emptyDir volume's name for a writable path: readable, a DNS label, unique
    (a digest of the path when the readable part could collide or is too long)."""
    digest = hashlib.sha256(path.encode()).hexdigest()[:8]
    return f"w-{dns_part(path)[:45].strip('-')}-{digest}"


def pod(
    instance: Instance,
    service: Service,
    cluster: Cluster,
    files: list[RenderedFile] | None = None,
) -> dict[str, Any]:
    """The pod spec of the instance's workload, with the secure defaults."""
    settings = instance.settings
    ids = identity(settings, cluster)
    container: dict[str, Any] = {
        "name": service.name,
        "image": settings.image,
        "imagePullPolicy": "Always",
    }
    if settings.command:
        container["command"] = list(settings.command)
    if settings.args is not None:
        container["args"] = list(settings.args)
    if settings.ports:
        container["ports"] = [
            {"name": name, "containerPort": spec.port, "protocol": spec.protocol}
            for name, spec in ports(settings)
        ]
    if settings.config:
        container["envFrom"] = [{"configMapRef": {"name": service.name}}]
    if settings.secrets:
        container["env"] = [
            {
                "name": variable,
                "valueFrom": {
                    "secretKeyRef": {"name": secret_name(service.name, variable), "key": variable}
                },
            }
            for variable in sorted(settings.secrets)
        ]
    resources = settings.resources.model_dump(exclude_none=True) if settings.resources else {}
    container["resources"] = {kind: amounts for kind, amounts in resources.items() if amounts}
    for kind in ("liveness", "readiness", "startup"):
        probe = getattr(settings.probes, kind, None) if settings.probes else None
        if probe is not None:
            action = (
                {"httpGet": {"path": probe.path, "port": probe.port}}
                if probe.type == "http"
                else {"tcpSocket": {"port": probe.port}}
            )
            container[f"{kind}Probe"] = {
                **action,
                "initialDelaySeconds": probe.initial_delay_seconds,
                "periodSeconds": probe.period_seconds,
            }
    container["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        **{k: v for k, v in ids.items() if k != "fsGroup"},
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    for path, writable in sorted((settings.writable_paths or {}).items()):
        if path == "/tmp":  # always there; a size limit or medium applies to it
            volumes[0]["emptyDir"] = _empty_dir(writable)
            continue
        name = writable_volume(path)
        mounts.append({"name": name, "mountPath": path})
        volumes.append({"name": name, "emptyDir": _empty_dir(writable)})
    if settings.storage and service.workload == "StatefulSet":
        data = {"name": "data", "mountPath": settings.storage.mount_path}
        if settings.storage.sub_path:
            data["subPath"] = settings.storage.sub_path
        mounts.append(data)
    files = files or []
    if any(not f.secrets for f in files):
        volumes.append(
            {"name": CONFIG_VOLUME, "configMap": {"name": config_map_name(service.name)}}
        )
    volumes += [{"name": f.volume, "secret": {"secretName": f.name}} for f in files if f.secrets]
    mounts += [
        {
            "name": f.volume or CONFIG_VOLUME,
            "mountPath": f.path,
            "subPath": f.key,
            "readOnly": True,
        }
        for f in files
    ]
    container["volumeMounts"] = mounts
    return {
        "serviceAccountName": service.name,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            **ids,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }


def _empty_dir(writable: WritablePath) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if writable.medium:
        spec["medium"] = writable.medium
    if writable.size_limit:
        spec["sizeLimit"] = writable.size_limit
    return spec
