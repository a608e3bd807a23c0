"""Found in the review of issue 14: what would not start or would lose data, caught
before it reaches a cluster or Terraform."""

from __future__ import annotations

import re
from pathlib import Path

from compiler import pipeline
from tests.conftest import run_cli


def test_every_path_a_command_names_is_mounted_in_its_pod(example: Path):
    """The migration hook's `--database-config /data/homeserver.yaml` is a file of its
    own pod (synapse's files are synapse's): each container argument that is an absolute
    path under a file the catalog renders is mounted there."""
    files = {f.path: f.data for f in pipeline.render(pipeline.run(example, ["prod"]))["prod"]}
    checked = 0
    for path, data in files.items():
        if data.get("kind") not in ("Job", "CronJob", "Deployment", "StatefulSet", "DaemonSet"):
            continue
        spec = data["spec"]
        if data["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        container = spec["template"]["spec"]["containers"][0]
        mounted = {m["mountPath"] for m in container.get("volumeMounts", [])}
        for arg in container.get("args", []) + container.get("command", []):
            if isinstance(arg, str) and arg.startswith("/data/"):
                assert arg in mounted, (path, arg)
                checked += 1
    assert checked > 0


def test_a_volume_and_a_writable_path_at_one_path_is_an_error(example: Path):
    postgres = example / "catalog/services/postgres.yaml"
    text = postgres.read_text()
    anchor = "    /var/run/postgresql: {}  # the socket and its lock file\n"
    assert anchor in text
    postgres.write_text(text.replace(anchor, anchor + "    /var/lib/postgresql/data: {}\n"))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert "storage.mount_path '/var/lib/postgresql/data' is also a writable path" in result.stderr


def test_two_records_under_one_terraform_key_are_an_error(example: Path, tmp_path: Path):
    """acme's synapse record `migrate-foo` and its synapse-migrate record `foo` would
    both be `acme-synapse-migrate-foo`: the tfvars would keep one, silently."""
    acme = example / "catalog/customers/acme.yaml"
    text = acme.read_text()
    anchor = "      synapse:\n        replicas: 3\n"
    assert anchor in text
    acme.write_text(
        text.replace(
            anchor,
            anchor
            + "        infrastructure:\n"
            + "          dns:\n"
            + "            migrate-foo: {name: a.acme.example, type: TXT, value: one}\n",
        ).rstrip("\n")
        + "\n"
    )
    text = acme.read_text()
    prod = text.index("  prod:\n")
    head, tail = text[:prod], text[prod:]
    tail = tail.replace(
        "      synapse-migrate:\n",
        "      synapse-migrate:\n"
        "        infrastructure:\n"
        "          dns:\n"
        "            foo: {name: b.acme.example, type: TXT, value: two}\n",
        1,
    )
    acme.write_text(head + tail)
    result = run_cli("compile", "--root", str(example), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert "dns_records key 'acme-synapse-migrate-foo' is also" in result.stderr
    assert re.search(r"^catalog/customers/acme.yaml:\d+:\d+: error", result.stderr, re.M)
