"""Compile: the output is what ArgoCD, Terraform and AWX consume, proved with the real tools."""

from __future__ import annotations

import datetime
import gc
import hashlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from compiler import pipeline
from compiler.catalog import load_contract, mismatches
from compiler.output.writer import read_tree
from compiler.pipeline import fresh
from tests.conftest import LAYOUTS, REPO, reference, rendered_objects, run_cli, set_layout
from tests.test_result_cache import CONTAINER, _synapse_patch

CUSTOM_KINDS = {
    "Application",
    "AppProject",
    "ExternalSecret",
    "Certificate",
    "Route",
    "ServiceMonitor",
    "PodMonitor",
    "PrometheusRule",
    "Probe",
    "KeycloakRealmImport",
}


@pytest.fixture(scope="module", params=LAYOUTS)
def compiled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example catalog compiled once into a temporary repository copy, in each
    layout: every consumer test below holds for both."""
    from tests.conftest import copy_example

    root = copy_example(tmp_path_factory.mktemp("compiled") / "repo")
    set_layout(root, request.param)
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    return root


def _objects(root: Path) -> list[tuple[Path, dict]]:
    """Every Kubernetes object, by the path it would have alone (its folder holds it)."""
    return [
        (root / "rendered" / relative, obj)
        for relative, obj in rendered_objects(root / "rendered").items()
        if relative.split("/")[1] == "kubernetes" and obj["kind"] != "Kustomization"
    ]


def _cluster_versions(root: Path) -> dict[str, str]:
    catalog = pipeline.load_catalog(root)
    return {c.name: c.kubernetes_version for e in catalog.environments.values() for c in e.clusters}


def test_every_core_object_passes_kubernetes_validate_strict(compiled: Path):
    versions = _cluster_versions(compiled)
    checked = 0
    for path, obj in _objects(compiled):
        if obj["kind"] in CUSTOM_KINDS:
            continue
        cluster = path.relative_to(compiled / "rendered").parts[2]
        kubernetes_validate.validate(obj, versions[cluster] + ".0", strict=True)
        checked += 1
    assert checked > 200


def test_kubernetes_validate_would_catch_a_bad_object():
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "x"},
                "spec": {"prots": []},
            },
            "1.31.0",
            strict=True,
        )


def _crd_schema(relative: str, version: str) -> dict:
    crd = yaml.safe_load(reference(relative).read_text())
    [entry] = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return entry["schema"]["openAPIV3Schema"]


def _custom_validators() -> dict[str, list[jsonschema.protocols.Validator]]:
    def strict(relative: str) -> jsonschema.protocols.Validator:
        return jsonschema.Draft202012Validator(json.loads(reference(relative).read_text()))

    def crd(relative: str, version: str) -> jsonschema.protocols.Validator:
        return jsonschema.Draft7Validator(_crd_schema(relative, version))

    return {
        "Application": [
            strict("argocd/jsonschema/application_v1alpha1.json"),
            crd("argocd/crds/application-crd.yaml", "v1alpha1"),
        ],
        "AppProject": [
            strict("argocd/jsonschema/appproject_v1alpha1.json"),
            crd("argocd/crds/appproject-crd.yaml", "v1alpha1"),
        ],
        "ExternalSecret": [
            strict("crd-jsonschema/external-secrets.io_externalsecret_v1.json"),
            crd("crds/external-secrets.io_externalsecrets.yaml", "v1"),
        ],
        "Certificate": [
            strict("crd-jsonschema/cert-manager.io_certificate_v1.json"),
            crd("crds/cert-manager.io_certificates.yaml", "v1"),
        ],
    }


def test_custom_resources_validate_against_their_crd_schemas(compiled: Path):
    validators = _custom_validators()
    seen: dict[str, int] = {}
    for path, obj in rendered_objects(compiled / "rendered").items():
        if obj["kind"] in validators:
            for validator in validators[obj["kind"]]:
                errors = [e.message for e in validator.iter_errors(obj)]
                assert errors == [], f"{path}: {errors}"
            seen[obj["kind"]] = seen.get(obj["kind"], 0) + 1
    assert set(seen) == set(validators), seen


def test_a_broken_application_is_rejected_by_the_schema():
    [strict, _] = _custom_validators()["Application"]
    bad = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "x"},
        "spec": {"destination": {}, "projekt": "x"},
    }
    assert list(strict.iter_errors(bad))


def test_inventories_parse_with_the_real_ansible_inventory(compiled: Path):
    executable = shutil.which("ansible-inventory") or str(
        Path(sys.executable).parent / "ansible-inventory"
    )
    for env in ("dev", "staging", "prod"):
        inventory = compiled / "rendered" / env / "ansible" / "inventory.yml"
        completed = subprocess.run(
            [executable, "-i", str(inventory), "--list"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"},
        )
        parsed = json.loads(completed.stdout)
        assert "service_rspamd" in parsed
        assert ("service_postfix_relay" in parsed) == (env != "dev")  # no relay in dev
        hostvars = parsed["_meta"]["hostvars"]
        if env == "prod":
            assert sorted(parsed["customer_globex"]["hosts"]) == [
                "mx1.globex.example",
                "mx2.globex.example",
            ]
            assert hostvars["mx1.globex.example"]["ansible_host"] == "192.0.2.25"
            relay = hostvars["relay1.fra1.mail.example.net"]["gitopsc_instances"]["postfix_relay"]
            assert relay["acme"]["postfix_relay_domain"] == "acme.example"
            # Swiss customers' mail stays in Switzerland (residency-region)
            assert parsed["region_zrh1"]["hosts"] == [
                "edge1.zrh1.example.net",
                "relay1.zrh1.mail.example.net",
            ]
            # the edge's file (issue 18) reaches the hosts as written, as a string
            edge = hostvars["edge1.zrh1.example.net"]["gitopsc_files"]["/etc/haproxy/haproxy.cfg"]
            assert "req_ssl_sni -i matrix.helvetia-bank.example" in edge["content"]
            assert parsed["customer_alpenverein"]["hosts"] == ["relay1.zrh1.mail.example.net"]
        assert parsed["all"]["children"]  # groups hang under all


def test_tfvars_match_variables_tf_and_their_types(compiled: Path):
    for env in ("dev", "staging", "prod"):
        contract, problems = load_contract(compiled, env)
        assert contract is not None and problems == []
        declared = {name: variable.type for name, variable in contract.variables.items()}
        values = json.loads(
            (compiled / "rendered" / env / "terraform" / "catalog.auto.tfvars.json").read_text()
        )
        assert set(values) == set(declared)
        assert [
            m for name in values for m in mismatches(values[name], declared[name], (name,))
        ] == []
    prod = json.loads((compiled / "rendered/prod/terraform/catalog.auto.tfvars.json").read_text())
    assert (
        prod["dns_records"]["acme-synapse-matrix"]["value"] == "ingress.prod-fra1.chat.example.net"
    )
    assert prod["databases"]["helvetia-bank-mas-db"]["residency"] == "ch"
    assert prod["databases"]["helvetia-bank-mas-db"]["high_availability"] is True


def test_the_type_checker_catches_a_mismatch(compiled: Path):
    contract, _ = load_contract(compiled, "prod")
    assert contract is not None
    assert list(mismatches({"x": {"plan": 1}}, contract.variables["customers"].type, ("c",)))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds_rendered_folders(compiled: Path):
    folders = [
        compiled / "rendered/prod/kubernetes/prod-fra1/acme/synapse",
        compiled / "rendered/prod/kubernetes/prod-zrh1/helvetia-bank",
    ]
    for folder in folders:
        built = subprocess.run(
            ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=True
        ).stdout
        kinds = {doc["kind"] for doc in yaml.safe_load_all(built)}
        assert kinds
    assert "Deployment" in kinds or "Namespace" in kinds


def test_pods_carry_the_secure_defaults(compiled: Path):
    for _, obj in _objects(compiled):
        if obj["kind"] in ("Deployment", "StatefulSet"):
            pod = obj["spec"]["template"]["spec"]
            assert pod["automountServiceAccountToken"] is False
            assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
            for container in pod["containers"]:
                context = container["securityContext"]
                assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
                assert context["allowPrivilegeEscalation"] is False
                assert context["capabilities"]["drop"] == ["ALL"]
                assert container["resources"]["limits"] and container["resources"]["requests"]
                assert "livenessProbe" in container and "readinessProbe" in container


def test_suspended_customer_runs_no_pods(compiled: Path):
    objects = rendered_objects(compiled / "rendered")
    folder = "prod/kubernetes/prod-fra1/initech/synapse"
    assert objects[f"{folder}/deployment-synapse.yaml"]["spec"]["replicas"] == 0
    assert f"{folder}/poddisruptionbudget-synapse.yaml" not in objects
    assert "prod/kubernetes/prod-fra1/acme/synapse/poddisruptionbudget-synapse.yaml" in objects


def test_index_lists_every_file_with_its_hash_and_objects(compiled: Path):

    held = set()
    for env in ("dev", "staging", "prod"):
        base = compiled / "rendered" / env
        index = json.loads((base / "index.json").read_text())
        on_disk = {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()} - {
            "index.json"
        }
        assert set(index["files"]) == on_disk
        for relative, entry in index["files"].items():
            assert hashlib.sha256((base / relative).read_bytes()).hexdigest() == entry["sha256"]
            held |= {
                (env, relative.rpartition("/")[0], o["kind"], o["namespace"], o["name"])
                for o in entry["objects"]
            }
    # the index names every object the folder holds, in whichever file holds it
    objects = {
        (rel.split("/")[0], rel.split("/", 1)[1].rpartition("/")[0], obj["kind"],
         obj["metadata"].get("namespace"), obj["metadata"]["name"])
        for rel, obj in rendered_objects(compiled / "rendered").items()
        if obj["kind"] != "Kustomization"
    }  # fmt: skip
    assert held == objects and len(objects) > 300
    index = json.loads((compiled / "rendered/prod/index.json").read_text())
    layout = index["layout"]
    name = "manifests.yaml" if layout == "documents" else "deployment-synapse.yaml"
    entry = index["files"][f"kubernetes/prod-fra1/acme/synapse/{name}"]
    assert entry["instances"] == ["prod/acme/synapse"]
    assert "catalog/customers/acme.yaml" in entry["sources"]
    assert {"kind": "Deployment", "namespace": "acme", "name": "synapse"} in entry["objects"]
    assert (len(entry["objects"]) > 5) == (layout == "documents")


def test_the_committed_rendered_folder_is_up_to_date():
    result = run_cli("compile", "--check", "--root", str(REPO))
    assert result.exit_code == 0, result.stdout


@pytest.mark.parametrize("layout", LAYOUTS)
def test_check_lists_drift_and_writes_nothing(example: Path, layout: str):
    set_layout(example, layout)
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    before = read_tree(example / "rendered", ["dev", "staging", "prod"])
    service = example / "catalog/services/element-web.yaml"
    service.write_text(service.read_text().replace("cpu: 200m", "cpu: 300m"))
    result = run_cli("compile", "--check", "--root", str(example))
    assert result.exit_code == 1
    folder = "rendered/prod/kubernetes/prod-fra1/acme/element-web"
    if layout == "objects":
        assert f"changed  {folder}/deployment-element-web.yaml\n" in result.stdout
    else:  # the file, then the object in it that drifted, and only that one
        assert f"changed  {folder}/manifests.yaml\n" in result.stdout
        assert f"changed  {folder}/manifests.yaml: Deployment acme/element-web\n" in result.stdout
        assert f"{folder}/manifests.yaml: Service" not in result.stdout
    assert read_tree(example / "rendered", ["dev", "staging", "prod"]) == before


def test_drift_names_an_object_added_or_removed_inside_a_multi_document_file(example: Path):
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    manifests = example / "rendered/prod/kubernetes/prod-fra1/acme/synapse/manifests.yaml"
    text = manifests.read_text()
    start = text.index("# Sources of PodDisruptionBudget acme/synapse")
    end = text.index("---\n", start) + 4
    removed = text[:start] + text[end:]
    manifests.write_text(removed)  # as if someone deleted the document by hand
    result = run_cli("compile", "--check", "--root", str(example))
    assert result.exit_code == 1
    shown = "rendered/prod/kubernetes/prod-fra1/acme/synapse/manifests.yaml"
    assert f"missing  {shown}: PodDisruptionBudget acme/synapse\n" in result.stdout
    assert result.stdout.count(f"{shown}: ") == 1, result.stdout
    extra = text[start:end].replace("acme/synapse:", "acme/extra:", 1)
    manifests.write_text(text + "---\n" + extra.removesuffix("---\n"))  # one added by hand
    result = run_cli("compile", "--check", "--root", str(example))
    assert result.exit_code == 1 and f"changed  {shown}\n" in result.stdout
    assert f"stale    {shown}: PodDisruptionBudget acme/extra\n" in result.stdout
    assert result.stdout.count(f"{shown}: ") == 1, result.stdout


def test_byte_identical_across_processes_and_hash_seeds(example: Path, tmp_path: Path):
    trees = []
    for seed in ("1", "4242"):
        out = tmp_path / f"out-{seed}"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "compiler.cli",
                "compile",
                "--root",
                str(example),
                "--out",
                str(out),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=REPO,
        )
        trees.append(
            {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        )
    assert trees[0] == trees[1] and len(trees[0]) > 150  # 193 files since apps share a file
    # the multi-document apps files too: the same documents in the same order
    apps = [path for path in trees[0] if "/apps/" in path]
    assert apps and all(trees[0][path].count(b"\n---\n") >= 1 for path in apps)


def test_removing_a_customer_removes_its_files(example: Path):
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    assert list((example / "rendered").rglob("*initech*"))
    (example / "catalog/customers/initech.yaml").unlink()
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    assert not list((example / "rendered").rglob("*initech*"))
    index = (example / "rendered/prod/index.json").read_text()
    assert "initech" not in index


def test_compiling_one_environment_keeps_the_others(example: Path):
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    dev_before = read_tree(example / "rendered", ["dev"])
    assert run_cli("compile", "--env", "prod", "--root", str(example)).exit_code == 0
    assert read_tree(example / "rendered", ["dev"]) == dev_before


def test_a_folder_gitopsc_did_not_create_is_refused(example: Path):
    (example / "rendered").mkdir()
    (example / "rendered" / "precious.txt").write_text("keep me")
    result = run_cli("compile", "--root", str(example))
    assert result.exit_code == 2 and "not created by gitopsc" in result.stderr
    assert (example / "rendered" / "precious.txt").read_text() == "keep me"


def test_a_name_that_would_escape_never_reaches_the_writer(example: Path):
    customer = example / "catalog/customers/acme.yaml"
    customer.write_text(customer.read_text().replace("name: acme", "name: ../x"))
    result = run_cli("compile", "--root", str(example))
    assert result.exit_code == 2 and "catalog/customers/acme.yaml:2:" in result.stderr
    assert not (example / "rendered").exists() and not (example.parent / "x").exists()


@pytest.mark.parametrize(
    "path",
    ["../escape.yaml", "dev/../../escape.yaml", "/tmp/escape.yaml", "dev//x.yaml", "dev/./x"],
)
def test_the_writer_refuses_paths_outside_the_folder(tmp_path: Path, path: str):
    from compiler.output.writer import write_tree

    with pytest.raises(ValueError, match="outside"):
        write_tree(
            tmp_path / "out", [{"dev/ok.yaml": b"x", path: b"x"}], ["dev"], remove_others=True
        )
    assert not (tmp_path / "escape.yaml").exists() and not (tmp_path / "out").exists()


def test_a_recompile_reuses_unchanged_files_and_rewrites_changed_ones(tmp_path: Path):
    """Unchanged files are hard-linked from the current tree (same inode afterwards); a
    file edited by hand, a changed file and a symlink planted in the tree are replaced."""
    from compiler.output.writer import write_tree

    out = tmp_path / "out"
    tree = {
        "dev/a/same.yaml": b"same\n",
        "dev/a/changed.yaml": b"v1\n",
        "dev/b/edited.yaml": b"e\n",
    }
    write_tree(out, [tree], ["dev"], remove_others=True)
    inode = {path: (out / path).stat().st_ino for path in tree}
    (out / "dev/b/edited.yaml").write_bytes(b"edited by hand\n")
    secret = tmp_path / "secret"
    secret.write_bytes(b"s\n")
    (out / "dev/a/planted.yaml").symlink_to(secret)
    new = {**tree, "dev/a/changed.yaml": b"v2\n", "dev/a/planted.yaml": b"s\n"}
    write_tree(out, [new], ["dev"], remove_others=True)
    assert read_tree(out, ["dev"]) == new
    assert (out / "dev/a/same.yaml").stat().st_ino == inode["dev/a/same.yaml"]
    assert (out / "dev/a/changed.yaml").stat().st_ino != inode["dev/a/changed.yaml"]
    assert not (out / "dev/a/planted.yaml").is_symlink() and secret.read_bytes() == b"s\n"


def _many_customers(root: Path, count: int) -> None:
    template = (root / "catalog/customers/acme.yaml").read_text()
    for i in range(count):
        text = template.replace("name: acme", f"name: bulk{i}").replace(
            "acme.example", f"bulk{i}.example"
        )
        (root / f"catalog/customers/bulk{i}.yaml").write_text(text)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_compile_killed_mid_write_leaves_a_whole_tree(example: Path, layout: str):
    """SIGKILL at several moments of an incremental recompile (an in-place update: staging, the
    journal, applying it): once the next reader has looked (`compile --check` finishes a
    committed update or removes an uncommitted one) the tree on disk is exactly the old
    or the new one, in either layout (a multi-document file is written whole or not at
    all). tests/test_writer.py kills at each step of the apply window deterministically."""
    set_layout(example, layout)
    _many_customers(example, 60)
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    # the recompiles killed below are incremental: they keep files by the content marks
    # of this compile's record (pipeline/fresh.py)
    assert fresh._read_record(example / "rendered")["emitted"]
    old = read_tree(example / "rendered", ["dev", "staging", "prod"])
    service = example / "catalog/services/synapse.yaml"
    service.write_text(service.read_text().replace("cpu: 250m", "cpu: 260m"))
    new_tree = pipeline.render_bytes(pipeline.run(example))
    new = {path: content for path, content in new_tree.items()}
    outcomes = set()
    for delay in (0.3, 0.8, 1.2, 1.6, 2.0, 2.5):
        process = subprocess.Popen(
            [sys.executable, "-m", "compiler.cli", "compile", "--root", str(example)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        checked = run_cli("compile", "--check", "--root", str(example))
        assert checked.exception is None and checked.exit_code in (0, 1), checked.stderr
        if "finished an interrupted compile" in checked.stderr:
            assert checked.exit_code == 1  # the gate never passes on a finished update
            checked = run_cli("compile", "--check", "--root", str(example))
        current = read_tree(example / "rendered", ["dev", "staging", "prod"])
        assert checked.exit_code == (0 if current == new else 1)
        assert current in (old, new), f"half-written tree after {delay}s"
        outcomes.add("new" if current == new else "old")
        if current == new:  # restore the old tree for the next attempt
            service.write_text(service.read_text().replace("cpu: 260m", "cpu: 250m"))
            assert run_cli("compile", "--root", str(example)).exit_code == 0
            service.write_text(service.read_text().replace("cpu: 250m", "cpu: 260m"))
    assert "old" in outcomes  # at least one kill landed before the swap
    assert run_cli("compile", "--root", str(example)).exit_code == 0  # recovers from strays
    assert read_tree(example / "rendered", ["dev", "staging", "prod"]) == new
    assert not list(example.glob(".gitopsc-*"))


def test_parallel_rendering_gives_the_same_bytes(example: Path, monkeypatch: pytest.MonkeyPatch):
    resolved = pipeline.run(example)
    serial = pipeline.render_bytes(resolved)
    monkeypatch.setattr(pipeline.load, "_PARALLEL_FROM", 0)  # force the worker processes
    parallel = pipeline.render_bytes(resolved)
    assert list(parallel) == list(serial) and parallel == serial


def test_a_compile_that_resolves_in_workers_writes_the_same_files(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Large catalogs resolve each environment in its own worker (compile_parts); the
    files are those of one resolve of everything, rendered here."""
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert run_cli("compile", "--root", str(example), "--out", str(serial)).exit_code == 0
    monkeypatch.setattr(pipeline.load, "_PARALLEL_FROM", 0)  # force the worker processes
    catalog = pipeline.load_catalog(example)
    assert pipeline.load.compile_workers(catalog, ("dev", "prod", "staging")) > 1
    assert run_cli("compile", "--root", str(example), "--out", str(parallel)).exit_code == 0
    both = ["dev", "staging", "prod"]
    assert read_tree(parallel, both) == read_tree(serial, both)


def test_a_resolve_problem_found_in_workers_is_reported_as_one_resolve_words_it(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A bad reference in a service default fails in every environment: each worker
    finds its own, and the error is the one a single resolve gives (one problem, its
    line, "and N more" instances), with nothing written."""
    synapse = example / "catalog/services/synapse.yaml"
    text = synapse.read_text()
    assert "  config:\n" in text
    synapse.write_text(text.replace("  config:\n", "  config:\n    BROKEN: ${customer.nope}\n", 1))
    serial = run_cli("compile", "--root", str(example), "--out", str(tmp_path / "a"))
    monkeypatch.setattr(pipeline.load, "_PARALLEL_FROM", 0)
    parallel = run_cli("compile", "--root", str(example), "--out", str(tmp_path / "b"))
    assert serial.exit_code == parallel.exit_code == 2
    assert "nope" in serial.stderr and "more" in serial.stderr
    assert parallel.stderr == serial.stderr and parallel.exception is None
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def _dying(env: str):  # type: ignore[no-untyped-def]
    """A compile worker the kernel kills (the out-of-memory killer) in prod."""
    if env == "prod":
        os.kill(os.getpid(), signal.SIGKILL)
    return _COMPILE_ONE(env)


_COMPILE_ONE = pipeline.compile._compile_one


def test_a_worker_that_dies_is_an_error_and_nothing_is_written(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Review of issue 17: a killed worker was a BrokenProcessPool traceback."""
    monkeypatch.setattr(pipeline.load, "_PARALLEL_FROM", 0)
    monkeypatch.setattr(pipeline.compile, "_compile_one", _dying)
    result = run_cli("compile", "--root", str(example), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and result.exception is None, repr(result.exception)
    assert "a worker process died during the compile" in result.stderr
    assert not (tmp_path / "out").exists()


def _collecting() -> bool:
    return gc.isenabled()


def test_workers_run_without_the_cyclic_collector_and_the_parent_keeps_its_own():
    """Render and check workers (`worker_pool`) skip CPython's cyclic collector: what
    they build is trees, and collections cost a fifth of a check's CPU at 1,000
    customers. The process that starts them keeps its own setting."""
    before = gc.isenabled()
    with pipeline.load.worker_pool(2) as pool:
        assert [pool.submit(_collecting).result() for _ in range(4)] == [False] * 4
    assert gc.isenabled() == before


def test_a_check_in_workers_finds_what_one_in_this_process_finds(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Findings of several checks (two patches, in acme's and globex's files) come back
    from the workers, one per environment, as one process finds them."""
    _synapse_patch(example, "acme", f"{{op: remove, path: {CONTAINER}/livenessProbe}}")
    _synapse_patch(
        example, "globex", f"{{op: replace, path: {CONTAINER}/image, value: 'x/y:latest'}}"
    )
    at = ["--root", str(example), "--date", "2026-12-01", "-f", "json", "-o"]
    serial = run_cli("check", *at, str(tmp_path / "serial.json"))
    assert serial.exception is None and serial.exit_code in (0, 1), serial.stderr
    monkeypatch.setattr(pipeline.load, "_PARALLEL_FROM", 0)  # force the worker processes
    parallel = run_cli("check", *at, str(tmp_path / "parallel.json"))
    assert serial.exit_code == parallel.exit_code
    found = json.loads((tmp_path / "serial.json").read_text())["findings"]
    assert {f["customer"] for f in found} == {"acme", "globex"}, found
    assert json.loads((tmp_path / "parallel.json").read_text())["findings"] == found
    # each worker resolved its own environment: this process never resolved them all
    resolved_here: list[object] = []
    check_module = importlib.import_module("compiler.pipeline.checks")
    real = check_module.resolve_catalog
    monkeypatch.setattr(
        check_module,
        "resolve_catalog",
        lambda catalog, *more: resolved_here.append(more) or real(catalog, *more),
    )
    again = run_cli("check", *at, str(tmp_path / "again.json"))
    assert again.exit_code == serial.exit_code
    assert json.loads((tmp_path / "again.json").read_text())["findings"] == found
    assert resolved_here == []  # recorded in the workers only, which this list is not


def test_a_resolve_problem_found_in_check_workers_is_reported_as_one_resolve_words_it(
    example: Path, monkeypatch: pytest.MonkeyPatch
):
    synapse = example / "catalog/services/synapse.yaml"
    text = synapse.read_text()
    synapse.write_text(text.replace("  config:\n", "  config:\n    BROKEN: ${customer.nope}\n", 1))
    serial = run_cli("check", "--root", str(example))
    monkeypatch.setattr(pipeline.load, "_PARALLEL_FROM", 0)
    parallel = run_cli("check", "--root", str(example))
    assert serial.exit_code == parallel.exit_code == 2
    assert "nope" in serial.stderr and "more" in serial.stderr
    assert parallel.stderr == serial.stderr and parallel.exception is None


def test_render_and_check_take_the_connections_resolve_found(
    example: Path, monkeypatch: pytest.MonkeyPatch
):
    """Resolve finds each environment's connections (for their problems); render and
    the network checks take them from it rather than finding them again, and render
    the same bytes as when they find them themselves."""
    import compiler.check.builtins.base as builtins_base
    import compiler.render as render

    resolved = pipeline.run(example)
    assert set(resolved.connections) == {"dev", "staging", "prod"}
    assert all(resolved.connections.values())
    found_again = pipeline.render_bytes(
        pipeline.load.Resolved(resolved.catalog, resolved.environments, resolved.instances)
    )
    calls: list[str] = []

    def counted(catalog, env, instances):  # type: ignore[no-untyped-def]
        calls.append(env.name)
        raise AssertionError("connections found again")

    monkeypatch.setattr(render, "connections", counted)
    monkeypatch.setattr(builtins_base, "connections", counted)
    assert pipeline.render_bytes(resolved) == found_again
    policy_set = pipeline.load_policy_set(example, resolved.catalog)
    pipeline.check_resolved(resolved, policy_set, datetime.date(2026, 12, 1))
    assert calls == []


def _slow(env: str):  # type: ignore[no-untyped-def]
    """A compile worker that takes 4 s for every environment but dev."""
    if env != "dev":
        time.sleep(4)
    return _COMPILE_ONE(env)


def test_parts_closed_early_wait_for_no_worker(example: Path, monkeypatch: pytest.MonkeyPatch):
    """A compile that stops after its first environment (a write that failed) does not
    wait here for the others' workers: `Parts.close` cancels and returns."""
    monkeypatch.setattr(pipeline.load, "_PARALLEL_FROM", 0)
    monkeypatch.setattr(pipeline.compile, "_compile_one", _slow)
    catalog = pipeline.load_catalog(example)
    parts = pipeline.compile_parts(catalog, ("dev", "prod", "staging"))
    first = next(parts)
    assert first and all(path.startswith("dev/") for path in first)
    start = time.monotonic()
    parts.close()
    assert time.monotonic() - start < 2  # the others sleep 4 s


def test_a_large_check_reports_the_catalogs_problems_before_the_policies(
    example: Path, monkeypatch: pytest.MonkeyPatch
):
    """With a catalog problem that resolve finds and a broken policy configuration, a
    check in workers reports what a check in one process reports: the catalog's."""
    synapse = example / "catalog/services/synapse.yaml"
    text = synapse.read_text()
    synapse.write_text(text.replace("  config:\n", "  config:\n    BROKEN: ${customer.nope}\n", 1))
    config = example / "policies/config.yaml"
    config.write_text(config.read_text() + "\nnot_a_setting: 1\n")
    serial = run_cli("check", "--root", str(example))
    monkeypatch.setattr(pipeline.load, "_PARALLEL_FROM", 0)
    parallel = run_cli("check", "--root", str(example))
    assert serial.exit_code == parallel.exit_code == 2
    assert "nope" in serial.stderr and "not_a_setting" not in serial.stderr
    assert parallel.stderr == serial.stderr
    synapse.write_text(text)  # the catalog sound: the policies' problem is reported
    assert "not_a_setting" in run_cli("check", "--root", str(example)).stderr
