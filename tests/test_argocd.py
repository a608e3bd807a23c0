"""ArgoCD reads the output as issue 15 asks: one name per object in each ArgoCD, an order
that holds (project waves, the Application health check in argocd-cm), refreshes only
for the folders an Application is built from, maintenance windows where declared, and
one Application per customer that keeps the service order and the tenant boundary.
Each output goes through a real consumer part: kubectl kustomize, kubernetes-validate,
ArgoCD's JSON schemas, and the Lua of the health check run by a Lua interpreter."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from compiler import pipeline
from compiler.render import render_environment
from tests.conftest import (
    LAYOUTS,
    REPO,
    copy_example,
    reference,
    rendered_objects,
    run_cli,
    set_layout,
)

WAVE = "argocd.argoproj.io/sync-wave"
PATHS = "argocd.argoproj.io/manifest-generate-paths"


def _render(root: Path, env: str) -> dict[str, Any]:
    """One environment rendered in memory: path -> object."""
    resolved = pipeline.run(root, [env])
    instances = [i for i in resolved.instances.values() if i.environment == env]
    files, problems = render_environment(
        resolved.catalog, resolved.catalog.environments[env], instances
    )
    assert not problems, [p.render() for p in problems]
    return {f.path: f.data for f in files}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1))


def _kustomize(folder: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed: the consumer of every rendered folder"
    out = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module", params=LAYOUTS)
def compiled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example compiled in each layout: ArgoCD must read both the same way."""
    root = set_layout(copy_example(tmp_path_factory.mktemp("argocd") / "repo"), request.param)
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    return root


def _argo(root: Path) -> dict[str, dict[str, Any]]:
    """Every object under `rendered/*/argocd/` by its path in the objects layout
    (`prod/argocd/prod-fra1/apps/application-prod-fra1-acme.yaml`), whichever layout
    wrote it: in the documents layout a customer's apps share one file."""
    objects = rendered_objects(root / "rendered")
    return {path: obj for path, obj in objects.items() if path.split("/")[1] == "argocd"}


def _applications(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [
        (root / "rendered" / path, obj)
        for path, obj in _argo(root).items()
        if obj.get("kind") == "Application"
    ]


# ---------------------------------------------------------------- names per topology


def test_prod_clusters_in_one_argocd_have_no_name_in_common(compiled: Path):
    """The fault of issue 15: both prod clusters rendered AppProject/platform,
    Application/platform, ... into one argocd namespace."""
    names: dict[str, list[str]] = {}
    for cluster in ("prod-fra1", "prod-zrh1"):
        for path, obj in _argo(compiled).items():
            if not path.startswith(f"prod/argocd/{cluster}/apps/"):
                continue
            key = f"{obj['kind']}/{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            names.setdefault(key, []).append(cluster)
            assert obj["metadata"]["name"].startswith(f"{cluster}-"), path
    assert len(names) > 20
    assert [k for k, clusters in names.items() if len(clusters) > 1] == []


def test_an_argocd_per_cluster_drops_the_cluster_from_the_names(example: Path):
    _edit(
        example / "environments/prod/environment.yaml",
        "  revision: main",
        "  revision: main\n  instance: cluster",
    )
    rendered = _render(example, "prod")
    apps = {
        data["metadata"]["name"]
        for path, data in rendered.items()
        if path.startswith("prod/argocd/prod-fra1/apps/")
    }
    assert {"acme", "acme-synapse", "platform"} <= apps
    assert "prod/argocd/prod-fra1/argocd-cm.patch.yaml" in rendered  # one per ArgoCD
    assert "prod/argocd/argocd-cm.patch.yaml" not in rendered


def test_a_customer_named_like_the_namespaces_application_is_refused_located(example: Path):
    (example / "catalog/customers/namespaces.yaml").write_text(
        "name: namespaces\nplan: starter\nresidency: eu\ndomains: [namespaces.example]\n"
        "environments:\n  dev:\n    services:\n      postgres:\n"
    )
    result = run_cli("compile", "--root", str(example))
    assert result.exit_code == 2, result.stdout
    assert "catalog/customers/namespaces.yaml:1" in result.stderr
    assert "the ArgoCD Application of a cluster's namespaces" in result.stderr


def test_label_tracking_refuses_a_name_longer_than_a_label_value(example: Path):
    long = "a" + "b" * 52  # 53 characters: with prod-fra1- and -postgres, 72
    (example / f"catalog/customers/{long}.yaml").write_text(
        f"name: {long}\nplan: starter\nresidency: eu\ndomains: [{long}.example]\n"
        "environments:\n  prod:\n    services:\n      postgres:\n"
    )
    env = example / "environments/prod/environment.yaml"
    assert run_cli("compile", "--root", str(example)).exit_code == 0  # annotation tracking
    for name in ("dev", "staging", "prod"):  # one shared ArgoCD: one tracking method
        _edit(
            example / f"environments/{name}/environment.yaml",
            "  revision: main",
            "  revision: main\n  tracking: label",
        )
    line = env.read_text().splitlines().index("  tracking: label") + 1
    result = run_cli("compile", "--root", str(example))
    assert result.exit_code == 2
    assert f"environments/prod/environment.yaml:{line}" in result.stderr
    assert f"prod-fra1-{long}-postgres has 72 characters" in result.stderr
    (example / f"catalog/customers/{long}.yaml").unlink()
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    patch = yaml.safe_load((example / "rendered/prod/argocd/argocd-cm.patch.yaml").read_text())
    assert patch["data"]["application.resourceTrackingMethod"] == "label"
    # not the label key gitopsc's objects carry a value of their own in
    assert patch["data"]["application.instanceLabelKey"] == "argocd.argoproj.io/instance"


# ---------------------------------------------------------------- the order, argocd-cm


def test_projects_come_before_namespace_applications_before_the_rest(compiled: Path):
    for env in ("dev", "prod"):
        waves: dict[str, list[int]] = {"project": [], "namespaces": [], "rest": []}
        for path, obj in _argo(compiled).items():
            if not path.startswith(f"{env}/") or "/apps/" not in path:
                continue
            wave = int(obj["metadata"]["annotations"][WAVE])
            path_of = obj.get("spec", {}).get("source", {}).get("path", "")
            if obj["kind"] == "AppProject":
                waves["project"].append(wave)
            elif path_of.count("/") <= 4 and "/kubernetes/" in path_of:  # namespace folders
                waves["namespaces"].append(wave)
            else:
                waves["rest"].append(wave)
        assert waves["project"] and waves["namespaces"] and waves["rest"], env
        assert max(waves["project"]) < min(waves["namespaces"]) < min(waves["rest"]), env


def test_argocd_cm_patch_is_rendered_for_the_installation_not_for_the_root_app(
    compiled: Path, tmp_path: Path
):
    patch_path = compiled / "rendered/prod/argocd/argocd-cm.patch.yaml"
    patch = yaml.safe_load(patch_path.read_text())
    assert patch["kind"] == "ConfigMap" and patch["metadata"]["name"] == "argocd-cm"
    assert patch["data"]["application.resourceTrackingMethod"] == "annotation"
    kubernetes_validate.validate(patch, "1.31.0", strict=True)
    for root in (compiled / "rendered").glob("*/argocd/*/root.yaml"):
        apps = yaml.safe_load(root.read_text())["spec"]["source"]["path"]
        assert not patch_path.is_relative_to(compiled / apps)  # the root app never syncs it
    # applied as kustomize applies a patch to an installation's argocd-cm
    (tmp_path / "argocd-cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm, namespace: argocd}\n"
        "data: {url: https://argocd.example.net}\n"
    )
    shutil.copy(patch_path, tmp_path / "argocd-cm.patch.yaml")
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [argocd-cm.yaml]\npatches:\n  - path: argocd-cm.patch.yaml\n"
    )
    [merged] = _kustomize(tmp_path)
    assert merged["data"]["url"] == "https://argocd.example.net"  # the installation's stays
    assert "resource.customizations.health.argoproj.io_Application" in merged["data"]
    for doc in ("output.md", "ci.md"):
        assert "argocd-cm.patch.yaml" in (REPO / "docs" / doc).read_text(), doc


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"health": {"status": "Healthy"}}, "Healthy"),
        ({"health": {"status": "Degraded", "message": "crash loop"}}, "Degraded"),
        ({"health": {"status": "Progressing"}}, "Progressing"),
        # a child that cannot progress must not hold the root app's operation (and with
        # it every later wave and root sync of the cluster): gitops-engine waits on
        # anything but Healthy and Degraded, so these pass as Healthy
        ({"health": {"status": "Missing"}}, "Healthy"),  # behind a closed sync window
        ({"health": {"status": "Suspended"}}, "Healthy"),  # a suspended customer's CronJob
        ({"health": {"status": "Unknown"}}, "Healthy"),
        # Missing while its first sync runs: it progresses, the next wave waits
        ({"health": {"status": "Missing"}, "operationState": {"phase": "Running"}}, "Progressing"),
        ({"health": {"message": "no status"}}, "Progressing"),
        ({}, "Progressing"),  # just created: no status yet
        (None, "Progressing"),
    ],
)
def test_the_application_health_check_waits_for_healthy(status: Any, expected: str):
    """The Lua that argocd-cm gets, run by a Lua interpreter on an Application as ArgoCD
    passes it (`obj`): the next wave waits while the child is Progressing."""
    import lupa  # a dev dependency (pyproject.toml): missing, this fails, never skips

    from compiler.render.argocd import APPLICATION_HEALTH

    lua = lupa.LuaRuntime()
    obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application"}
    if status is not None:
        obj["status"] = status
    to_lua = lua.eval("function(text) return load(text) end")
    table = lua.table_from(json.loads(json.dumps(obj)), recursive=True)
    lua.globals().obj = table
    result = to_lua(APPLICATION_HEALTH)()
    assert result["status"] == expected
    if status and status.get("health", {}).get("message"):
        assert result["message"] == status["health"]["message"]


# ---------------------------------------------------------------- manifest-generate-paths


def _folders_built_from(folder: Path) -> set[Path]:
    """Every folder a kustomization takes in, itself included, followed through."""
    seen = {folder.resolve()}
    kustomization = folder / "kustomization.yaml"
    if kustomization.exists():
        for resource in yaml.safe_load(kustomization.read_text()).get("resources", []):
            target = (folder / resource).resolve()
            if target.is_dir():
                seen |= _folders_built_from(target)
    return seen


def test_every_application_lists_every_folder_it_is_built_from(compiled: Path):
    checked = 0
    for path, app in _applications(compiled):
        source = compiled / app["spec"]["source"]["path"]
        listed = [(source / p).resolve() for p in app["metadata"]["annotations"][PATHS].split(";")]
        assert all(p.is_dir() for p in listed), path
        for folder in _folders_built_from(source):
            assert any(folder.is_relative_to(p) for p in listed), f"{path}: {folder}"
        checked += 1
    assert checked > 50
    hooked = _argo(compiled)["prod/argocd/prod-fra1/apps/application-prod-fra1-acme-synapse.yaml"]
    assert hooked["metadata"]["annotations"][PATHS] == ".;../synapse-migrate"


def test_generate_paths_hold_in_hydrated_mode(example: Path):
    """The branch's root is the environment's folder: the Applications' paths lose their
    prefix, and the relative paths they list must still name existing folders."""
    env = example / "environments/dev/environment.yaml"
    _edit(env, "  revision: main", "  revision: main\n  branch: rendered/dev")
    _edit(env, "  project: gitops", "  project: gitops-dev")  # AWX reads its own branch
    rendered = _render(example, "dev")
    folders = {p.rsplit("/", 1)[0].removeprefix("dev/") for p in rendered}
    apps = [d for d in rendered.values() if d.get("kind") == "Application"]
    assert apps
    for app in apps:
        base = Path("/branch") / app["spec"]["source"]["path"]
        assert app["spec"]["source"]["targetRevision"] == "rendered/dev"
        for relative in app["metadata"]["annotations"][PATHS].split(";"):
            folder = (base / relative).resolve().relative_to("/branch").as_posix()
            assert folder in folders or any(f.startswith(folder + "/") for f in folders), (
                app["metadata"]["name"],
                relative,
            )


# ---------------------------------------------------------------- sync windows


def test_windows_land_in_the_projects_they_are_declared_for(compiled: Path):
    strict = jsonschema.Draft202012Validator(
        json.loads(reference("argocd/jsonschema/appproject_v1alpha1.json").read_text())
    )
    projects = {}
    for path, obj in _argo(compiled).items():
        if obj["kind"] != "AppProject":
            continue
        assert [e.message for e in strict.iter_errors(obj)] == [], path
        projects[obj["metadata"]["name"]] = obj["spec"].get("syncWindows", [])
    freeze = {"kind": "deny", "schedule": "0 0 20 12 *", "duration": "336h"}
    bank = {"kind": "allow", "schedule": "0 6 * * sun", "timeZone": "Europe/Zurich"}

    def has(windows: list[dict[str, Any]], want: dict[str, Any]) -> bool:
        return any(all(w.get(k) == v for k, v in want.items()) for w in windows)

    prod = [name for name in projects if name.startswith("prod-")]
    assert len(prod) >= 5
    assert all(has(projects[name], freeze) for name in prod)  # every project of prod
    assert has(projects["prod-zrh1-helvetia-bank"], bank)
    assert [n for n, w in projects.items() if has(w, bank)] == ["prod-zrh1-helvetia-bank"]
    assert not any(projects[n] for n in projects if not n.startswith("prod-"))
    window = next(w for w in projects["prod-zrh1-helvetia-bank"] if w["kind"] == "allow")
    assert window["applications"] == ["*"] and window["manualSync"] is True


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("schedule", '"0 25 * * *"', "hour 25 is outside 0-23"),
        ("schedule", '"@daily"', "a descriptor is not a window's start"),
        ("duration", "1d", "'1d' is not a duration"),
        ("duration", "0h", "never opens"),
        ("timezone", "Europe/Zurch", "'Europe/Zurch' is not an IANA time zone"),
        # ArgoCD takes a schedule that never fires for a window that is always open
        ("schedule", '"0 0 31 2 *"', "it never fires"),
        ("schedule", '"0 0 31 4,6,9,11 *"', "it never fires"),
        ("schedule", '"0 0 31 2 */1"', "it never fires"),  # `*/1` is `*` to robfig/cron
        # Go's durations overflow past about 2562047h
        ("duration", "2562048h", "longer than a year"),
        ("duration", "8785h", "longer than a year"),
        # no place: the host's own clock, and the database's placeholders
        ("timezone", "localtime", "is not an IANA time zone"),
        ("timezone", "Factory", "is not an IANA time zone"),
        ("timezone", "posix/Europe/Zurich", "is not an IANA time zone"),
    ],
)
def test_a_bad_window_is_a_located_error(example: Path, field: str, value: str, message: str):
    env = example / "environments/prod/environment.yaml"
    original = {"schedule": '"0 0 20 12 *"', "duration": "336h", "timezone": "Europe/Berlin"}
    _edit(env, f"      {field}: {original[field]}", f"      {field}: {value}")
    line = next(
        n for n, text in enumerate(env.read_text().splitlines(), 1) if f"{field}: {value}" in text
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2
    assert f"environments/prod/environment.yaml:{line}" in result.stderr
    assert message in result.stderr


# ---------------------------------------------------------------- per-customer granularity


def test_per_customer_application_keeps_the_service_order(compiled: Path):
    app = _argo(compiled)["dev/argocd/dev-fra1/apps/application-dev-fra1-acme.yaml"]
    objects = _kustomize(compiled / app["spec"]["source"]["path"])
    waves: dict[str, list[int]] = {}
    for obj in objects:
        annotations = obj["metadata"]["annotations"]
        assert annotations.get("argocd.argoproj.io/hook") != "PreSync"  # would precede all
        service = obj["metadata"]["labels"]["app.kubernetes.io/name"]
        waves.setdefault(service, []).append(int(annotations[WAVE]))
    assert max(waves["postgres"]) < min(waves["synapse-migrate"])
    assert max(waves["synapse-migrate"]) < min(waves["synapse"])
    assert max(waves["synapse"]) < min(waves["element-web"])
    assert len(objects) > 40


def test_per_customer_application_stays_in_its_tenant(compiled: Path):
    argo = _argo(compiled)
    app = argo["dev/argocd/dev-fra1/apps/application-dev-fra1-acme.yaml"]
    project = argo["dev/argocd/dev-fra1/apps/appproject-dev-fra1-acme.yaml"]
    assert app["spec"]["project"] == "dev-fra1-acme"
    assert [d["namespace"] for d in project["spec"]["destinations"]] == ["acme"]
    assert project["spec"]["clusterResourceWhitelist"] == []
    allowed = {(k["group"], k["kind"]) for k in project["spec"]["namespaceResourceWhitelist"]}
    for obj in _kustomize(compiled / app["spec"]["source"]["path"]):
        group = obj["apiVersion"].rsplit("/", 1)[0] if "/" in obj["apiVersion"] else ""
        assert obj["metadata"]["namespace"] == "acme", obj["metadata"]["name"]
        assert (group, obj["kind"]) in allowed, obj["kind"]
    for schema in ("application_v1alpha1.json",):
        strict = jsonschema.Draft202012Validator(
            json.loads(reference(f"argocd/jsonschema/{schema}").read_text())
        )
        assert [e.message for e in strict.iter_errors(app)] == []
    # the namespaces stay with the platform: one Application for the cluster's
    namespaces = argo["dev/argocd/dev-fra1/apps/application-dev-fra1-namespaces.yaml"]
    assert namespaces["spec"]["project"] == "dev-fra1-platform"
    kinds = {o["kind"] for o in _kustomize(compiled / namespaces["spec"]["source"]["path"])}
    assert "Namespace" in kinds and "Deployment" not in kinds


def test_per_customer_has_an_application_per_customer_not_per_instance(compiled: Path):
    dev = [a for p, a in _applications(compiled) if "/dev/" in p.as_posix()]
    staging = [a for p, a in _applications(compiled) if "/staging/" in p.as_posix()]
    names = {a["metadata"]["name"] for a in dev}
    assert names == {
        "root-dev-fra1",
        "dev-fra1-namespaces",
        "dev-fra1-platform",
        "dev-fra1-acme",
        "dev-fra1-globex",
        "dev-fra1-monitoring-dashboards",  # the services' dashboards (monitoring)
        "dev-fra1-monitoring-probes",  # the VM services' probes (none in dev: empty)
    }
    assert len(staging) > 3 * len(dev)  # staging stays one per instance


def test_a_customers_own_windows_reach_its_projects_in_every_environment_only(example: Path):
    _edit(
        example / "catalog/customers/acme.yaml",
        "domains: [",
        'sync_windows:\n  - {kind: deny, schedule: "0 22 * * fri", duration: 60h}\ndomains: [',
    )
    for env in ("dev", "staging", "prod"):
        projects = {
            data["metadata"]["name"]: data["spec"].get("syncWindows", [])
            for data in _render(example, env).values()
            if data.get("kind") == "AppProject"
        }
        weekend = [
            name
            for name, windows in projects.items()
            if any(w["schedule"] == "0 22 * * fri" for w in windows)
        ]
        assert weekend and all(name.endswith("-acme") for name in weekend), (env, weekend)
        assert all(
            w["timeZone"] == "UTC"  # the default
            for name in weekend
            for w in projects[name]
            if w["schedule"] == "0 22 * * fri"
        )


def _add_postgres_customer(example: Path, env: str, cluster: str, residency: str = "eu") -> None:
    """A customer named `postgres` with the postgres service on `cluster`: its namespace
    Application is `<cluster>-postgres`, which with a cluster `prod-fra1-acme` is the
    name of acme's postgres Application on prod-fra1 (`prod-fra1-acme-postgres`)."""
    (example / "catalog/customers/postgres.yaml").write_text(
        f"name: postgres\nplan: starter\nresidency: {residency}\ndomains: [postgres.example]\n"
        f"environments:\n  {env}:\n    cluster: {cluster}\n    services:\n      postgres:\n"
    )


def _rename_swiss_cluster(example: Path, name: str) -> None:
    _edit(
        example / "environments/prod/environment.yaml", "  - name: prod-zrh1", f"  - name: {name}"
    )
    _edit(  # its own Keycloak URL (identity.cluster_urls) follows it
        example / "environments/prod/environment.yaml",
        "    prod-zrh1: https://",
        f"    {name}: https://",
    )
    bank = example / "catalog/customers/helvetia-bank.yaml"
    bank.write_text(bank.read_text().replace("prod-zrh1", name))


def test_validate_refuses_a_clash_between_environments_of_one_argocd(example: Path):
    """CI checks one environment per job, so `argocd-name-unique` there never sees two
    environments at once; validation sees the whole catalog (issue 16, item 4) and
    refuses the clash before anything renders (staging's cluster `prod-fra1-acme` with a
    customer `postgres` against prod's acme postgres, one shared ArgoCD), at the name
    of the customer whose name makes it."""
    _edit(
        example / "environments/staging/environment.yaml",
        "  - name: stg-fra1",
        "  - name: prod-fra1-acme",
    )
    _add_postgres_customer(example, "staging", "prod-fra1-acme")
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert (
        "catalog/customers/postgres.yaml:1:1: error: the namespace Application of customer "
        "postgres on cluster prod-fra1-acme (staging) would be Application "
        "'prod-fra1-acme-postgres' in the shared ArgoCD (namespace argocd), which is already "
        "the Application of customer acme's postgres on cluster prod-fra1 (prod)\n"
        "  hint: one ArgoCD holds one Application per name: rename customer 'postgres', or "
        "give environment 'staging' an ArgoCD per cluster"
    ) in result.stderr, result.stderr
    assert "1 problem(s) found." in result.stderr
    only_prod = run_cli("validate", "--root", str(example), "--env", "prod")
    assert only_prod.exit_code == 2 and "prod-fra1-acme-postgres" in only_prod.stderr
    compiled = run_cli("compile", "--root", str(example))
    assert compiled.exit_code == 2 and "prod-fra1-acme-postgres" in compiled.stderr
    assert not (example / "rendered").exists() or not any((example / "rendered").iterdir())


def test_validate_refuses_a_clash_between_two_clusters_of_one_environment(example: Path):
    """prod's two clusters share one ArgoCD: with its Swiss cluster called
    `prod-fra1-acme`, a Swiss customer `postgres` would have the name of acme's
    postgres Application on prod-fra1."""
    _rename_swiss_cluster(example, "prod-fra1-acme")
    _add_postgres_customer(example, "prod", "prod-fra1-acme", "ch")
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert (
        "catalog/customers/postgres.yaml:1:1: error: the namespace Application of customer "
        "postgres on cluster prod-fra1-acme (prod) would be Application "
        "'prod-fra1-acme-postgres' in the shared ArgoCD (namespace argocd)"
    ) in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("env", "instance"), [("prod", "cluster"), ("staging", "environment"), ("staging", "cluster")]
)
def test_an_argocd_of_its_own_separates_the_same_names(example: Path, env: str, instance: str):
    """The same clusters and customers as the refused cases pass when the names land in
    different ArgoCDs: one per cluster (names without the cluster's), or staging's own."""
    if env == "prod":
        _rename_swiss_cluster(example, "prod-fra1-acme")
        _add_postgres_customer(example, "prod", "prod-fra1-acme", "ch")
    else:
        _edit(
            example / "environments/staging/environment.yaml",
            "  - name: stg-fra1",
            "  - name: prod-fra1-acme",
        )
        _add_postgres_customer(example, "staging", "prod-fra1-acme")
    _edit(
        example / f"environments/{env}/environment.yaml",
        "  revision: main",
        f"  revision: main\n  instance: {instance}",
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 0, result.stderr


def test_a_clash_of_the_platforms_names_is_located_at_the_argocd_settings(example: Path):
    """No customer's name in it: dev's cluster `root` (one Application per customer)
    has the platform namespace's Application `root-platform`, the root app of staging's
    cluster `platform` in the shared ArgoCD. The environment later in name order is
    reported, at its `argocd:` settings, where one ArgoCD per cluster would part them."""
    dev = example / "environments/dev/environment.yaml"
    dev.write_text(dev.read_text().replace("dev-fra1", "root"))
    staging = example / "environments/staging/environment.yaml"
    staging.write_text(staging.read_text().replace("stg-fra1", "platform"))
    for customer in example.glob("catalog/customers/*.yaml"):
        text = customer.read_text().replace("dev-fra1", "root")
        customer.write_text(text.replace("stg-fra1", "platform"))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    located = [line for line in result.stderr.splitlines() if "error:" in line]
    assert located == [
        "environments/staging/environment.yaml:23:1: error: the root app on cluster platform "
        "(staging) would be Application 'root-platform' in the shared ArgoCD (namespace "
        "argocd), which is already the Application of the platform on cluster root (dev)"
    ], result.stderr
    assert "rename cluster 'platform'" in result.stderr


def test_a_duplicate_cluster_name_is_one_error_not_one_per_object(example: Path):
    """Two environments with a cluster `prod-fra1` in one shared ArgoCD would give every
    Application and AppProject of it a twin: the duplicate cluster name is the one
    error, not a clash per object."""
    staging = example / "environments/staging/environment.yaml"
    staging.write_text(staging.read_text().replace("stg-fra1", "prod-fra1"))
    for customer in example.glob("catalog/customers/*.yaml"):
        customer.write_text(customer.read_text().replace("stg-fra1", "prod-fra1"))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert errors == [line for line in errors if "duplicate cluster name 'prod-fra1'" in line], (
        result.stderr
    )
    assert errors


def test_validation_names_what_render_writes(example: Path):
    """One naming rule (`compiler.catalog.argo_name`): the Applications and AppProjects
    validation derives from the catalog are what compile renders, in every topology;
    the only extra names are those of hook Jobs (synapse-migrate runs in synapse's
    Application), which validation counts as if they had their own."""
    from compiler.catalog import catalog_names
    from compiler.check.builtins import argo_objects

    for instance in ("shared", "environment", "cluster"):
        for env in ("prod", "staging"):
            text = (example / f"environments/{env}/environment.yaml").read_text()
            text = text.replace("  instance: shared\n", "").replace("  instance: environment\n", "")
            text = text.replace("  instance: cluster\n", "")
            assert "  revision: main\n" in text
            text = text.replace("  revision: main\n", f"  revision: main\n  instance: {instance}\n")
            (example / f"environments/{env}/environment.yaml").write_text(text)
        resolved = pipeline.run(example)
        rendered = set()
        for env in sorted(resolved.catalog.environments):
            instances = [i for i in resolved.instances.values() if i.environment == env]
            files, problems = render_environment(
                resolved.catalog, resolved.catalog.environments[env], instances
            )
            assert not problems
            rendered |= {
                (o.argocd, o.kind, o.name) for o in argo_objects(resolved.catalog, env, files)
            }
        derived = {(n.argocd, n.kind, n.name) for n in catalog_names(resolved.catalog)}
        assert rendered <= derived, sorted(rendered - derived)
        extra = derived - rendered
        assert extra and all(name.endswith("-synapse-migrate") for _, _, name in extra), extra
        assert len(rendered) > 60


def test_a_shared_argocd_has_one_tracking_method(example: Path):
    """Environments of one shared ArgoCD get one argocd-cm: two tracking methods would
    be two patches that contradict each other, one of them wrong for every Application."""
    env = example / "environments/dev/environment.yaml"
    _edit(env, "  revision: main", "  revision: main\n  tracking: label")
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "shares this ArgoCD (namespace argocd) with tracking" in result.stderr
    _edit(env, "argocd:\n", "argocd:\n  instance: environment\n")  # its own ArgoCD: fine
    assert run_cli("validate", "--root", str(example)).exit_code == 0


def test_a_root_app_is_held_to_the_label_limit_and_to_unique_names(example: Path):
    """The root app `root-<cluster>` is an Application too: under label tracking its
    name is a label value, and in a shared ArgoCD a customer Application named like it
    (a dev cluster `root` with a customer `prod-fra1`) would overwrite prod's root."""
    env = example / "environments/dev/environment.yaml"
    cluster = "dev-" + "c" * 56
    text = env.read_text().replace("dev-fra1", cluster)
    env.write_text(text.replace("argocd:\n", "argocd:\n  instance: cluster\n  tracking: label\n"))
    for customer in example.glob("catalog/customers/*.yaml"):
        customer.write_text(customer.read_text().replace("dev-fra1", cluster))
    result = run_cli("compile", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert f"Application root-{cluster} has 65 characters" in result.stderr


def test_validate_refuses_an_application_named_like_another_clusters_root(example: Path):
    """dev (one Application per customer) with a cluster `root` and a customer
    `prod-fra1` there: its Application `root-prod-fra1` would be prod's root app in the
    shared ArgoCD. Reported at the customer, whose name a user changes."""
    env = example / "environments/dev/environment.yaml"
    _edit(
        env,
        "clusters:\n",
        "clusters:\n  - name: root\n    region: fra1\n    residency: [eu]\n"
        '    kubernetes_version: "1.31"\n    api_server: https://root.k8s.example.net:6443\n'
        "    internal_networks: [10.111.0.0/16]\n",
    )
    (example / "catalog/customers/prod-fra1.yaml").write_text(
        "name: prod-fra1\nplan: starter\nresidency: eu\ndomains: [prodfra1.example]\n"
        "environments:\n  dev:\n    cluster: root\n    services:\n      postgres:\n"
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert (
        "catalog/customers/prod-fra1.yaml:1:1: error: the Application of customer prod-fra1 "
        "on cluster root (dev) would be Application 'root-prod-fra1' in the shared ArgoCD "
        "(namespace argocd), which is already the root app on cluster prod-fra1 (prod)"
    ) in result.stderr, result.stderr


def test_a_customers_window_cannot_forbid_a_manual_sync(example: Path):
    """ArgoCD allows a manual sync only where every active window allows it: a
    customer's window without `manual_sync` would keep the on-call from fixing its
    services by hand (and cancel the environment's own `manual_sync`)."""
    customer = example / "catalog/customers/helvetia-bank.yaml"
    _edit(customer, "manual_sync: true", "manual_sync: false")
    line = next(
        n for n, text in enumerate(customer.read_text().splitlines(), 1) if "manual_sync" in text
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2
    assert f"catalog/customers/helvetia-bank.yaml:{line}" in result.stderr
    _edit(customer, "        manual_sync: false", "")  # left out: true, rendered so
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    project = _argo(example)["prod/argocd/prod-zrh1/apps/appproject-prod-zrh1-helvetia-bank.yaml"]
    assert all(window["manualSync"] is True for window in project["spec"]["syncWindows"])


def test_one_hydrated_branch_per_repository_however_its_url_is_written(example: Path):
    """`.../gitops.git` and `.../gitops` are one GitLab repository: two environments
    published to one branch of it would overwrite each other's root; and no
    environment reads the catalog from another's hydrated branch."""
    prod = example / "environments/prod/environment.yaml"
    staging = example / "environments/staging/environment.yaml"
    _edit(prod, "  revision: main", "  revision: main\n  branch: rendered/x")
    _edit(prod, "  project: gitops", "  project: gitops-prod")
    _edit(staging, "  revision: main", "  revision: main\n  branch: rendered/x")
    _edit(staging, "  project: gitops", "  project: gitops-staging")
    _edit(staging, "platform/gitops.git", "platform/gitops/")
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2
    assert "environment 'prod' is already published to branch 'rendered/x'" in result.stderr
    _edit(staging, "  branch: rendered/x", "")
    _edit(staging, "  revision: main", "  revision: rendered/x")
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2
    assert "revision 'rendered/x' is environment 'prod's hydrated branch" in result.stderr
