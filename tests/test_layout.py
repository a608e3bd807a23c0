"""The output layout (issue 17): one multi-document `manifests.yaml` per Kubernetes folder
by default, one object per file with `output: {layout: objects}`. Both give ArgoCD,
kustomize, Terraform and AWX the same objects from the same folders; no catalog value
can add, end or hide a document; the order of documents is ArgoCD's apply order."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.output import (
    Document,
    apply_order,
    documents_of,
    holds_documents,
    identity,
    pack,
    serialize,
    units,
    without_header,
)
from compiler.render import OutputFile
from tests.conftest import LAYOUTS, copy_example, rendered_objects, run_cli, set_layout

HOSTILE = (
    Path(__file__).resolve().parent / "fixtures/hostile/document-separator-in-a-customer-value"
)
HOSTILE_APPS = HOSTILE.with_name("document-separator-in-a-display-name")


def _lay_over(case: Path, root: Path) -> None:
    for path in case.rglob("*"):
        if path.is_file() and path.name != "case.yaml":
            target = root / path.relative_to(case)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example compiled in each layout: layout -> its `rendered/` folder."""
    found = {}
    for layout in LAYOUTS:
        root = set_layout(copy_example(tmp_path_factory.mktemp(layout) / "repo"), layout)
        result = run_cli("compile", "--root", str(root))
        assert result.exit_code == 0, result.stderr
        found[layout] = root / "rendered"
    return found


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_both_layouts_hold_the_same_objects_in_the_same_folders(trees: dict[str, Path]):
    documents, objects = (rendered_objects(trees[layout]) for layout in LAYOUTS)
    # every object (the kustomizations aside) the same, at the same folder, to the value
    kept = {k: v for k, v in documents.items() if v["kind"] != "Kustomization"}
    assert kept == {k: v for k, v in objects.items() if v["kind"] != "Kustomization"}
    assert len(kept) > 500
    # same folders; a kustomization lists manifests.yaml instead of its object files
    for path, obj in documents.items():
        if obj["kind"] != "Kustomization" or "/kubernetes/" not in path:
            continue
        other = objects[path]["resources"]
        own = [r for r in other if r.endswith(".yaml")]
        if own:
            assert obj["resources"] == ["manifests.yaml", *(r for r in other if r not in own)]
        else:  # the cluster's kustomization of the per-customer namespaces Application
            assert obj["resources"] == other
    # everything that is not a Kubernetes folder or an apps folder is byte-identical:
    # root apps, tfvars, inventory and AWX definitions do not move (the Applications
    # and AppProjects were compared above, object by object, by their objects-layout path)
    both = [_files(trees[layout]) for layout in LAYOUTS]
    for path, content in both[0].items():
        if "/kubernetes/" not in path and "/apps/" not in path and "index.json" not in path:
            assert both[1][path] == content, path
    assert len(both[0]) * 3 < len(both[1])  # what the layout is for: far fewer files
    assert sum(v["kind"] == "Application" for v in kept.values()) > 50


def test_each_customer_has_one_apps_file_with_its_project_and_applications(
    trees: dict[str, Path],
):
    """The documents layout's apps folder: `<customer>.yaml` holds the customer's
    AppProject and every Application made from its instances (its namespace's and its
    services'), `platform.yaml` the platform project and the platform's Applications;
    the same objects, one per file, in the objects layout. ArgoCD applies the documents
    in the order they are written: the project (wave -2) before the namespace (-1)."""
    apps = trees["documents"] / "prod/argocd/prod-fra1/apps"
    assert sorted(p.name for p in apps.iterdir()) == ["acme.yaml", "initech.yaml", "platform.yaml"]
    acme = list(yaml.safe_load_all((apps / "acme.yaml").read_text()))
    assert [(d["kind"], d["metadata"]["name"]) for d in acme[:2]] == [
        ("AppProject", "prod-fra1-acme"),
        ("Application", "prod-fra1-acme"),
    ]
    assert {d["spec"]["destination"]["namespace"] for d in acme[1:]} == {"acme"}
    assert [apply_order(d) for d in acme] == sorted(apply_order(d) for d in acme)
    objects = trees["objects"] / "prod/argocd/prod-fra1/apps"
    one_each = {
        p.name: yaml.safe_load(p.read_text()) for p in objects.iterdir() if "-acme" in p.name
    }
    assert sorted(f"{d['kind'].lower()}-{d['metadata']['name']}.yaml" for d in acme) == sorted(
        one_each
    )
    platform = list(yaml.safe_load_all((apps / "platform.yaml").read_text()))
    assert {d["spec"]["project"] for d in platform if d["kind"] == "Application"} == {
        "prod-fra1-platform"
    }
    # the index lists every object of the file, and a file has the one owner of a shard
    index = json.loads((trees["documents"] / "prod/index.json").read_text())
    entry = index["files"]["argocd/prod-fra1/apps/acme.yaml"]
    assert [o["name"] for o in entry["objects"]] == [d["metadata"]["name"] for d in acme]
    assert {i.split("/")[1] for i in entry["instances"]} == {"acme"}
    # what a comparison reads document by document (the drift gate, once it asks)
    assert holds_documents("prod/argocd/prod-fra1/apps/acme.yaml")
    assert holds_documents("prod/kubernetes/prod-fra1/acme/synapse/manifests.yaml")
    assert not holds_documents("prod/argocd/prod-fra1/root.yaml")
    assert not holds_documents("prod/argocd/prod-fra1/customers/acme/kustomization.yaml")


def test_every_instance_folder_has_one_manifests_file(trees: dict[str, Path]):
    out = trees["documents"]
    for kustomization in out.glob("*/kubernetes/*/*/**/kustomization.yaml"):
        names = sorted(p.name for p in kustomization.parent.iterdir() if p.is_file())
        if kustomization.parent.name == "probes" and names == ["kustomization.yaml"]:
            continue  # a cluster nothing is probed from: its Application's folder, empty
        assert names == ["kustomization.yaml", "manifests.yaml"], kustomization.parent


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_same_objects_for_every_application_in_both_layouts(
    trees: dict[str, Path],
):
    """What ArgoCD does with each Application of prod-fra1 (and dev's per-customer
    ones): `kubectl kustomize` on its source path; the objects are the same whatever the
    layout, hooks taken in from their sibling folders included."""
    built: dict[str, dict[str, list[str]]] = {}
    for layout, out in trees.items():
        root = out.parent
        applications = {
            path: obj
            for path, obj in rendered_objects(out).items()
            if "-fra1/apps/" in path and obj["kind"] == "Application"
        }
        for name, app in applications.items():
            done = subprocess.run(
                ["kubectl", "kustomize", str(root / app["spec"]["source"]["path"])],
                capture_output=True,
                text=True,
                check=True,
            )
            objects = [json.dumps(d, sort_keys=True) for d in yaml.safe_load_all(done.stdout) if d]
            built.setdefault(layout, {})[name] = sorted(objects)
    assert built["documents"] == built["objects"]
    assert len(built["documents"]) > 30
    assert sum(len(v) for v in built["documents"].values()) > 300


def test_documents_are_in_argocds_apply_order(trees: dict[str, Path]):
    for path in trees["documents"].rglob("manifests.yaml"):
        documents = list(yaml.safe_load_all(path.read_text()))
        keys = [apply_order(d) for d in documents]
        assert keys == sorted(keys), path
    synapse = trees["documents"] / "prod/kubernetes/prod-fra1/acme/synapse/manifests.yaml"
    kinds = [d["kind"] for d in yaml.safe_load_all(synapse.read_text())]
    first = {kind: kinds.index(kind) for kind in kinds}
    # policies and the pod's identity and configuration before the pods, the Ingress last
    assert first["NetworkPolicy"] < first["ServiceAccount"] < first["ConfigMap"]
    assert first["ConfigMap"] < first["Service"] < first["Deployment"] < first["Ingress"]


def test_apply_order_puts_hooks_and_waves_before_kinds():
    def obj(kind: str, name: str, **annotations: str) -> dict[str, Any]:
        return {"kind": kind, "metadata": {"name": name, "annotations": annotations}}

    shuffled = [
        obj("Deployment", "b"),
        obj("Namespace", "z", **{"argocd.argoproj.io/sync-wave": "1"}),
        obj("Job", "migrate", **{"argocd.argoproj.io/hook": "PreSync"}),
        obj("Deployment", "a"),
        obj("ServiceMonitor", "m"),  # a kind ArgoCD does not order: after the known ones
        obj("ConfigMap", "c"),
        obj("ConfigMap", "x", **{"argocd.argoproj.io/sync-wave": "-1"}),
    ]
    ordered = sorted(shuffled, key=apply_order)
    assert [o["metadata"]["name"] for o in ordered] == ["migrate", "x", "c", "a", "b", "m", "z"]


def _object_file(folder: str, kind: str, name: str, sources: tuple[str, ...]) -> OutputFile:
    data = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "acme"}}
    return OutputFile(f"{folder}/{kind.lower()}-{name}.yaml", data, "yaml", ("i",), sources)


def test_pack_is_deterministic_and_keeps_each_objects_sources():
    folder = "prod/kubernetes/c1/acme/web"
    files = [
        _object_file(folder, "ConfigMap", "web", ("catalog/services/web.yaml",)),
        _object_file(folder, "Service", "web", ("catalog/customers/acme.yaml",)),
        _object_file(folder, "ServiceAccount", "web", ("catalog/services/web.yaml",)),
        OutputFile(
            f"{folder}/kustomization.yaml",
            {"kind": "Kustomization", "resources": ["configmap-web.yaml", "../web-migrate"]},
            "yaml",
            ("i",),
            (),
        ),
    ]
    results = set()
    for seed in range(5):
        random.Random(seed).shuffle(files)
        results.add(b"".join(serialize(f) for f in sorted(pack(files, "documents"), key=str)))
    assert len(results) == 1
    [manifests] = [f for f in pack(files, "documents") if f.path.endswith("manifests.yaml")]
    assert [d.data["kind"] for d in manifests.data] == ["ServiceAccount", "ConfigMap", "Service"]
    text = serialize(manifests).decode()
    assert text.startswith("# Generated by gitopsc; do not edit. Sources: catalog/customers")
    assert "# Sources of Service acme/web: catalog/customers/acme.yaml\n" in text
    assert "# Sources of ConfigMap acme/web: catalog/services/web.yaml\n" in text
    [kustomization] = [f for f in pack(files, "documents") if f.path.endswith("kustomization.yaml")]
    assert kustomization.data["resources"] == ["manifests.yaml", "../web-migrate"]
    assert pack(files, "objects") == files
    # a review sees each object by name, with the object's own file (its bytes, owners)
    named = units(files, "documents")
    assert named[f"{folder}/manifests.yaml#service-web"].path == f"{folder}/service-web.yaml"
    assert set(named) == {
        f"{folder}/kustomization.yaml",
        *(f"{folder}/manifests.yaml#{k}-web" for k in ("configmap", "service", "serviceaccount")),
    }


def test_a_changed_source_alone_is_no_change_to_the_consumer():
    """The header and the line above each document are comments: `without_header`
    takes them away, so a diff of a file whose sources alone changed shows nothing."""

    def manifests(sources: tuple[str, ...]) -> bytes:
        data = {"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}}
        docs = (Document(data, sources), Document({**data, "metadata": {"name": "b"}}, sources))
        return serialize(
            OutputFile("e/kubernetes/c/n/s/manifests.yaml", docs, "documents", (), sources)
        )

    one, other = manifests(("a.yaml",)), manifests(("a.yaml", "b.yaml"))
    assert one != other and without_header(one) == without_header(other)
    assert b"# " not in without_header(one)
    assert set(documents_of(one)) == {"ConfigMap n/a", "ConfigMap b"}
    assert identity({"kind": "Namespace", "metadata": {"name": "acme"}}) == "Namespace acme"


def test_a_customer_value_cannot_start_a_document(tmp_path: Path):
    """The hostile case (tests/fixtures/hostile/document-separator-in-a-customer-value)
    compiled, then read back as kustomize and ArgoCD read it: mallory's ConfigMap holds
    every value as written, and the file holds exactly the objects the index lists."""
    root = copy_example(tmp_path / "repo")
    _lay_over(HOSTILE, root)
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    written = yaml.safe_load((HOSTILE / "catalog/customers/mallory.yaml").read_text())
    [extra] = written["environments"]["prod"]["services"]["postgres"]["extra_resources"]
    folder = "prod/kubernetes/prod-fra1/mallory/postgres"
    text = (root / "rendered" / folder / "manifests.yaml").read_text()
    documents = list(yaml.safe_load_all(text))
    [tuning] = [d for d in documents if d["metadata"]["name"] == "tuning"]
    assert tuning["data"] == extra["data"]
    index = json.loads((root / "rendered/prod/index.json").read_text())
    listed = index["files"][folder.removeprefix("prod/") + "/manifests.yaml"]["objects"]
    assert [(d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]) for d in documents] == [
        (o["kind"], o["namespace"], o["name"]) for o in listed
    ]
    assert all(d["metadata"]["namespace"] == "mallory" for d in documents)
    assert sorted(documents_of(text.encode())) == sorted(
        f"{o['kind']} {o['namespace']}/{o['name']}" for o in listed
    )
    # ruamel.yaml (YAML 1.2) reads the same documents
    from ruamel.yaml import YAML

    assert [dict(d["metadata"]) for d in YAML(typ="safe").load_all(text)] == [
        d["metadata"] for d in documents
    ]
    if shutil.which("kubectl"):
        built = subprocess.run(
            ["kubectl", "kustomize", str(root / "rendered" / folder)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        [kept] = [d for d in yaml.safe_load_all(built) if d["metadata"]["name"] == "tuning"]
        assert kept["data"] == extra["data"]


def test_a_display_name_cannot_start_a_document_in_the_apps_file(tmp_path: Path):
    """The hostile case tests/fixtures/hostile/document-separator-in-a-display-name:
    mallory's display name (its AppProject's description) holds a separator and a
    second AppProject allowed everywhere. apps/mallory.yaml, read as ArgoCD's root app
    reads it (every document), holds mallory's own project and Applications and
    nothing else: what the index lists, each in mallory's namespace, the description
    kept as written."""
    root = copy_example(tmp_path / "repo")
    _lay_over(HOSTILE_APPS, root)
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    written = yaml.safe_load((HOSTILE_APPS / "catalog/customers/mallory.yaml").read_text())
    text = (root / "rendered/prod/argocd/prod-fra1/apps/mallory.yaml").read_text()
    documents = list(yaml.safe_load_all(text))
    [project] = [d for d in documents if d["kind"] == "AppProject"]
    assert project["spec"]["description"] == f"{written['display_name']} on prod-fra1"
    assert project["spec"]["destinations"] == [
        {"server": "https://prod-fra1.k8s.example.net:6443", "namespace": "mallory"}
    ]
    assert project["spec"]["clusterResourceWhitelist"] == []
    applications = [d for d in documents if d["kind"] == "Application"]
    assert {a["spec"]["project"] for a in applications} == {
        "prod-fra1-mallory",
        "prod-fra1-platform",
    }
    assert {a["spec"]["destination"]["namespace"] for a in applications} == {"mallory"}
    index = json.loads((root / "rendered/prod/index.json").read_text())
    listed = index["files"]["argocd/prod-fra1/apps/mallory.yaml"]["objects"]
    assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
        (o["kind"], o["name"]) for o in listed
    ]
    assert sorted(documents_of(text.encode())) == sorted(
        f"{o['kind']} {o['namespace']}/{o['name']}" for o in listed
    )
    from ruamel.yaml import YAML

    assert len(list(YAML(typ="safe").load_all(text))) == len(documents) == 3


def test_the_objects_layout_keeps_one_object_per_file_and_diff_names_files(example: Path):
    """`output: {layout: objects}`: the files of before issue 17, and `diff` names each
    object by its own file."""
    from tests.conftest import commit_example

    set_layout(example, "objects")
    repository = commit_example(example)
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    folder = example / "rendered/prod/kubernetes/prod-fra1/acme/synapse"
    assert (folder / "deployment-synapse.yaml").is_file()
    assert not (folder / "manifests.yaml").exists()
    customer = example / "catalog/customers/acme.yaml"
    customer.write_text(customer.read_text().replace("replicas: 3", "replicas: 4"))
    result = run_cli("diff", "--root", str(example), "--base", "main", "-f", "json")
    assert result.exit_code == 0, result.stderr
    paths = {c["path"] for c in json.loads(result.stdout)["changes"]}
    assert "prod/kubernetes/prod-fra1/acme/synapse/deployment-synapse.yaml" in paths
    assert not any("#" in p for p in paths)
    repository.git.checkout("--", ".")
    for env in (example / "environments").glob("*/environment.yaml"):
        text = env.read_text().replace("\noutput:\n  layout: objects\n", "\n")
        env.write_text(text.replace("\n  layout: objects\n", "\n"))  # prod's own block
    repository.git.add(A=True)
    repository.index.commit("default layout")
    customer.write_text(customer.read_text().replace("replicas: 3", "replicas: 4"))
    result = run_cli("diff", "--root", str(example), "--base", "main", "-f", "json")
    paths = {c["path"] for c in json.loads(result.stdout)["changes"]}
    assert "prod/kubernetes/prod-fra1/acme/synapse/manifests.yaml#deployment-synapse" in paths


def test_checkov_reads_both_layouts_to_the_same_results(trees: dict[str, Path]):
    """checkov run by a user on the rendered output (`checkov -d`), not through gitopsc:
    each document of a manifests.yaml is a resource, and every check passes or fails
    on the same resources as in the one-object-per-file layout."""
    checkov = shutil.which("checkov") or str(Path(sys.executable).parent / "checkov")
    results = {}
    for layout, out in trees.items():
        done = subprocess.run(
            [checkov, "-d", str(out / "prod/kubernetes/prod-fra1/acme"), "--framework",
             "kubernetes", "-o", "json", "--skip-download"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode in (0, 1), done.stderr  # 1: some check failed
        reports = json.loads(done.stdout)
        results[layout] = {
            (outcome, check["check_id"], check["resource"])
            for report in (reports if isinstance(reports, list) else [reports])
            for outcome in ("passed_checks", "failed_checks")
            for check in report["results"][outcome]
        }
    assert results["documents"] == results["objects"]
    assert len({r for r in results["documents"] if r[0] == "passed_checks"}) > 100


def test_diff_names_an_application_inside_its_customers_apps_file(example: Path):
    """In the documents layout a review still sees the one AppProject that changed,
    by the name of its document in acme's apps file, with its own bytes."""
    from tests.conftest import commit_example

    commit_example(example)
    customer = example / "catalog/customers/acme.yaml"
    customer.write_text(customer.read_text().replace("Acme Corporation", "Acme Corp"))
    result = run_cli("diff", "--root", str(example), "--base", "main", "-f", "json")
    assert result.exit_code == 0, result.stderr
    changes = json.loads(result.stdout)["changes"]
    apps = "prod/argocd/prod-fra1/apps/acme.yaml"
    assert f"{apps}#appproject-prod-fra1-acme" in {c["path"] for c in changes}
    assert not any(c["path"] == apps for c in changes)  # the object, not the whole file
    assert not any("#application-" in c["path"] for c in changes)  # they did not change


def test_the_drift_gate_names_the_object_that_differs_inside_an_apps_file(example: Path):
    """A hand edit of one AppProject in `apps/acme.yaml`: `compile --check` names that
    object (`apps/acme.yaml: AppProject argocd/...`), not only the file."""
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    apps = example / "rendered/prod/argocd/prod-fra1/apps/acme.yaml"
    text = apps.read_text()
    assert '"Acme Corporation on prod-fra1"' in text
    apps.write_text(text.replace("Acme Corporation on prod-fra1", "Acme on prod-fra1", 1))
    result = run_cli("compile", "--check", "--root", str(example))
    assert result.exit_code == 1
    assert "prod-fra1/apps/acme.yaml: AppProject argocd/prod-fra1-acme\n" in result.stdout


def test_a_findings_names_are_the_names_a_review_shows_in_every_layout(example: Path):
    """`shown_names` (what a check's finding calls an object) gives, without packing,
    the name `units` gives each object of the example: its folder's `manifests.yaml#...`
    or its customer's apps file's, and no entry for a file written as it is."""
    from compiler import pipeline
    from compiler.output import shown_names
    from compiler.render import render_environment

    resolved = pipeline.run(example)
    for env in resolved.environments:
        instances = [i for i in resolved.instances.values() if i.environment == env]
        files, _ = render_environment(
            resolved.catalog, resolved.catalog.environments[env], instances
        )
        for layout in LAYOUTS:
            expected = {f.path: name for name, f in units(files, layout).items() if name != f.path}
            assert shown_names(files, layout) == expected
        names = shown_names(files, "documents")
        assert any("/apps/acme.yaml#application-" in n for n in names.values()), env
        assert any(n.endswith("/manifests.yaml#deployment-synapse") for n in names.values())
        assert not any(path.endswith("kustomization.yaml") for path in names)
