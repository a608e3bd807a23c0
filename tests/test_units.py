"""A recompile renders only the customers whose inputs changed (compiler/pipeline/units.py):
the other customers' own files are kept as the last compile left them, and still count
where objects are compared across folders."""

from __future__ import annotations

import json
import marshal
import re
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler import pipeline
from compiler import render as render_module
from compiler.output import KeptEntry, render_tree
from compiler.pipeline import compile as compile_stage
from compiler.pipeline import units
from compiler.render import (
    Identity,
    KeptRendered,
    OutputFile,
    Reserved,
    argo_digests,
    identities,
    kubernetes,
    object_digests,
    render_environment,
)
from tests.conftest import run_cli


@pytest.fixture
def cache(private_cache: Path) -> Path:
    return private_cache


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """The customers whose instances are rendered (None: environment-scoped), counted."""
    seen: Counter = Counter()
    original = kubernetes.workload_objects

    def counting(instance, *args, **kwargs):
        seen[instance.customer] += 1
        seen[(instance.customer, instance.service)] += 1
        return original(instance, *args, **kwargs)

    monkeypatch.setattr(kubernetes, "workload_objects", counting)
    return seen


def _compile(root: Path) -> None:
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0 and result.exception is None, result.stderr


def _fresh(root: Path, tmp_path: Path) -> dict[str, bytes]:
    out = tmp_path / "fresh"
    result = run_cli("compile", "--root", str(root), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    return _tree(out)


def _tree(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != ".gitopsc"
    }


def _rename(root: Path, customer: str, name: str) -> None:
    path = root / f"catalog/customers/{customer}.yaml"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(
        "".join(f"display_name: {name}\n" if x.startswith("display_name:") else x for x in lines)
    )


def test_a_one_customer_change_renders_that_customer_and_keeps_the_others(
    example: Path, cache: Path, tmp_path: Path, rendered: Counter, monkeypatch: pytest.MonkeyPatch
):
    folders: set[str] = set()  # every folder whose kustomization is rendered
    original = render_module._kustomization

    def kustomization(directory, *args, **kwargs):
        folders.add(directory)
        return original(directory, *args, **kwargs)

    monkeypatch.setattr(render_module, "_kustomization", kustomization)
    _compile(example)
    everyone = set(rendered)
    assert {"acme", "globex", None} <= everyone
    namespaces = {f for f in folders if f.count("/") == 3}  # <env>/kubernetes/<cluster>/<ns>
    assert any(f.endswith("/globex") for f in namespaces), namespaces
    rendered.clear()
    folders.clear()
    _rename(example, "acme", "Acme Renamed")
    _compile(example)
    customers = {key for key in rendered if not isinstance(key, tuple)}
    assert customers == {"acme", None}, rendered  # the platform's are always rendered
    # the namespaces' own folders too: acme's and the platform's, no other customer's
    again = {f for f in folders if f.count("/") == 3}
    assert again and {f.rsplit("/", 1)[1] for f in again} <= {"acme", "platform", "monitoring"}
    assert any(f.endswith("/acme") for f in again), again
    assert _tree(example / "rendered") == _fresh(example, tmp_path)


def test_a_service_change_renders_the_folders_made_from_that_service_and_keeps_the_rest(
    example: Path, cache: Path, tmp_path: Path, rendered: Counter
):
    """A service's file reaches its own folders, those of the services on either end of
    its connections, and the Job services (a sync hook runs in another service's
    folder): synapse-media-purge (a CronJob on synapse's admin API) reaches synapse, not
    postgres or element-web, whose folders are kept in every customer."""
    _compile(example)
    assert rendered[("acme", "postgres")] and rendered[("acme", "element-web")]
    rendered.clear()
    purge = example / "catalog/services/synapse-media-purge.yaml"
    purge.write_text(purge.read_text().replace('schedule: "30 3 * * *"', 'schedule: "45 3 * * *"'))
    _compile(example)
    folders = {key for key in rendered if isinstance(key, tuple) and key[0] is not None}
    assert ("acme", "synapse-media-purge") in folders and ("acme", "synapse") in folders
    assert not {s for _, s in folders} & {"postgres", "element-web"}, folders
    assert _tree(example / "rendered") == _fresh(example, tmp_path)


def test_a_change_no_customer_owns_renders_every_customer(
    example: Path, cache: Path, tmp_path: Path, rendered: Counter
):
    _compile(example)
    everyone = set(rendered)
    rendered.clear()
    plans = example / "catalog/plans.yaml"
    plans.write_text(plans.read_text().replace("pods: 20", "pods: 21", 1))
    _compile(example)
    assert set(rendered) == everyone  # every customer, every folder
    assert _tree(example / "rendered") == _fresh(example, tmp_path)


def test_units_of_a_compile_whose_record_was_not_written_are_not_used(
    example: Path, cache: Path, tmp_path: Path, rendered: Counter
):
    """A compile killed between recording its units and its record leaves units of
    another generation: they are ignored, so every customer is rendered."""
    _compile(example)
    out = (example / "rendered").absolute()
    for env in ("dev", "staging", "prod"):
        recorded = units._read(out, env)
        assert recorded is not None and recorded["units"]
        units.record(
            out, env, "another generation", recorded["units"], spans=_index_table(out, env)
        )
    everyone = set(rendered)
    rendered.clear()
    _rename(example, "acme", "Acme Again")
    _compile(example)
    assert set(rendered) == everyone
    assert _tree(example / "rendered") == _fresh(example, tmp_path)


def test_a_kept_file_that_is_rendered_after_all_makes_the_environment_render_whole(
    example: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """If the reasoning that a unit's files are its own failed (a kept file is rendered
    too), the writer refuses to keep it and the environment is rendered whole."""
    _compile(example)
    entry = b'{\n      "sha256": ""\n    }'
    planted = units.Reuse(
        kept={"prod/ansible/inventory.yml": ("mark", KeptEntry(entry, 0, len(entry)), "")}
    )
    monkeypatch.setattr(compile_stage, "reuse", lambda *args: planted)
    _rename(example, "acme", "Acme Planted")
    _compile(example)
    assert _tree(example / "rendered") == _fresh(example, tmp_path)
    with pytest.raises(KeptRendered):
        render_tree(
            {"prod": [OutputFile("prod/ansible/inventory.yml", {}, "yaml", (), ())]},
            {"prod": "documents"},
            {},
            {},
            planted.kept,
        )


def _prod(example: Path):
    catalog = pipeline.load_catalog(example)
    resolved = pipeline.resolve_catalog(catalog, ["prod"])
    instances = [i for i in resolved.instances.values() if i.environment == "prod"]
    return catalog, catalog.environments["prod"], instances


def test_a_kept_units_objects_count_when_objects_are_compared(example: Path):
    """Kept objects are not rendered, but a rendered object that takes one's kind,
    namespace and name on its cluster is not let through: the environment is rendered
    whole, so the problem is found and worded as a compile from nothing words it."""
    catalog, env, instances = _prod(example)
    whole, problems = render_environment(catalog, env, instances)
    assert problems == []
    cluster = next(i.clusters[0] for i in instances if i.customer == "initech" and i.clusters)
    own = [f for f in whole if units.unit_of(f.path, f.instances) == (cluster, "initech")]
    assert own, "initech has files of its own in prod"
    skip = frozenset({(cluster, "initech")})
    own_identities = identities(own)
    reserved = _digests(own_identities)
    part, problems = render_environment(catalog, env, instances, "rendered", skip, reserved)
    assert problems == []
    assert [f.path for f in part] == [f.path for f in whole if f not in own]
    # an acme object (same cluster) under a name a kept initech object has: refused
    acme = next(
        i
        for i in identities(whole)
        if i[1] == cluster and "/acme/" in i[0] and i[0].count("/") == 5
    )
    clash = _digests([(f"prod/kubernetes/{cluster}/initech/synapse/planted.yaml", *acme[1:])])
    with pytest.raises(KeptRendered):  # the compile renders the environment whole instead,
        render_environment(catalog, env, instances, "rendered", skip, clash)
    # which words the problem by which object comes first, as a compile from nothing does
    # a kept object recorded at the path of a rendered one, of another name: refused too
    planted = (acme[0], cluster, "", "ConfigMap", "initech", "planted", ())
    with pytest.raises(KeptRendered, match=re.escape(acme[0])):
        render_environment(
            catalog, env, instances, "rendered", skip, _digests([*own_identities, planted])
        )
    # and a kept ArgoCD file at the path of a rendered one, or holding a rendered object
    argo = next(f for f in whole if f.path.startswith(f"prod/argocd/{cluster}/apps/"))
    planted_argo = [{"kind": "Application", "namespace": "argocd", "name": "planted"}]
    kept_argo = _digests(own_identities, argo_digests(argo.path, cluster, planted_argo))
    with pytest.raises(KeptRendered, match=re.escape(argo.path)):
        render_environment(catalog, env, instances, "rendered", skip, kept_argo)
    metadata = argo.data["metadata"]
    held = [
        {
            "kind": argo.data["kind"],
            "namespace": metadata.get("namespace"),
            "name": metadata["name"],
        }
    ]
    other = argo_digests(f"prod/argocd/{cluster}/apps/other.yaml", cluster, held)
    with pytest.raises(KeptRendered, match=re.escape(metadata["name"])):
        render_environment(
            catalog, env, instances, "rendered", skip, _digests(own_identities, other)
        )


def _digests(kept: list[Identity], argo: bytes = b"") -> Reserved:
    return Reserved(b"".join(map(object_digests, kept)) + argo)


def _index_table(out: Path, env: str) -> dict[str, tuple[int, int]]:
    """Where each file's entry stands in `env`'s index, as the units record has it."""
    return units._spans(units._read(out, env)["index"])


def _service(path: str, node_port: int) -> OutputFile:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": path.split("/")[-2], "namespace": "acme"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": node_port}]},
    }
    return OutputFile(path, service, "yaml", (), ("catalog/customers/acme.yaml",))


def test_a_node_port_a_kept_object_holds_is_refused_as_taken():
    """A node port is one per cluster: a rendered Service that takes a kept one's makes
    the environment render whole (as a name does); two rendered ones are a problem."""
    from compiler.render import _duplicates

    web = _service("prod/kubernetes/c1/acme/web/service.yaml", 30080)
    kept = ("prod/kubernetes/c1/initech/web/service.yaml", "c1", "", "Service", "initech", "web")
    with pytest.raises(KeptRendered, match="acme/web"):
        _duplicates([web], "environments/prod.yaml", {}, _digests([(*kept, (30080,))]))
    assert _duplicates([web], "environments/prod.yaml", {}, _digests([(*kept, (30081,))])) == []
    on_other_cluster = ("prod/kubernetes/c2/initech/web/service.yaml", "c2", *kept[2:])
    other = _digests([(*on_other_cluster, (30080,))])
    assert _duplicates([web], "environments/prod.yaml", {}, other) == []
    api = _service("prod/kubernetes/c1/acme/api/service.yaml", 30080)
    [problem] = _duplicates([web, api], "environments/prod.yaml", {})
    assert "node port 30080 of prod/kubernetes/c1/acme/api/service.yaml" in problem.message


@pytest.mark.parametrize(
    ("path", "instances", "unit"),
    [
        ("prod/kubernetes/c1/acme/synapse/manifests.yaml", ["prod/acme/synapse"], ("c1", "acme")),
        (
            "prod/argocd/c1/apps/acme.yaml",
            ["prod/acme/synapse", "prod/acme/postgres"],
            ("c1", "acme"),
        ),
        ("prod/argocd/c1/customers/acme/kustomization.yaml", ["prod/acme/x"], ("c1", "acme")),
        # the namespace's own objects, shared files and the platform's: never a unit's
        # its namespace's own objects: made from its file, the plans and the environment
        ("prod/kubernetes/c1/acme/manifests.yaml", ["prod/acme/synapse"], ("c1", "acme")),
        ("prod/kubernetes/c1/globex/manifests.yaml", ["prod/acme/synapse"], None),
        ("prod/kubernetes/c1/kustomization.yaml", ["prod/acme/synapse"], None),
        ("prod/terraform/catalog.auto.tfvars.json", ["prod/acme/synapse"], None),
        ("prod/argocd/c1/apps/platform.yaml", ["prod/rspamd"], None),
        ("prod/argocd/c1/apps/platform.yaml", ["prod/acme/a", "prod/globex/a"], None),
        ("prod/kubernetes/c1/globex/synapse/manifests.yaml", ["prod/acme/synapse"], None),
        ("prod/argocd/c1/customers/globex/kustomization.yaml", ["prod/acme/x"], None),
        ("prod/argocd/c1/root.yaml", [], None),
    ],
)
def test_which_files_are_a_customers_own(path: str, instances: list[str], unit):
    assert units.unit_of(path, instances) == unit


def test_a_customer_file_that_is_a_link_is_never_kept(example: Path, cache: Path, tmp_path: Path):
    """The loader reads what a symbolic link points to, whose changes the link's own
    digest does not show: with a link among the inputs nothing is kept (and the folder
    is never "up to date")."""
    real = example / "src/globex.yaml"
    real.parent.mkdir()
    (example / "catalog/customers/globex.yaml").rename(real)
    (example / "catalog/customers/globex.yaml").symlink_to("../../src/globex.yaml")
    _compile(example)
    _rename(example, "acme", "Acme Linked")
    real.write_text(real.read_text().replace("display_name: Globex", "display_name: Globex Linked"))
    _compile(example)
    assert b"Globex Linked" in (example / "rendered/prod/index.json").read_bytes() or any(
        b"Globex Linked" in data for data in _tree(example / "rendered").values()
    )
    assert _tree(example / "rendered") == _fresh(example, tmp_path)
    result = run_cli("compile", "--root", str(example))
    assert "up to date" not in result.stdout


def test_a_file_saved_between_hashing_and_loading_keeps_nothing(
    example: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The keys say what the loaded catalog is made of only if no input changed between
    hashing the inputs and loading them: an editor's save in between is noticed, nothing
    is kept, and the record claims no inputs (the hostile review's reproduction)."""
    acme = example / "catalog/customers/acme.yaml"
    text = acme.read_text()
    _compile(example)
    acme.write_text(text.replace("SYNAPSE_MAX_UPLOAD_SIZE: 100M", "SYNAPSE_MAX_UPLOAD_SIZE: 150M"))
    load = pipeline.load_catalog

    def saved_meanwhile(root: Path):
        acme.write_text(
            text.replace("SYNAPSE_MAX_UPLOAD_SIZE: 100M", "SYNAPSE_MAX_UPLOAD_SIZE: 999M")
        )
        return load(root)

    monkeypatch.setattr(pipeline, "load_catalog", saved_meanwhile)
    _compile(example)
    monkeypatch.setattr(pipeline, "load_catalog", load)
    acme.write_text(text.replace("SYNAPSE_MAX_UPLOAD_SIZE: 100M", "SYNAPSE_MAX_UPLOAD_SIZE: 150M"))
    _rename(example, "globex", "Globex Meanwhile")
    _compile(example)
    assert _tree(example / "rendered") == _fresh(example, tmp_path)


def test_another_library_version_compiles_again(
    example: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
):
    """What the output is made with counts as an input: after a library upgrade (here
    pydantic's version, as the record sees it) the folder is not "up to date"."""
    _compile(example)
    assert "up to date" in run_cli("compile", "--root", str(example)).stdout
    version = pipeline.fresh._version
    monkeypatch.setattr(
        pipeline.fresh, "_version", lambda name: "99.0" if name == "pydantic" else version(name)
    )
    assert "up to date" not in run_cli("compile", "--root", str(example)).stdout


def test_an_index_entry_kept_as_text_gives_the_bytes_of_the_index(example: Path, cache: Path):
    """A kept file's index entry is taken from the old index as text, where the units
    record says it stands, and written as it was (`Verbatim`): each recorded span holds
    exactly its file's entry, and an index rebuilt from its entries' text is the same
    bytes."""
    from compiler.catalog import Verbatim, to_json

    _compile(example)
    out = example / "rendered"
    spans_seen = 0
    for index in sorted(out.glob("*/index.json")):
        env = index.parent.name
        data = index.read_bytes()
        whole = json.loads(data)
        recorded = units._read(out, env)
        assert isinstance(recorded, dict) and recorded["units"]
        spans = units._spans(recorded["index"])
        assert {f"{env}/{relative}" for relative in whole["files"]} == set(spans)
        for path, (start, end) in spans.items():
            relative = path.removeprefix(f"{env}/")
            assert json.loads(data[start:end]) == whole["files"][relative]
            spans_seen += 1
        entries = {
            relative: Verbatim(
                json.dumps(entry, indent=2, sort_keys=True, ensure_ascii=False).replace(
                    "\n", "\n    "
                )
            )
            for relative, entry in whole["files"].items()
        }
        assert to_json({**whole, "files": entries}).encode() == data
    assert spans_seen > 50


@pytest.mark.parametrize("applications", ["per-service", "per-customer"])
def test_a_second_customer_on_a_cluster_of_one_leaves_no_platform_object_behind(
    example: Path, cache: Path, tmp_path: Path, applications: str
):
    """The hostile review's reproduction: on a cluster with one customer and no
    environment-scoped instance, the platform's AppProject (and, with per-customer
    Applications, the namespaces Application) carries only that customer's instances,
    so the documents layout packs it into the customer's apps file. When a second
    customer comes, the first one's unit is unchanged, but that file is not: the platform
    objects rendered again elsewhere clash with the kept ones, and the environment is
    rendered whole."""
    for name in ("coturn", "otel-agent", "rspamd", "sygnal"):
        path = example / f"catalog/services/{name}.yaml"
        text = path.read_text()
        path.write_text(
            text.replace(
                "\nscope: environment\n",
                "\nscope: environment\nenvironments: [dev, staging, prod]\n",
                1,
            )
        )
    staging = example / "environments/staging"
    qa = example / "environments/qa"
    shutil.copytree(staging, qa)
    text = (staging / "environment.yaml").read_text()
    for old, new in (
        ("staging", "qa"),
        ("stg-", "qa-"),
        ("10.20.", "10.21."),
        ("10.120.", "10.121."),
    ):
        text = text.replace(old, new)
    text = text.replace("tier: qa", "tier: staging")
    if applications == "per-customer":
        text = text.replace("argocd:\n", "argocd:\n  applications: per-customer\n", 1)
    (qa / "environment.yaml").write_text(text)
    qa_block = (
        "  qa:\n    cluster: qa-ocp1\n    services:\n      postgres:\n      synapse:\n"
        "        network:\n          egress: {smtp: {host_pool: mail-relays-ch}}\n"
        "      element-web:\n"
    )
    alpenverein = example / "catalog/customers/alpenverein.yaml"
    alpenverein.write_text(
        alpenverein.read_text().replace("environments:\n", "environments:\n" + qa_block, 1)
    )
    _compile(example)
    assert _tree(example / "rendered") == _fresh(example, tmp_path)
    (example / "catalog/customers/newco.yaml").write_text(
        "name: newco\ndisplay_name: Newco\nplan: starter\nresidency: ch\nstatus: active\n"
        "contact: it@newco.example\ndomains: [newco.example]\nenvironments:\n" + qa_block
    )
    _compile(example)
    assert _tree(example / "rendered") == _fresh(example, tmp_path / "second")


@pytest.fixture
def interpolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every instance interpolated, by id, one line each in a file (the render workers
    are forked: a list would stay theirs); workers forced, as for a large catalog."""
    from compiler.catalog import resolver

    log = tmp_path / "interpolated.log"
    original = resolver.interpolate_each

    def logging(values, context, *args, **kwargs):  # type: ignore[no-untyped-def]
        with log.open("a") as opened:
            opened.write(f"{context.get('instance.id')}\n")
        return original(values, context, *args, **kwargs)

    monkeypatch.setattr(resolver, "interpolate_each", logging)
    monkeypatch.setattr(pipeline.load, "_PARALLEL_FROM", 0)
    return log


def _interpolated_ids(log: Path) -> set[str]:
    ids = set(log.read_text().split()) if log.exists() else set()
    log.unlink(missing_ok=True)
    return ids


def _customers_interpolated(log: Path) -> set[str | None]:
    return {i.split("/")[1] if i.count("/") == 2 else None for i in _interpolated_ids(log)}


def test_a_recompile_interpolates_only_the_changed_customers_instances(
    example: Path, cache: Path, tmp_path: Path, interpolated: Path
):
    """The other customers' instances come as the last compile interpolated them
    (units.py `interpolated_kept`): their unit keys say their inputs are unchanged."""
    _compile(example)
    assert {"acme", "globex", None} <= _customers_interpolated(interpolated)
    _rename(example, "acme", "Acme Renamed")
    _compile(example)
    assert _customers_interpolated(interpolated) == {"acme", None}
    assert _tree(example / "rendered") == _fresh(example, tmp_path)
    service = example / "catalog/services/synapse.yaml"
    service.write_text(service.read_text().replace("  replicas: 1\n", "  replicas: 2\n", 1))
    _compile(example)  # that service's instances, of every customer, and no other's
    ids = _interpolated_ids(interpolated)
    customers_services = {tuple(i.split("/")[1:]) for i in ids if i.count("/") == 2}
    assert {s for _, s in customers_services} == {"synapse"}
    assert {c for c, _ in customers_services} >= {"acme", "globex"}
    assert _tree(example / "rendered") == _fresh(example, tmp_path)
    plans = example / "catalog/plans.yaml"
    plans.write_text(plans.read_text().replace("pods: 20", "pods: 21", 1))
    _compile(example)  # a file that is no customer's and no service's: every instance
    assert {"acme", "globex", None} <= _customers_interpolated(interpolated)
    assert _tree(example / "rendered") == _fresh(example, tmp_path)


@pytest.mark.parametrize("damage", ["another key", "bytes flipped", "not marshal data"])
def test_interpolated_instances_that_cannot_be_vouched_for_are_interpolated_again(
    example: Path, cache: Path, tmp_path: Path, interpolated: Path, damage: str
):
    """An entry made under other unit keys, one whose bytes changed (its signature no
    longer holds) or one signed but not of the expected form is not used: every
    customer is interpolated again, to the same bytes. (The change is a service's, so
    that every customer is resolved: after a one-customer change the others are kept
    whole, not resolved at all, render/shares.py.)"""
    from compiler.pipeline import interpolated as kept

    _compile(example)
    everyone = _customers_interpolated(interpolated)
    entries = sorted(cache.glob("results/interpolated/*/*.marshal"))
    assert len(entries) == 3  # one per environment
    for path in entries:
        key = path.stem
        if damage == "bytes flipped":
            data = bytearray(path.read_bytes())
            data[-3] ^= 0xFF
            path.write_bytes(bytes(data))
        elif damage == "another key":
            recorded = kept.marshal.loads(path.read_bytes()[32:])
            changed = {i: ("another key", *entry[1:]) for i, entry in recorded.items()}
            kept.result_cache.write_bytes(
                "interpolated", key, kept.marshal.dumps(changed), "marshal"
            )
        else:
            kept.result_cache.write_bytes("interpolated", key, b"not marshal data", "marshal")
    service = example / "catalog/services/synapse.yaml"
    service.write_text(service.read_text().replace("  replicas: 1\n", "  replicas: 2\n", 1))
    _compile(example)
    assert _customers_interpolated(interpolated) == everyone
    assert _tree(example / "rendered") == _fresh(example, tmp_path)


def test_validate_and_check_keep_interpolated_instances_too(
    example: Path, cache: Path, tmp_path: Path, interpolated: Path
):
    """`validate` (in this process) and `check` (in its workers) take the unchanged
    customers' instances as kept, and find what they found before."""
    assert run_cli("validate", "--root", str(example)).exit_code == 0
    assert {"acme", "globex", None} <= _customers_interpolated(interpolated)
    _rename(example, "acme", "Acme Validated")
    assert run_cli("validate", "--root", str(example)).exit_code == 0
    assert _customers_interpolated(interpolated) == {"acme", None}
    out = tmp_path / "report.json"
    at = ["--root", str(example), "--date", "2026-12-01", "-f", "json", "-o", str(out)]
    assert run_cli("check", *at).exit_code == 0
    assert _customers_interpolated(interpolated) == {None}  # nothing changed since validate
    kept_findings = out.read_bytes()
    _rename(example, "globex", "Globex Checked")
    assert run_cli("check", *at).exit_code == 0
    assert _customers_interpolated(interpolated) == {"globex", None}
    cold = tmp_path / "cold.json"
    with pytest.MonkeyPatch.context() as scoped:
        scoped.setenv("GITOPSC_CACHE_DIR", "")
        assert run_cli("check", *at[:-1], str(cold)).exit_code == 0
    assert json.loads(cold.read_bytes())["findings"] == json.loads(out.read_bytes())["findings"]
    assert json.loads(kept_findings)["findings"] == json.loads(out.read_bytes())["findings"]


def test_instances_made_from_what_interpolation_left_equal_those_resolved(example: Path):
    """Each customer's instance, made again from its interpolated values (the recompile's
    path), is the instance a resolve makes: settings, values and their types, templates,
    per-domain copies, placement, hosts and layers."""
    from compiler.catalog import resolve

    catalog = pipeline.load_catalog(example)
    learned: dict = {}
    fresh, problems = resolve(catalog, None, None, {}, learned)
    assert not problems and len(learned) == sum(1 for i in fresh.values() if i.customer)
    again, problems = resolve(catalog, None, None, marshal.loads(marshal.dumps(learned, 4)))
    assert not problems and list(again) == list(fresh)
    for name, instance in fresh.items():
        other = again[name]
        for field in ("settings", "values", "layers", "clusters", "hosts", "namespace"):
            assert getattr(other, field) == getattr(instance, field), (name, field)
        assert dict(other.templates) == dict(instance.templates)
        assert dict(other.per_domain) == dict(instance.per_domain)
        exact = marshal.dumps  # version 0: each value's exact type, no sharing
        assert exact(other.values, 0) == exact(instance.values, 0), name


def _add_record(path: Path, key: str, name: str) -> None:
    """A TXT record `key` in the customer's own layer of its synapse service."""
    text = path.read_text()
    entry = f"{key}: {{name: {name}, type: TXT, value: hi}}"
    record = f"    infrastructure:\n      dns:\n        {entry}\n"
    assert "services:\n  synapse:\n" in text
    path.write_text(text.replace("services:\n  synapse:\n", "services:\n  synapse:\n" + record, 1))


def _failing(root: Path, *args: str) -> str:
    result = run_cli("compile", "--root", str(root), *args)
    assert result.exit_code == 2 and result.exception is None, (result.exit_code, result.stderr)
    return result.stderr


@pytest.mark.parametrize("workers", [False, True])
def test_a_kept_customer_a_change_collides_with_fails_as_a_whole_compile_does(
    example: Path,
    cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: bool,
):
    """After a one-customer change the other customers are kept whole, not resolved
    (render/shares.py), but what they share still counts: a Terraform key a kept
    customer's record already has (`acme-synapse`'s `x` and acme's `synapse-x` are both
    `acme-synapse-synapse-x`) and a relay setting that no longer agrees with the kept
    customers' on the same hosts fail with the words of a compile that resolves every
    customer, and the output folder is left as it was."""
    if workers:
        monkeypatch.setattr(pipeline.load, "_PARALLEL_FROM", 0)
    kept_whole: list[set[str]] = []  # per render of dev: the customers kept whole
    original_render = compile_stage.render_environment

    def spying(catalog, env, *args, **kwargs):  # type: ignore[no-untyped-def]
        if env.name == "dev":
            kept_whole.append(set(args[6] if len(args) > 6 else kwargs.get("kept_shares", {})))
        return original_render(catalog, env, *args, **kwargs)

    monkeypatch.setattr(compile_stage, "render_environment", spying)
    acme = example / "catalog/customers/acme.yaml"
    twin = example / "catalog/customers/acme-synapse.yaml"  # in dev: its Applications'
    twin.write_text(  # names would be acme's elsewhere (catalog/argo_names.py)
        "name: acme-synapse\ndisplay_name: Acme Synapse\nplan: business\nresidency: eu\n"
        "status: active\ncontact: ops@acme-synapse.example\n"
        "domains: [acme-synapse.example]\nservices:\n  synapse:\n"
        "environments:\n  dev:\n    services:\n      postgres:\n      synapse:\n"
    )
    _add_record(twin, "x", "x.acme-synapse.example")
    _compile(example)
    out = example / "rendered"
    before = _tree(out)
    original = acme.read_text()
    for edit in ("collision", "relay"):
        acme.write_text(original)
        if edit == "collision":
            _add_record(acme, "synapse-x", "x.acme.example")
            expected = "dns_records key 'acme-synapse-synapse-x'"
        else:
            relay = '  postfix-relay:\n    vm: {tls: {acme_directory: "https://acme.invalid/d"}}\n'
            acme.write_text(original.replace("services:\n", "services:\n" + relay, 1))
            expected = "vm.tls.acme_directory of prod/acme/postfix-relay"
        kept_whole.clear()
        found = _failing(example)
        if not workers:  # the others were kept whole (then all resolved, to word it)
            assert {"globex", "acme-synapse"} <= kept_whole[0]
        whole = _failing(example, "--out", str(tmp_path / f"whole-{edit}"))
        assert expected in found
        assert found == whole
        assert _tree(out) == before
    acme.write_text(original)
    _compile(example)
    assert _tree(out) == before == _fresh(example, tmp_path)


def test_a_rendered_object_that_takes_a_kept_namespaces_own_object_fails_as_a_whole_compile(
    example: Path, cache: Path, tmp_path: Path
):
    """A kept customer's namespace objects (its Namespace, quota, limits, default
    policies) count as rendered too: an acme extra resource that names initech's quota
    (initech kept whole, not rendered) is the problem a compile from nothing finds,
    worded the same, and the output folder stays as it was."""
    _compile(example)
    out = example / "rendered"
    before = _tree(out)
    acme = example / "catalog/customers/acme.yaml"
    original = acme.read_text()
    quota = (
        "        extra_resources:\n"
        "          - {apiVersion: v1, kind: ResourceQuota,"
        " metadata: {name: quota, namespace: initech}, spec: {hard: {pods: '1'}}}\n"
    )
    acme.write_text(original.replace("        replicas: 3\n", "        replicas: 3\n" + quota, 1))
    found = _failing(example)
    whole = _failing(example, "--out", str(tmp_path / "whole"))
    assert "ResourceQuota initech/quota" in found
    assert found == whole
    assert _tree(out) == before


def test_kept_digests_name_the_first_rendered_object_that_meets_one():
    """`Reserved.first_taken` names the first of the rendered objects whose digest is a
    kept one's, or whose values are not plain (a float, a bool: equal to a kept int
    without giving its digest), and nothing when none is; a kept object holding such a
    value is not recorded at all."""
    from compiler.render import Unstorable

    kept = ("prod/kubernetes/c1/initech/web/service.yaml", "c1", "", "Service", "initech", "web")
    reserved = _digests([(*kept, (30080,))])
    name = ("k", "c1", "", "Service", "initech", "web")
    assert reserved.first_taken([("a", ("k", "c1", "", "Service", "acme", "web"))]) is None
    assert reserved.first_taken([("a", ("n", "c1", 30081)), ("b", name), ("c", name)]) == "b"
    assert reserved.first_taken([("a", ("n", "c2", 30080)), ("b", ("n", "c1", 30080))]) == "b"
    assert reserved.first_taken([("a", ("p", kept[0]))]) == "a"
    assert reserved.first_taken([("x", name), ("y", ("n", "c1", 30080.0))]) == "x"
    assert reserved.first_taken([("y", ("n", "c1", True))]) == "y"
    assert Reserved().first_taken([("a", name)]) is None
    with pytest.raises(Unstorable):
        object_digests((*kept[:5], 1.5, ()))
    with pytest.raises(ValueError):
        Reserved(b"1234567")


@pytest.fixture
def shared_rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The environments whose files customers share are rendered (their tfvars are made
    only there), in the order rendered."""
    seen: list[str] = []
    original = render_module.terraform.tfvars_of

    def spying(env, *args, **kwargs):
        seen.append(env.name)
        return original(env, *args, **kwargs)

    monkeypatch.setattr(render_module.terraform, "tfvars_of", spying)
    return seen


def test_the_files_customers_share_are_kept_while_every_share_is_as_it_was(
    example: Path, cache: Path, tmp_path: Path, shared_rendered: list[str]
):
    """The files customers share (tfvars, inventory, the platform's folders and project,
    the root Applications...) are made from every customer's share and from inputs no
    customer owns: a change that leaves those as they were keeps them, one that does
    not renders them, and the tree is a fresh compile's every time. Staging's are never
    kept: its probes Application is in acme's apps file (acme's VM relay is the only
    instance it probes), so one of the files made where shared files are made is a
    customer's, and no key is recorded for them."""
    out = (example / "rendered").absolute()
    _compile(example)
    assert sorted(shared_rendered) == ["dev", "prod", "staging"]
    assert units._read(out, "staging")["shared"] is None
    recorded = units._read(out, "prod")["shared"]
    assert "prod/terraform/catalog.auto.tfvars.json" in recorded["paths"]
    assert not any("/acme" in path for path in recorded["paths"]), recorded["paths"]

    def step(edit: Callable[[], None], rendered_again: list[str]) -> None:
        shared_rendered.clear()
        edit()
        _compile(example)
        assert sorted(shared_rendered) == rendered_again
        assert _tree(example / "rendered") == _fresh(example, tmp_path)

    # a name only the customer's own files show
    step(lambda: _rename(example, "acme", "Acme Ünïcode"), ["staging"])
    # a customer's service whose change reaches no share: its units only
    synapse = example / "catalog/services/synapse.yaml"
    step(
        lambda: synapse.write_text(synapse.read_text().replace("cpu: 250m", "cpu: 260m", 1)),
        ["staging"],
    )
    # a customer's domains: its tfvars records and the edges' routes
    acme = example / "catalog/customers/acme.yaml"
    two = "domains: [acme.example, acme-mail.example]"
    step(
        lambda: acme.write_text(acme.read_text().replace("domains: [acme.example]", two)),
        [
            "dev",
            "prod",
            "staging",
        ],
    )
    # a customer's plan: the tfvars read it from the catalog, not from the share
    step(lambda: _sub(acme, r"^plan: .*$", "plan: enterprise"), ["dev", "prod", "staging"])
    # an environment-scoped service: the platform's own folders
    sygnal = example / "catalog/services/sygnal.yaml"
    step(
        lambda: sygnal.write_text(
            sygnal.read_text().replace("SYGNAL_LOG_LEVEL: INFO", "SYGNAL_LOG_LEVEL: DEBUG")
        ),
        ["dev", "prod", "staging"],
    )
    step(lambda: _rename(example, "globex", "Globex Again"), ["staging"])


def _sub(path: Path, pattern: str, new: str) -> None:
    text, count = re.subn(pattern, new, path.read_text(), count=1, flags=re.MULTILINE)
    assert count == 1, (path, pattern)
    path.write_text(text)


def test_a_rendered_object_that_takes_a_kept_shared_objects_place_renders_the_environment_whole(
    example: Path,
):
    """Kept shared files count where objects are compared, as kept units do: the keep
    hands render the digests of every kept object, and a rendered object among them
    stops the render (`KeptRendered`), so that the caller renders everything and words
    the problem as a compile from nothing does. Not kept, nothing is."""
    catalog, env, instances = _prod(example)
    files, problems = render_environment(catalog, env, instances)
    assert not problems
    project = next(
        f
        for f in files
        if "/apps/" in f.path
        and f.data.get("kind") == "AppProject"
        and units.unit_of(f.path, f.instances) is not None
    )
    metadata = project.data["metadata"]
    cluster = project.path.split("/")[2]
    kept = Reserved(argo_digests("elsewhere", cluster, [{**metadata, "kind": "AppProject"}]))
    shared = render_module.SharedFiles(lambda made: kept)
    with pytest.raises(KeptRendered):
        render_environment(catalog, env, instances, shared=shared)
    assert shared.kept
    not_kept = render_module.SharedFiles(lambda made: None)
    again, problems = render_environment(catalog, env, instances, shared=not_kept)
    assert not problems and not not_kept.kept
    assert [f.path for f in again] == [f.path for f in files]
    assert set(not_kept.made) == {
        f.path for f in files if units.unit_of(f.path, f.instances) is None
    }


@pytest.mark.parametrize(
    "planted",
    [
        {"paths": (), "digests": b""},  # no key
        {"key": 7, "paths": (), "digests": b""},
        {"key": "k", "paths": ["prod/ansible/inventory.yml"], "digests": b""},  # a list
        {"key": "k", "paths": ("prod/nowhere.yaml",), "digests": b""},  # not in the index
        {"key": "k", "paths": (), "digests": b"1234567"},  # not whole digests
        "shared",
    ],
)
def test_a_shared_files_record_of_another_form_keeps_them_not_and_the_units_still(
    example: Path,
    cache: Path,
    tmp_path: Path,
    rendered: Counter,
    shared_rendered: list[str],
    planted,
):
    """A units record whose shared part is of another form (another build's, say: the
    record is found by output folder and environment) renders the shared files and
    keeps the units: no traceback, the fresh compile's bytes."""
    _compile(example)
    out = (example / "rendered").absolute()
    recorded = units._read(out, "prod")
    units.record(
        out,
        "prod",
        recorded["generation"],
        recorded["units"],
        recorded["shares"],
        _index_table(out, "prod"),
        planted,
    )
    rendered.clear()
    shared_rendered.clear()
    _rename(example, "acme", "Acme Planted")
    _compile(example)
    assert "prod" in shared_rendered
    assert "globex" not in rendered  # its units kept all the same
    assert _tree(example / "rendered") == _fresh(example, tmp_path)
