"""On an OpenShift cluster (`flavour: openshift`), every pod that gitopsc renders is one
the `restricted-v2` SecurityContextConstraints admit: no fixed user ID or fsGroup, no
SELinux options, no host namespaces, ports or paths, no privilege, no capability but
NET_BIND_SERVICE, the runtime's default seccomp profile, and only the volume types the
SCC lists.

OpenShift admits a pod that no SCC the service account may use accepts into nothing:
the ReplicaSet reports the refusal and the service never starts. `restricted-v2` is what
every authenticated user gets (OpenShift 4.11 and later); its `runAsUser:
MustRunAsRange` and `fsGroup: MustRunAs` assign IDs from a range per namespace, so a
fixed ID, unknowable in advance, is refused. gitopsc renders no IDs on OpenShift, so a
finding here comes from a patch or an extra resource. The rules are the SCC's fields
(`RESTRICTED_V2`), kept beside a test that compares them with the published object.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from compiler.check.builtins.base import (
    Builtin,
    EnvironmentInput,
    about_file,
    as_list,
    as_mapping,
    producer,
)
from compiler.check.findings import Finding

# the fields of restricted-v2 this check enforces, as the SCC object spells them
RESTRICTED_V2: dict[str, Any] = {
    "allowHostDirVolumePlugin": False,
    "allowHostIPC": False,
    "allowHostNetwork": False,
    "allowHostPID": False,
    "allowHostPorts": False,
    "allowPrivilegeEscalation": False,
    "allowPrivilegedContainer": False,
    "allowedCapabilities": ["NET_BIND_SERVICE"],
    "fsGroup": {"type": "MustRunAs"},
    "runAsUser": {"type": "MustRunAsRange"},
    "seLinuxContext": {"type": "MustRunAs"},
    "seccompProfiles": ["runtime/default"],
    "volumes": [
        "configMap",
        "downwardAPI",
        "emptyDir",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ],
}
POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")


def check(run: EnvironmentInput) -> Iterator[Finding]:
    env = run.catalog.environments[run.env]
    openshift = {c.name for c in env.clusters if c.flavour == "openshift"}
    if not openshift:
        return
    for file in run.files:
        parts = file.path.split("/")
        data = file.data
        if (
            len(parts) < 4
            or parts[1] != "kubernetes"
            or parts[2] not in openshift
            or not isinstance(data, dict)
            or data.get("kind") not in POD_KINDS
        ):
            continue
        refused = list(refusals(pod_spec(data)))
        if not refused:
            continue
        instance = run.owner(file)
        metadata = as_mapping(data.get("metadata"))
        at = (
            producer(run, instance, file)
            if instance
            else run.catalog.source("environment", run.env).locate("clusters")
        )
        yield BUILTIN.finding(
            f"{data['kind']} {metadata.get('namespace')}/{metadata.get('name')} on OpenShift "
            f"cluster {parts[2]} is refused by the restricted-v2 SCC: {'; '.join(refused)}",
            at,
            key=f"{parts[2]}/{metadata.get('namespace')}/{data['kind']}/{metadata.get('name')}",
            rendered=file.path,
            **about_file(run.env, file, run.by_id),
        )


def pod_spec(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of a workload (a CronJob's in its job template; a Pod's own)."""
    if data.get("kind") == "Pod":
        return as_mapping(data.get("spec"))
    spec = as_mapping(data.get("spec"))
    if data.get("kind") == "CronJob":
        spec = as_mapping(as_mapping(spec.get("jobTemplate")).get("spec"))
    return as_mapping(as_mapping(spec.get("template")).get("spec"))


def refusals(pod: Mapping[str, Any]) -> Iterator[str]:
    """Why restricted-v2 refuses a pod spec, one reason per field."""
    rules = RESTRICTED_V2
    for field, allowed in (("hostNetwork", "allowHostNetwork"), ("hostPID", "allowHostPID"),
                           ("hostIPC", "allowHostIPC")):  # fmt: skip
        if pod.get(field) is True and not rules[allowed]:
            yield f"{field} (allow{field[0].upper()}{field[1:]}: false)"
    context = as_mapping(pod.get("securityContext"))
    yield from _ids(context, "pod", with_fs_group=True)
    allowed_volumes = set(rules["volumes"])
    for volume in map(as_mapping, as_list(pod.get("volumes"))):
        kinds = set(volume) - {"name"}
        for kind in sorted(kinds - allowed_volumes):
            yield f"volume {volume.get('name')} is {kind} (volumes: {', '.join(rules['volumes'])})"
    containers = [
        *map(as_mapping, as_list(pod.get("containers"))),
        *map(as_mapping, as_list(pod.get("initContainers"))),
    ]
    for container in containers:
        name = container.get("name")
        security = as_mapping(container.get("securityContext"))
        yield from _ids(security, f"container {name}", with_fs_group=False)
        if security.get("privileged") is True:
            yield f"container {name} is privileged (allowPrivilegedContainer: false)"
        if security.get("allowPrivilegeEscalation") is True:
            yield f"container {name} allows privilege escalation (allowPrivilegeEscalation: false)"
        added = as_list(as_mapping(security.get("capabilities")).get("add"))
        extra = sorted({str(c) for c in added} - set(rules["allowedCapabilities"]))
        if extra:
            allowed = ", ".join(rules["allowedCapabilities"])
            yield f"container {name} adds {', '.join(extra)} (allowedCapabilities: {allowed})"
        for port in map(as_mapping, as_list(container.get("ports"))):
            if port.get("hostPort"):
                yield f"container {name} binds hostPort {port['hostPort']} (allowHostPorts: false)"


def _ids(context: Mapping[str, Any], whose: str, *, with_fs_group: bool) -> Iterator[str]:
    """Fixed IDs and SELinux options, which the SCC assigns per namespace, and a seccomp
    profile other than the runtime's default."""
    if context.get("runAsUser") is not None:
        yield f"{whose} fixes runAsUser {context['runAsUser']} (runAsUser: MustRunAsRange)"
    if with_fs_group and context.get("fsGroup") is not None:
        yield f"{whose} fixes fsGroup {context['fsGroup']} (fsGroup: MustRunAs)"
    if context.get("seLinuxOptions"):
        yield f"{whose} sets seLinuxOptions (seLinuxContext: MustRunAs)"
    profile = as_mapping(context.get("seccompProfile")).get("type")
    if profile not in (None, "RuntimeDefault"):
        yield f"{whose} uses seccomp profile {profile} (seccompProfiles: runtime/default)"


BUILTIN = Builtin(
    "openshift-scc",
    "Pods on OpenShift clusters are admitted by the restricted-v2 SCC",
    "high",
    "on OpenShift leave user IDs, fsGroup and SELinux options to the platform (no run_as "
    "IDs, no patch adding them), and keep to the volume types and capabilities it allows",
    "environment",
    check,
    __doc__,
)
