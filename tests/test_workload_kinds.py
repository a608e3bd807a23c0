"""Workload kinds (issue 14, item 3): Jobs, CronJobs and DaemonSets beside Deployments
and StatefulSets. Each renders objects its cluster accepts, with the same secure pods;
a hook Job runs in the Application of the service it names, a plain one is named after
its content; a suspended customer's Jobs and CronJobs are suspended; a DaemonSet is the
platform's alone; the checks and policies see the new kinds' pods."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from compiler import pipeline
from compiler.catalog.models import cron_problem
from compiler.check import EnvironmentInput
from compiler.check.builtins import (
    network_reachability,
    openshift_scc,
    suspended_scaled_to_zero,
    tenant_scope,
)
from compiler.render import hooks
from tests.conftest import run_cli

DATE = "2026-11-23"
FRA1 = "prod/kubernetes/prod-fra1"
MIGRATE = f"{FRA1}/acme/synapse-migrate"
PURGE = f"{FRA1}/acme/synapse-media-purge"
AGENT = f"{FRA1}/platform/otel-agent"


def _resolved(root: Path, env: str) -> pipeline.Resolved:
    return pipeline.run(root, [env])


def _files(root: Path, env: str) -> dict[str, dict]:
    return {f.path: f.data for f in pipeline.render(_resolved(root, env))[env]}


def _run(root: Path, env: str) -> EnvironmentInput:
    resolved = _resolved(root, env)
    files = pipeline.render(resolved)[env]
    return EnvironmentInput(
        resolved.catalog,
        env,
        [i for i in resolved.instances.values() if i.environment == env],
        files,
        datetime.date.fromisoformat(DATE),
    )


def _set(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, (relative, old)
    path.write_text(text.replace(old, new, 1))


def _line_of(root: Path, relative: str, text: str) -> int:
    lines = (root / relative).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def _pod_spec(obj: dict) -> dict:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def _refused(root: Path, relative: str, line: int, message: str) -> None:
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    located = [row for row in result.stderr.splitlines() if row.startswith(f"{relative}:{line}:")]
    assert any(message in row for row in located), result.stderr


def _check(root: Path, env: str) -> dict:
    """`gitopsc check` on one environment, checkov off (tested on its own below)."""
    config = root / "policies/config.yaml"
    config.write_text(
        config.read_text().replace("checkov: {enabled: true", "checkov: {enabled: false")
    )
    out = root / "findings.json"
    result = run_cli(
        "check", "--root", str(root), "-e", env, "--date", DATE, "-f", "json", "-o", str(out)
    )
    assert result.exit_code in (0, 1) and result.exception is None, result.stderr
    return json.loads(out.read_text())


# ---------------------------------------------------------------- rendering


def test_each_kind_renders_objects_its_cluster_accepts(example: Path):
    """The example's CronJob, hook Job and DaemonSet, and a plain Job, each pass
    kubernetes-validate's strict schema at its cluster's version, on both prod clusters
    (1.31 and 1.30) and OpenShift's."""
    source = (example / "catalog/services/synapse-migrate.yaml").read_text()
    (example / "catalog/services/synapse-reindex.yaml").write_text(  # the same, not a hook
        source.replace("name: synapse-migrate", "name: synapse-reindex")
        .replace("    hook: {service: synapse, phase: PreSync, wave: 0}\n", "")
        .replace("    ttl_seconds_after_finished: 604800  # the last run", "    # the last run")
    )
    _set(
        example,
        "catalog/customers/acme.yaml",
        "      synapse-media-purge:\n  prod:",
        "      synapse-media-purge:\n      synapse-reindex:\n  prod:",
    )
    versions = {"prod-fra1": "1.31", "prod-zrh1": "1.30", "stg-fra1": "1.31", "stg-ocp1": "1.31"}
    seen = set()
    for env in ("prod", "staging"):
        for path, obj in _files(example, env).items():
            if obj.get("kind") in ("Job", "CronJob", "DaemonSet"):
                cluster = path.split("/")[2]
                kubernetes_validate.validate(obj, versions[cluster] + ".0", strict=True)
                seen.add((obj["kind"], cluster))
    assert {k for k, _ in seen} == {"Job", "CronJob", "DaemonSet"}
    assert {c for _, c in seen} == set(versions)
    staging = _files(example, "staging")
    jobs = [o for p, o in staging.items() if o.get("kind") == "Job" and "/acme/" in p]
    assert {j["metadata"]["name"].rsplit("-", 1)[0] for j in jobs} >= {"synapse-reindex"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds_every_new_kind_and_the_hook_with_its_service(tmp_path: Path):
    """The folder of each new kind builds on its own; synapse's folder takes in the
    migration's, so its Application holds the hook (and the hook has no Application)."""
    from tests.conftest import copy_example, rendered_objects

    root = copy_example(tmp_path / "repo")
    assert run_cli("compile", "--root", str(root)).exit_code == 0

    def build(folder: str) -> list[dict]:
        done = subprocess.run(
            ["kubectl", "kustomize", str(root / "rendered" / folder)],
            capture_output=True,
            text=True,
            check=True,
        )
        return list(yaml.safe_load_all(done.stdout))

    assert "CronJob" in {o["kind"] for o in build(PURGE)}
    assert "DaemonSet" in {o["kind"] for o in build(AGENT)}
    assert "DaemonSet" in {o["kind"] for o in build(AGENT.replace("prod", "staging", 1)
                                                    .replace("prod-fra1", "stg-ocp1"))}  # fmt: skip
    synapse = {(o["kind"], o["metadata"]["name"]) for o in build(f"{FRA1}/acme/synapse")}
    assert {("Deployment", "synapse"), ("Job", "synapse-migrate")} <= synapse
    assert ("ServiceAccount", "synapse-migrate") in synapse
    apps = {
        path.rpartition("/")[2]
        for path in rendered_objects(root / "rendered")
        if path.startswith("prod/argocd/prod-fra1/apps/")
    }
    assert "application-prod-fra1-acme-synapse.yaml" in apps
    assert "application-prod-fra1-acme-synapse-migrate.yaml" not in apps
    assert "application-prod-fra1-acme-synapse-media-purge.yaml" in apps


def test_what_each_kind_serves_with(example: Path):
    """No Service, PodDisruptionBudget or autoscaler for a Job or CronJob; a DaemonSet's
    Service keeps traffic on the node, and it has no replicas though prod's environment
    defaults give every service two."""
    files = _files(example, "prod")
    kinds = {
        folder: {o["kind"] for p, o in files.items() if p.startswith(folder + "/")}
        for folder in (MIGRATE, PURGE, AGENT)
    }
    for folder in (MIGRATE, PURGE):
        assert not kinds[folder] & {"Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"}
    assert (
        "PodDisruptionBudget" not in kinds[AGENT] and "HorizontalPodAutoscaler" not in kinds[AGENT]
    )
    agent = files[f"{AGENT}/daemonset-otel-agent.yaml"]
    assert "replicas" not in agent["spec"]
    assert files[f"{AGENT}/service-otel-agent.yaml"]["spec"]["internalTrafficPolicy"] == "Local"
    resolved = _resolved(example, "prod")
    assert resolved.instances["prod/otel-agent"].settings.replicas == 2  # left out, not refused


def test_every_kind_has_the_secure_pod_defaults(example: Path):
    for env in ("prod", "staging"):
        for path, obj in _files(example, env).items():
            if obj.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"):
                continue
            pod = _pod_spec(obj)
            assert pod["automountServiceAccountToken"] is False, path
            assert pod["securityContext"]["runAsNonRoot"] is True, path
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, path
            for container in pod["containers"]:
                context = container["securityContext"]
                assert context["readOnlyRootFilesystem"] is True, path
                assert context["allowPrivilegeEscalation"] is False, path
                assert context["privileged"] is False, path
                assert context["capabilities"] == {"drop": ["ALL"]}, path
                assert container["resources"]["requests"] and container["resources"]["limits"]
            if obj["kind"] in ("Job", "CronJob"):
                assert pod["restartPolicy"] == "Never", path
                assert "livenessProbe" not in pod["containers"][0], path
            assert not any("hostPath" in volume for volume in pod["volumes"]), path


# ---------------------------------------------------------------- hooks and names


def test_the_migration_is_a_presync_hook_of_synapses_application(example: Path):
    """The Job is a PreSync hook, replaced at each sync (BeforeHookCreation); what it
    needs is a hook of the same phase one wave earlier, deleted once the sync
    succeeded, so it exists before the Job runs, also on the first sync."""
    files = _files(example, "prod")
    job = files[f"{MIGRATE}/job-synapse-migrate.yaml"]
    assert job["metadata"]["name"] == "synapse-migrate"  # a hook keeps its name
    assert job["metadata"]["annotations"] == {
        hooks.HOOK: "PreSync",
        hooks.DELETE_POLICY: "BeforeHookCreation",
        hooks.SYNC_WAVE: "0",
    }
    companions = [o for p, o in files.items() if p.startswith(MIGRATE + "/") and o is not job]
    kinds = {o["kind"] for o in companions}
    assert kinds >= {"ServiceAccount", "ExternalSecret", "NetworkPolicy"}
    for obj in companions:
        if obj["kind"] == "Kustomization":
            continue
        assert obj["metadata"]["annotations"] == {
            hooks.HOOK: "PreSync",
            hooks.DELETE_POLICY: "BeforeHookCreation,HookSucceeded",
            hooks.SYNC_WAVE: "-1",
        }, obj["kind"]
    synapse = files[f"{FRA1}/acme/synapse/kustomization.yaml"]["resources"]
    assert synapse[-1] == "../synapse-migrate"
    image = yaml.safe_load((example / "catalog/services/synapse.yaml").read_text())
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == image["defaults"]["image"]
    # the other side of its connection is an ordinary object of postgres's Application
    postgres = files[f"{FRA1}/acme/postgres/networkpolicy-postgres-from-synapse-migrate.yaml"]
    assert "annotations" not in postgres["metadata"]


def test_a_hooks_phase_and_wave_come_from_the_catalog(example: Path):
    _set(
        example,
        "environments/prod/environment.yaml",
        "services:\n",
        "services:\n  synapse-migrate:\n    job: {hook: {phase: Sync, wave: -2}}\n",
    )
    files = _files(example, "prod")
    job = files[f"{MIGRATE}/job-synapse-migrate.yaml"]["metadata"]["annotations"]
    account = files[f"{MIGRATE}/serviceaccount-synapse-migrate.yaml"]["metadata"]["annotations"]
    assert (job[hooks.HOOK], job[hooks.SYNC_WAVE]) == ("Sync", "-2")
    assert (account[hooks.HOOK], account[hooks.SYNC_WAVE]) == ("Sync", "-3")


def test_a_plain_job_is_named_after_its_content(example: Path):
    """Without a hook, the Job is an object of its own Application, named after a digest
    of its spec: a change runs it again under a new name; suspending it does not."""
    service = "catalog/services/synapse-migrate.yaml"
    _set(example, service, "    hook: {service: synapse, phase: PreSync, wave: 0}\n", "")
    _set(example, service, "    ttl_seconds_after_finished: 604800", "    # no TTL")

    def job(env: str = "prod", customer: str = "acme") -> dict:
        folder = f"{env}/kubernetes/prod-fra1/{customer}/synapse-migrate/"
        found = [o for p, o in _files(example, env).items() if p.startswith(folder)]
        (one,) = [o for o in found if o["kind"] == "Job"]
        return one

    first = job()
    name = first["metadata"]["name"]
    assert re.fullmatch(r"synapse-migrate-[0-9a-f]{10}", name)
    assert name == hooks.job_name("synapse-migrate", first)
    assert "annotations" not in first["metadata"]
    apps = _files(example, "prod")
    assert "prod/argocd/prod-fra1/apps/application-prod-fra1-acme-synapse-migrate.yaml" in apps
    assert "../synapse-migrate" not in apps[f"{FRA1}/acme/synapse/kustomization.yaml"]["resources"]
    suspended = job(customer="initech")
    assert suspended["spec"]["suspend"] is True
    _set(example, "catalog/customers/initech.yaml", "status: suspended", "status: active")
    resumed = job(customer="initech")
    assert "suspend" not in resumed["spec"]
    assert resumed["metadata"]["name"] == suspended["metadata"]["name"]  # paused in place
    _set(example, service, "--run-background-updates]", "--run-background-updates, -v]")
    assert job()["metadata"]["name"] != name


def test_a_plain_jobs_name_leaves_out_suspend():
    job = {"kind": "Job", "spec": {"template": {"spec": {"containers": []}}}}
    paused = {"kind": "Job", "spec": {**job["spec"], "suspend": True}}
    changed = {"kind": "Job", "spec": {"backoffLimit": 1, **job["spec"]}}
    assert hooks.job_name("x", job) == hooks.job_name("x", paused)
    assert hooks.job_name("x", job) != hooks.job_name("x", changed)


# ---------------------------------------------------------------- suspended customers


def test_a_suspended_customers_cronjob_and_hook_run_nothing(example: Path):
    """initech is suspended: its CronJob is suspended (no runs), its migration Job too,
    and every object of the hook is skipped by ArgoCD (a suspended hook would hold
    the sync forever); acme's run."""
    files = _files(example, "prod")
    purge = files[f"{FRA1}/initech/synapse-media-purge/cronjob-synapse-media-purge.yaml"]
    assert purge["spec"]["suspend"] is True
    assert "suspend" not in files[f"{PURGE}/cronjob-synapse-media-purge.yaml"]["spec"]
    migrate = [o for p, o in files.items() if p.startswith(f"{FRA1}/initech/synapse-migrate/")]
    job = next(o for o in migrate if o["kind"] == "Job")
    assert job["spec"]["suspend"] is True
    for obj in migrate:
        if obj["kind"] != "Kustomization":
            assert obj["metadata"]["annotations"] == {hooks.HOOK: "Skip"}, obj["kind"]
    assert list(suspended_scaled_to_zero.check(_run(example, "prod"))) == []


def test_a_patch_that_resumes_a_suspended_customers_cronjob_is_found(example: Path):
    _set(
        example,
        "catalog/customers/initech.yaml",
        "      synapse-media-purge:\n",
        "      synapse-media-purge:\n"
        "        patches:\n"
        "          - target: {kind: CronJob}\n"
        "            json_patch: [{op: replace, path: /spec/suspend, value: false}]\n",
    )
    found = list(suspended_scaled_to_zero.check(_run(example, "prod")))
    assert [f.instance for f in found] == ["prod/initech/synapse-media-purge"]
    assert "CronJob would run pods" in found[0].message


# ---------------------------------------------------------------- what each kind accepts


def test_a_daemonset_is_refused_for_a_customer_scoped_service(example: Path):
    _set(example, "catalog/services/element-web.yaml", "scope: customer\n",
         "scope: customer\nworkload: DaemonSet\n")  # fmt: skip
    line = _line_of(example, "catalog/services/element-web.yaml", "workload: DaemonSet")
    _refused(
        example,
        "catalog/services/element-web.yaml",
        line,
        "service 'element-web' is customer-scoped: a DaemonSet runs a pod on every node",
    )


def test_a_daemonset_is_the_platforms_only(example: Path):
    """The platform's otel-agent passes tenant-scope and its project whitelists
    DaemonSets; a customer's extra DaemonSet is refused, and no customer project lists
    the kind."""
    files = _files(example, "prod")
    platform = files["prod/argocd/prod-fra1/apps/appproject-prod-fra1-platform.yaml"]["spec"]
    acme = files["prod/argocd/prod-fra1/apps/appproject-prod-fra1-acme.yaml"]["spec"]
    daemonset = {"group": "apps", "kind": "DaemonSet"}
    assert daemonset in platform["namespaceResourceWhitelist"]
    assert daemonset not in acme["namespaceResourceWhitelist"]
    assert {"group": "batch", "kind": "CronJob"} in acme["namespaceResourceWhitelist"]
    assert list(tenant_scope.check(_run(example, "prod"))) == []
    _set(
        example,
        "catalog/customers/acme.yaml",
        "        replicas: 3\n",
        "        replicas: 3\n"
        "        extra_resources:\n"
        "          - apiVersion: apps/v1\n"
        "            kind: DaemonSet\n"
        "            metadata: {name: on-every-node}\n"
        "            spec:\n"
        "              selector: {matchLabels: {app: x}}\n"
        "              template:\n"
        "                metadata: {labels: {app: x}}\n"
        "                spec: {containers: [{name: x, image: 'x:1'}]}\n",
    )
    found = list(tenant_scope.check(_run(example, "prod")))
    assert len(found) == 1 and "DaemonSet (apps) on-every-node is not on the tenant allow-list" in (
        found[0].message
    )
    assert found[0].location.file == "catalog/customers/acme.yaml"


def test_probes_on_a_job_are_refused_at_the_layer_that_sets_them(example: Path):
    """A Job's or CronJob's pods serve nothing to gate, and a liveness probe would
    restart a run partway: refused, at the customer's line."""
    _set(
        example,
        "catalog/customers/acme.yaml",
        "      synapse-media-purge:\n  prod:",
        "      synapse-media-purge:\n        probes: {liveness: {port: http}}\n  prod:",
    )
    line = _line_of(example, "catalog/customers/acme.yaml", "probes: {liveness")
    _refused(example, "catalog/customers/acme.yaml", line, "probes do not apply to a CronJob")


@pytest.mark.parametrize(
    ("service", "old", "new", "at", "message"),
    [
        (
            "synapse-migrate",
            "    backoff_limit: 2",
            "    schedule: '@daily'\n    backoff_limit: 2",
            "schedule: '@daily'",
            "job.schedule applies to a CronJob, not a Job",
        ),
        (
            "synapse-media-purge",
            "    backoff_limit: 2\n",
            "    backoff_limit: 2\n    hook: {service: synapse}\n",
            "hook: {service: synapse}",
            "job.hook applies to a Job, not a CronJob",
        ),
        (
            "synapse-media-purge",
            '    schedule: "30 3 * * *"',
            "    suspend: false",
            "  job:",
            "CronJob 'synapse-media-purge' has no job.schedule",
        ),
        (
            "synapse-media-purge",
            '    schedule: "30 3 * * *"',
            '    schedule: "30 25 * * *"',
            "schedule:",
            "hour 25 is outside 0-23",
        ),
        (
            "synapse-media-purge",
            '    schedule: "30 3 * * *"',
            '    schedule: "CRON_TZ=Europe/Zurich 30 3 * * *"',
            "schedule:",
            "a time zone prefix (TZ=, CRON_TZ=) is not allowed",
        ),
        (
            "synapse-media-purge",
            "  secrets:\n",
            "  ingress:\n    host: purge.${customer.domain}\n    port: http\n  secrets:\n",
            "ingress:",
            "a CronJob serves no traffic",
        ),
        (
            "otel-agent",
            "  probes:\n",
            "  autoscaling: {min_replicas: 1, max_replicas: 2}\n  probes:\n",
            "autoscaling:",
            "a DaemonSet has no replicas to scale",
        ),
        (
            "element-web",
            "  replicas: 1\n",
            "  replicas: 1\n  job: {backoff_limit: 1}\n",
            "job: {backoff_limit",
            "job applies to Jobs and CronJobs; 'element-web' is a Deployment",
        ),
        (
            "synapse-migrate",
            "    hook: {service: synapse, phase: PreSync, wave: 0}\n",
            "",
            "ttl_seconds_after_finished",
            "ArgoCD would create it again",
        ),
        (
            "synapse-migrate",
            "service: synapse, phase",
            "service: synapse-migrate, phase",
            "hook: {service",
            "'synapse-migrate' cannot be a sync hook of itself",
        ),
        (
            "synapse-migrate",
            "service: synapse, phase",
            "service: synaps, phase",
            "hook: {service",
            "job.hook.service names unknown service 'synaps'",
        ),
        (
            "synapse-migrate",
            "service: synapse, phase",
            "service: otel-agent, phase",
            "hook: {service",
            "'otel-agent' is environment-scoped and 'synapse-migrate' customer-scoped",
        ),
        (
            "synapse-migrate",
            "service: synapse, phase",
            "service: mas, phase",
            "hook: {service",
            "customer 'acme' enables 'synapse-migrate' but not 'mas'",
        ),
        (
            "synapse-migrate",
            "phase: PreSync",
            "phase: PreDelete",
            "hook: {service",
            "job.hook.phase",
        ),
    ],
    ids=[
        "schedule-on-a-job",
        "hook-on-a-cronjob",
        "cronjob-without-schedule",
        "schedule-out-of-range",
        "schedule-with-time-zone",
        "ingress-on-a-cronjob",
        "autoscaling-on-a-daemonset",
        "job-on-a-deployment",
        "ttl-on-a-plain-job",
        "hook-of-itself",
        "hook-of-an-unknown-service",
        "hook-of-another-scope",
        "hook-of-a-service-not-enabled",
        "hook-phase-unknown",
    ],
)
def test_settings_a_kind_does_not_take_are_located_errors(
    example: Path, service: str, old: str, new: str, at: str, message: str
):
    relative = f"catalog/services/{service}.yaml"
    _set(example, relative, old, new)
    _refused(example, relative, _line_of(example, relative, at), message)


def test_a_job_name_leaves_room_for_its_runs(example: Path):
    long = "j" * 53
    source = (example / "catalog/services/synapse-media-purge.yaml").read_text()
    (example / f"catalog/services/{long}.yaml").write_text(
        source.replace("name: synapse-media-purge", f"name: {long}")
    )
    _refused(example, f"catalog/services/{long}.yaml", 2, "has at most 52 characters")


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ("30 3 * * *", None),
        ("*/15 * * * *", None),
        ("0 2 1-7 * mon", None),
        ("0 0 * jan,jul sun-sat", None),
        ("0 0 ? * 1-5", None),
        ("5 4 * * 0,6", None),
        ("@daily", None),
        ("@hourly", None),
        ("* * * *", "a cron schedule has 5 fields"),
        ("60 * * * *", "minute 60 is outside 0-59"),
        ("0 0 0 * *", "day of month 0 is outside 1-31"),
        ("0 0 * 13 *", "month 13 is outside 1-12"),
        ("0 0 * * 7", "day of week 7 is outside 0-6"),
        ("0 0 * * fri-mon", "runs backwards"),
        ("*/0 * * * *", "the step in '*/0' must be at least 1"),
        ("0 0 L * *", "'l' is not a day of month"),
        ("0 0 * * mon#2", "is not a day of week value"),
        ("@every 1h", "unknown descriptor"),
        ("TZ=UTC 0 0 * * *", "time zone prefix"),
    ],
)
def test_cron_schedules_as_the_cronjob_controller_reads_them(schedule: str, problem: str | None):
    found = cron_problem(schedule)
    assert (found is None) if problem is None else (found is not None and problem in found)


# ---------------------------------------------------------------- checks and policies


def test_the_cronjobs_pods_reach_synapse_as_declared(example: Path):
    """The media purge's pods are its instance's pods: its declared path to synapse's
    http port is open in the rendered policies, on synapse's side too; a patch that
    moves the port of its egress policy closes it, reported at that patch."""
    run = _run(example, "prod")
    assert list(network_reachability.check(run)) == []
    instance = run.by_id["prod/acme/synapse-media-purge"]
    paths = network_reachability.instance_paths(run, instance)
    out = [p for p in paths if p.direction == "out" and p.peer == "prod/acme/synapse"]
    assert [(p.port, p.verdict.allowed) for p in out] == [(8008, True)]
    rules = " ".join(out[0].rules)
    assert "acme/synapse-media-purge-to-synapse" in rules
    assert "acme/synapse-from-synapse-media-purge" in rules
    relative = "catalog/customers/acme.yaml"
    text = (example / relative).read_text()
    (example / relative).write_text(
        text.replace(  # prod's purge is followed by its mas (issue 18)
            "      synapse-media-purge:\n      mas:",
            "      synapse-media-purge:\n"
            "        patches:\n"
            "          - target: {kind: NetworkPolicy, name: synapse-media-purge-to-synapse}\n"
            "            json_patch:\n"
            "              [{op: replace, path: /spec/egress/0/ports/0/port, value: 9000}]\n"
            "      mas:",
            1,
        )
    )
    found = list(network_reachability.check(_run(example, "prod")))
    closed = [f for f in found if f.instance == "prod/acme/synapse-media-purge"]
    assert len(closed) == 1 and "but the NetworkPolicies close it" in closed[0].message
    assert closed[0].location.file == relative
    assert closed[0].location.line == _line_of(example, relative, "- target: {kind: NetworkPolicy")


def test_a_platform_daemonset_is_reached_by_a_customers_dependent(example: Path):
    """helvetia-bank's mas sends metrics to the otel-agent on its node: the path from a
    customer namespace to the platform's DaemonSet pods is declared and open."""
    run = _run(example, "prod")
    mas = run.by_id["prod/helvetia-bank/mas"]
    out = [
        p
        for p in network_reachability.instance_paths(run, mas)
        if p.direction == "out" and p.peer == "prod/otel-agent"
    ]
    assert [(p.port, p.port_name, p.verdict.allowed) for p in out] == [(4318, "otlp-http", True)]


def test_the_new_kinds_pass_restricted_v2_on_openshift(example: Path):
    run = _run(example, "staging")
    kinds = {
        f.data["kind"]
        for f in run.files
        if "/stg-ocp1/" in f.path and f.data.get("kind") in ("Job", "CronJob", "DaemonSet")
    }
    assert kinds == {"Job", "CronJob", "DaemonSet"}
    assert list(openshift_scc.check(run)) == []
    for file in run.files:
        if "/stg-ocp1/" in file.path and file.data.get("kind") in kinds:
            assert "runAsUser" not in _pod_spec(file.data)["securityContext"], file.path


def test_policies_hold_the_new_kinds(example: Path):
    """resources-set, image-pinned and pod-security read a CronJob's pods in its job
    template and a DaemonSet's; probes-set leaves Jobs and CronJobs out; each finding
    points at the line behind the field."""
    assert _check(example, "prod")["findings"] == []
    purge = "catalog/services/synapse-media-purge.yaml"
    _set(example, purge, "    limits: {cpu: 100m, memory: 64Mi}\n", "")
    _set(example, "catalog/services/otel-agent.yaml", "0.115.1@sha256:", "latest@sha256:")
    relative = "catalog/customers/acme.yaml"
    text = (example / relative).read_text()
    (example / relative).write_text(
        text.replace(  # prod's purge is followed by its mas (issue 18)
            "      synapse-media-purge:\n      mas:",
            "      synapse-media-purge:\n"
            "        patches:\n"
            "          - target: {kind: CronJob}\n"
            "            json_patch:\n"
            "              - op: replace\n"
            "                path: /spec/jobTemplate/spec/template/spec/containers/0/"
            "securityContext/readOnlyRootFilesystem\n"
            "                value: false\n"
            "      mas:",
            1,
        )
    )
    findings = _check(example, "prod")["findings"]
    by_id: dict[str, list[dict]] = {}
    for finding in findings:
        by_id.setdefault(finding["id"], []).append(finding)
    resources = [
        f for f in by_id["resources-set"] if f["instance"] == "prod/acme/synapse-media-purge"
    ]
    assert (
        resources
        and "spec.jobTemplate.spec.template.spec.containers[0].resources"
        in (resources[0]["message"])
    )
    assert resources[0]["file"] == purge
    assert resources[0]["line"] == _line_of(example, purge, "  resources:")
    assert {f["instance"] for f in by_id["image-pinned"]} == {"prod/otel-agent"}
    security = by_id["pod-security"]
    assert {f["instance"] for f in security} == {"prod/acme/synapse-media-purge"}
    assert "probes-set" not in by_id


def test_checkov_finds_nothing_new_on_the_new_kinds(example: Path):
    """checkov's checks cover Jobs, CronJobs and DaemonSets: on their folders it fails
    only what the example already decided (CKV_K8S_35, off in policies/config.yaml) and,
    on OpenShift, what does not apply there (CKV_K8S_40)."""
    from compiler.check.checkov_checks import CheckovRun, activate, scan

    activate(example, example / "policies/checkov")
    for env in ("prod", "staging"):
        run = _run(example, env)
        chosen = [
            f
            for f in run.files
            if any(
                f"/{s}/" in f.path for s in ("synapse-migrate", "synapse-media-purge", "otel-agent")
            )
        ]
        found = scan(run.catalog, env, chosen, run.by_id, CheckovRun("medium", ("CKV_K8S_35",)))
        assert found == [], [(f.id, f.rendered) for f in found]


def test_a_change_to_a_hook_renders_it_with_its_service(example: Path):
    """A hook runs in its service's Application: `affected` reaches both, and `diff`,
    rendering both, shows the Job's change alone (the service's kustomization, which
    lists the hook's folder, is the same on both sides)."""
    from tests.conftest import commit_example

    commit_example(example)
    _set(
        example,
        "catalog/services/synapse-migrate.yaml",
        "--run-background-updates]",
        "--run-background-updates, -v]",
    )
    result = run_cli("affected", "--root", str(example), "--base", "main", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert {"synapse", "synapse-migrate"} <= set(json.loads(result.stdout)["services"])
    result = run_cli("diff", "--root", str(example), "--base", "main", "-f", "json")
    assert result.exit_code == 0, result.stderr
    changed = {c["path"].rsplit("/", 1)[1] for c in json.loads(result.stdout)["changes"]}
    assert changed == {"manifests.yaml#job-synapse-migrate"}
