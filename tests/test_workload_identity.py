"""Runtime identity and writable paths (issue 14, item 1): who the pods run as, per
service and per cluster flavour, what they may write, and where a stateful service keeps
its data; the example PostgreSQL set up as its image's entrypoint needs it."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
import yaml

from compiler import pipeline
from compiler.check import EnvironmentInput
from compiler.check.builtins import openshift_scc
from tests.conftest import reference, run_cli

IDS = ("runAsUser", "runAsGroup", "fsGroup")


def _files(root: Path, env: str) -> dict[str, dict]:
    resolved = pipeline.run(root, [env])
    return {f.path: f.data for f in pipeline.render(resolved)[env]}


def _pod(files: dict[str, dict], path: str) -> dict:
    return files[path]["spec"]["template"]["spec"]


def _ids(pod: dict) -> tuple[dict, dict]:
    container = pod["containers"][0]["securityContext"]
    return (
        {k: v for k, v in pod["securityContext"].items() if k in IDS},
        {k: v for k, v in container.items() if k in IDS},
    )


def _set(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, (relative, old)
    path.write_text(text.replace(old, new, 1))


def test_on_openshift_no_fixed_ids_elsewhere_the_defaults(example: Path):
    """alpenverein's staging instances run on the OpenShift cluster stg-ocp1: no IDs in
    pod or container; acme's, on stg-fra1, run as 10001. The environment-wide sygnal
    runs on both, with its IDs on one and none on the other."""
    files = _files(example, "staging")
    openshift = _pod(
        files, "staging/kubernetes/stg-ocp1/alpenverein/synapse/deployment-synapse.yaml"
    )
    assert _ids(openshift) == ({}, {})
    assert openshift["securityContext"]["runAsNonRoot"] is True
    plain = _pod(files, "staging/kubernetes/stg-fra1/acme/synapse/deployment-synapse.yaml")
    assert _ids(plain) == (
        {"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001},
        {"runAsUser": 10001, "runAsGroup": 10001},
    )
    sygnal = {
        cluster: _ids(
            _pod(files, f"staging/kubernetes/{cluster}/platform/sygnal/deployment-sygnal.yaml")
        )
        for cluster in ("stg-fra1", "stg-ocp1")
    }
    assert sygnal["stg-ocp1"] == ({}, {}) and sygnal["stg-fra1"][0]["runAsUser"] == 10001


def test_run_as_fixes_ids_and_defaults_group_and_fs_group_to_them(example: Path):
    _set(
        example,
        "catalog/services/element-web.yaml",
        "  ingress:\n",
        "  run_as: {user: 101}\n  ingress:\n",
    )
    files = _files(example, "dev")
    pod = _pod(files, "dev/kubernetes/dev-fra1/acme/element-web/deployment-element-web.yaml")
    assert _ids(pod) == (
        {"runAsUser": 101, "runAsGroup": 101, "fsGroup": 101},
        {"runAsUser": 101, "runAsGroup": 101},
    )


def test_platform_assigned_ids_are_left_out_and_cannot_be_mixed(example: Path):
    _set(
        example,
        "catalog/services/element-web.yaml",
        "  ingress:\n",
        "  run_as: {assigned_by_platform: true}\n  ingress:\n",
    )
    pod = _pod(
        _files(example, "dev"),
        "dev/kubernetes/dev-fra1/acme/element-web/deployment-element-web.yaml",
    )
    assert _ids(pod) == ({}, {})
    _set(
        example,
        "catalog/services/element-web.yaml",
        "  run_as: {assigned_by_platform: true}\n",
        "  run_as: {assigned_by_platform: true, user: 101}\n",
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert "assigned_by_platform leaves no room for user" in result.stderr
    assert re.search(r"^catalog/services/element-web.yaml:\d+:\d+: error", result.stderr, re.M)


def test_the_example_postgres_has_what_its_entrypoint_writes(example: Path):
    """The image's entrypoint creates PGDATA (which must be a subdirectory of the mounted
    volume, whose root holds lost+found) and the socket directory with its lock file,
    and writes nss_wrapper's passwd file to /tmp for a UID without a passwd entry: all
    three are writable in a read-only container, and the UID is a high one."""
    files = _files(example, "prod")
    workload = files["prod/kubernetes/prod-fra1/acme/postgres/statefulset-postgres.yaml"]
    pod = workload["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for path in ("/tmp", "/var/run/postgresql"):
        assert "emptyDir" in volumes[mounts[path]], path
    config = files["prod/kubernetes/prod-fra1/acme/postgres/configmap-postgres.yaml"]["data"]
    data_mount = next(m for m in container["volumeMounts"] if m["name"] == "data")
    assert config["PGDATA"].startswith(data_mount["mountPath"] + "/")
    assert config["PGDATA"] != data_mount["mountPath"] and "subPath" not in data_mount
    assert pod["securityContext"]["runAsUser"] >= 10000  # checkov CKV_K8S_40


def test_writable_paths_and_a_data_sub_path_render_as_volumes(example: Path):
    _set(
        example,
        "catalog/services/postgres.yaml",
        "    /var/run/postgresql: {}  # the socket and its lock file\n",
        "    /var/run/postgresql: {}  # the socket and its lock file\n"
        "    /tmp: {size_limit: 64Mi}\n"
        "    /dev/shm: {medium: Memory, size_limit: 256Mi}\n"
        "    /var/run/postgresql-x: {}\n",
    )
    _set(
        example,
        "catalog/services/postgres.yaml",
        "    mount_path: /var/lib/postgresql/data\n",
        "    mount_path: /var/lib/postgresql/data\n    sub_path: pgdata\n",
    )
    pod = _pod(
        _files(example, "dev"), "dev/kubernetes/dev-fra1/acme/postgres/statefulset-postgres.yaml"
    )
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/tmp"]["name"]]["emptyDir"] == {"sizeLimit": "64Mi"}
    assert volumes[mounts["/dev/shm"]["name"]]["emptyDir"] == {
        "medium": "Memory",
        "sizeLimit": "256Mi",
    }
    names = [mounts[p]["name"] for p in ("/var/run/postgresql", "/var/run/postgresql-x")]
    assert len(set(names)) == 2 and all(re.fullmatch(r"[a-z0-9-]{1,63}", n) for n in names)
    assert mounts["/var/lib/postgresql/data"]["subPath"] == "pgdata"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    /var/run/postgresql: {}", "    /var/run/../etc: {}", "has a '.' or '..' part"),
        ("    /var/run/postgresql: {}", "    var/run: {}", "writable_paths"),
        (
            "    mount_path: /var/lib/postgresql/data\n",
            "    mount_path: /var/lib/postgresql/data\n    sub_path: ../escape\n",
            "sub_path",
        ),
    ],
    ids=["dot-dot", "relative", "sub-path-escape"],
)
def test_paths_stay_where_they_are_meant(example: Path, old: str, new: str, message: str):
    _set(example, "catalog/services/postgres.yaml", old, new)
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert message in result.stderr
    assert re.search(r"^catalog/services/postgres.yaml:\d+:\d+: error", result.stderr, re.M)


def test_the_encoded_scc_rules_are_the_published_restricted_v2():
    """`openshift-scc` enforces the fields of the SecurityContextConstraints object as
    published; a drift in either shows here."""
    published = yaml.safe_load(reference("openshift/restricted-v2-scc.yaml").read_text())
    assert published["metadata"]["name"] == "restricted-v2"
    for field, value in openshift_scc.RESTRICTED_V2.items():
        assert published[field] == value, field


def test_the_scc_check_refuses_what_restricted_v2_refuses():
    """Each rule on its own, on a pod spec, beside one the SCC admits."""
    admitted = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "c",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                },
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "x"}}],
    }
    assert list(openshift_scc.refusals(admitted)) == []
    cases = {
        "runAsUser": {"securityContext": {"runAsUser": 1000}},
        "fsGroup": {"securityContext": {"fsGroup": 1000}},
        "seLinuxOptions": {"securityContext": {"seLinuxOptions": {"level": "s0:c1"}}},
        "seccomp profile Unconfined": {
            "securityContext": {"seccompProfile": {"type": "Unconfined"}}
        },
        "hostNetwork": {"hostNetwork": True},
        "hostPath": {"volumes": [{"name": "h", "hostPath": {"path": "/"}}]},
        "privileged": {"containers": [{"name": "c", "securityContext": {"privileged": True}}]},
        "privilege escalation": {
            "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": True}}]
        },
        "NET_ADMIN": {
            "containers": [
                {"name": "c", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}
            ]
        },
        "hostPort": {
            "containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]
        },
    }
    for reason, change in cases.items():
        pod = {**admitted, **change}
        found = list(openshift_scc.refusals(pod))
        assert len(found) == 1 and reason in found[0], (reason, found)


def test_the_example_passes_the_scc_check_on_its_openshift_cluster(example: Path):
    resolved = pipeline.run(example, ["staging"])
    files = pipeline.render(resolved)["staging"]
    assert any("/stg-ocp1/" in f.path and f.data.get("kind") == "StatefulSet" for f in files)
    run = EnvironmentInput(
        resolved.catalog, "staging", list(resolved.instances.values()), files, datetime.date.today()
    )
    assert list(openshift_scc.check(run)) == []
