"""Monitoring of VM services (issue 18): a blackbox `Probe` of the instance's own hosts,
from the cluster of their residency, and its SLOs through the same burn-rate rules;
and `gitopsc slo-tests`, which writes every rendered rule with its unit tests for
promtool.

What is shown: each Probe names exactly its instance's hosts on the probed ports and
labels their series with its customer; each VM rule reads and labels only its own
customer's series; the blackbox exporter is declared to reach those ports and no other;
the bad inputs stop at their line; the command's files pass `promtool check rules` and
`promtool test rules` (and a broken rule or a wrong threshold in them fails), are the
same bytes on every run, and go nowhere but into a folder of their own.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from compiler import pipeline
from compiler.catalog import Addresses, Pods, connections
from tests.conftest import copy_example, run_cli, tool

PORTS = [25, 587]  # postfix-relay's probe in the example
# the hosts each residency's relays run on in prod (environments/prod/environment.yaml)
RELAYS = {
    "eu": ["10.30.1.11", "10.30.1.12"],
    "ch": ["10.40.1.11"],
}
PROBED = {  # customer -> (probing cluster, residency), as the example places them
    "acme": ("prod-fra1", "eu"),
    "umbrella": ("prod-fra1", "eu"),
    "alpenverein": ("prod-zrh1", "ch"),
    "helvetia-bank": ("prod-zrh1", "ch"),
}


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The prod environment's rendered objects, by path, rendered once."""
    root = copy_example(tmp_path_factory.mktemp("example"))
    resolved = pipeline.run(root, ["prod"])
    return {f.path: f.data for f in pipeline.render(resolved)["prod"]}


def _vm_objects(files: dict[str, dict], kind: str) -> dict[str, dict]:
    return {p: o for p, o in files.items() if o.get("kind") == kind and "/monitoring/probes/" in p}


def test_each_relay_customer_is_probed_on_its_own_hosts_from_its_residency(prod):
    probes = _vm_objects(prod, "Probe")
    found = {}
    for path, probe in probes.items():
        customer = probe["metadata"]["labels"]["gitopsc.dev/customer"]
        cluster = path.split("/")[2]
        spec = probe["spec"]
        found[customer] = cluster
        assert probe["metadata"]["namespace"] == "monitoring"
        assert probe["metadata"]["name"] == f"{customer}-postfix-relay"
        assert probe["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # selected
        assert spec["module"] == "smtp_starttls"
        assert spec["prober"]["url"] == "prometheus-blackbox-exporter.monitoring.svc:9115"
        residency = PROBED[customer][1]
        assert spec["targets"]["staticConfig"]["static"] == [
            f"{address}:{port}" for address in RELAYS[residency] for port in PORTS
        ]
        assert spec["targets"]["staticConfig"]["labels"] == {
            "customer": customer,
            "environment": "prod",
            "service": "postfix-relay",
        }
    # globex's relays are its own, in the US, where prod has no cluster: not probed
    assert found == {c: cluster for c, (cluster, _) in PROBED.items()}


def test_each_vm_rule_reads_and_labels_only_its_own_customer(prod):
    rules = _vm_objects(prod, "PrometheusRule")
    assert len(rules) == len(PROBED)
    for rule in rules.values():
        customer = rule["metadata"]["labels"]["gitopsc.dev/customer"]
        entries = [e for g in rule["spec"]["groups"] for e in g["rules"]]
        assert {e.get("record") or e["alert"] for e in entries} >= {
            "slo:sli_error:ratio_rate5m",
            "slo:sli_error:ratio_rate28d",
            "ErrorBudgetBurn",
        }
        for entry in entries:
            assert entry["labels"]["customer"] == customer
            assert entry["labels"]["slo"] == "smtp-available"
            named = re.findall(r'customer=~?"([^"]*)"', entry["expr"])
            if not entry["expr"].startswith("vector("):  # a constant reads no series
                assert named and set(named) == {customer}, entry["expr"]
        alerts = [e for e in entries if "alert" in e]
        # the mail team's routing (catalog/teams.yaml paging)
        assert {a["labels"]["receiver"] for a in alerts} == {"mail-ops-opsgenie"}
        assert {a["labels"]["burn_rate"] for a in alerts} == {"13.44", "5.6", "2.8", "0.9333333333"}


def test_the_probes_are_the_platform_projects_alone(prod):
    """A Probe names addresses: the platform's project may sync it, no customer's."""
    projects = {o["metadata"]["name"]: o for o in prod.values() if o.get("kind") == "AppProject"}
    for name, project in projects.items():
        kinds = {
            (k["group"], k["kind"]) for k in project["spec"].get("namespaceResourceWhitelist", [])
        }
        probe = ("monitoring.coreos.com", "Probe") in kinds
        assert probe == name.endswith("-platform"), name


def test_the_blackbox_exporter_reaches_the_probed_ports_and_no_other(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    resolved = pipeline.run(root, ["prod"])
    catalog = resolved.catalog
    env = catalog.environments["prod"]
    instances = [i for i in resolved.instances.values() if i.environment == "prod"]
    found, problems = connections(catalog, env, instances)
    assert not problems
    probed = [
        c
        for c in found
        if isinstance(c.source, Pods)
        and dict(c.source.labels) == {"app.kubernetes.io/name": "prometheus-blackbox-exporter"}
    ]
    by_customer = {c.declared_by.customer: c for c in probed}
    assert len(probed) == len(by_customer) == len(PROBED)
    for customer, connection in by_customer.items():
        cluster, residency = PROBED[customer]
        assert connection.source.namespace == "monitoring"
        assert isinstance(connection.destination, Addresses)
        assert connection.destination.cidrs == tuple(f"{a}/32" for a in RELAYS[residency])
        assert [(p.protocol, p.number, p.end) for p in connection.ports] == [
            ("TCP", port, None) for port in PORTS
        ]
        assert connection.cluster == cluster
        assert connection.purposes == (None, None)  # no pod of ours on either side
    # nothing else leaves from the blackbox exporter's pods
    assert all(c.declared_by.service == "postfix-relay" for c in probed)


def _located(example: Path, relative: str, old: str, new: str) -> tuple[str, int]:
    """`validate` after replacing `old` by `new`: exit 2 without a traceback; the
    output and the line of the first line of `new` in the file."""
    path = example / relative
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.exception is None
    first = new.strip().splitlines()[0]
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if first in t)
    return result.stdout + result.stderr, line


SERVICE = "catalog/services/postfix-relay.yaml"


def test_a_module_the_blackbox_exporter_lacks_is_located(example: Path):
    output, line = _located(example, SERVICE, "module: smtp_starttls  #", "module: smtp_startls  #")
    assert f"{SERVICE}:{line}:" in output
    assert "has no module 'smtp_startls'" in output and "smtp_starttls" in output  # did-you-mean


def test_a_probe_in_an_environment_without_a_blackbox_exporter_is_located(example: Path):
    env = example / "environments/staging/environment.yaml"
    text = env.read_text()
    start = text.index("  blackbox:")
    end = text.index("platform_namespaces:")
    env.write_text(text[:start] + text[end:])
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None
    output = result.stdout + result.stderr
    line = next(
        i
        for i, t in enumerate((example / SERVICE).read_text().splitlines(), 1)
        if t.strip() == "probe:"
    )
    assert f"{SERVICE}:{line}:" in output
    assert "environment 'staging' declares no monitoring.blackbox" in output


def test_a_probe_on_a_kubernetes_service_is_located(example: Path):
    output, line = _located(
        example,
        "catalog/services/mta-sts.yaml",
        "    slos:\n      policy-served:",
        "    probe: {module: tcp_connect, ports: [443]}\n    slos:\n      policy-served:",
    )
    assert f"catalog/services/mta-sts.yaml:{line}:" in output
    assert "runs on Kubernetes: probe is for a VM service's hosts" in output


def test_hosts_of_a_residency_no_cluster_holds_are_located(example: Path):
    """Globex's own US relays in prod, probed from Europe, would be refused: the
    example says so (`probe: null`); without it, the line of the probe."""
    globex = example / "catalog/customers/globex.yaml"
    text = globex.read_text()
    old = "        monitoring:  # its own hosts"
    assert old in text
    start = text.index(old)
    end = text.index("        vm:\n", start)
    globex.write_text(text[:start] + text[end:])
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None
    output = result.stdout + result.stderr
    assert "no cluster of environment 'prod' holds residency us" in output
    assert "in instance prod/globex/postfix-relay" in output


def test_a_customer_writing_the_promql_of_a_vm_rule_is_located(example: Path):
    """Her rule would share the monitoring namespace with every customer's probes."""
    selector = 'probe_success{customer="umbrella"}[{{window}}]'
    _located(
        example,
        "catalog/customers/acme.yaml",
        "      postfix-relay:\n",
        "      postfix-relay:\n        monitoring:\n          slos:\n            smtp-available:\n"
        "              sli:\n"
        f"                good: 'sum(sum_over_time({selector}))'\n"
        f"                total: 'sum(count_over_time({selector}))'\n",
    )
    result = run_cli("validate", "--root", str(example))
    output = result.stdout + result.stderr
    text = (example / "catalog/customers/acme.yaml").read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if "good: 'sum(sum_over_time" in t)
    assert f"catalog/customers/acme.yaml:{line}:" in output
    assert "a customer's file may not write their PromQL" in output


QUERY = '{{ with query "probe_success" }}{{ . | first | value }}{{ end }}'


@pytest.mark.parametrize(
    ("service", "override", "field"),
    [
        # a VM rule (the shared monitoring namespace) and a pod's (its own namespace):
        # enforcedNamespaceLabel rewrites expressions, not the text Prometheus expands
        (
            "postfix-relay",
            "alerts: {Mine: {expr: 'vector(1)', summary: '%s'}}",
            "summary",
        ),
        (
            "synapse",
            "alerts: {Mine: {expr: 'vector(1)', summary: plain, labels: {note: '%s'}}}",
            "labels",
        ),
    ],
)
def test_a_customer_writing_a_template_into_alert_text_is_located(
    example: Path, service: str, override: str, field: str
):
    """Prometheus expands an alert's summary and labels as Go templates when it
    evaluates the rule, and `query` there runs any PromQL: a customer's file writes
    plain text (review R1)."""
    relative = "catalog/customers/acme.yaml"
    old = f"      {service}:\n" if service != "synapse" else "      synapse:\n        replicas: 3\n"
    new = old + "        monitoring:\n          " + override % QUERY + "\n"
    output, line = _located(example, relative, old, new)
    text = (example / relative).read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if "alerts: {Mine:" in t)
    assert f"{relative}:{line}:" in output
    assert "may not write a template action ('{{') in alert text" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "probe",
    [
        "{module: tcp_connect, ports: [22, 6443, 9100, 10250]}",
        "{interval: 1s}",
    ],
)
def test_a_customer_setting_what_the_exporter_probes_is_located(example: Path, probe: str):
    """The relay's hosts are a pool other customers share: which ports the platform's
    exporter probes there, with which module and how often, is the service's to say
    (review R5); a customer may only switch its probe off (globex's `probe: null`)."""
    relative = "catalog/customers/acme.yaml"
    old = "      postfix-relay:\n"
    new = old + f"        monitoring:\n          probe: {probe}\n"
    output, _ = _located(example, relative, old, new)
    text = (example / relative).read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if t.strip().startswith("probe: {"))
    assert f"{relative}:{line}:" in output
    assert "may not set what the platform's blackbox exporter probes" in output


def test_an_slo_description_is_plain_text_in_every_layer(example: Path):
    """It becomes the burn-rate alerts' description, which Prometheus expands and the
    generated unit tests expect as written: no template in any file (review R1)."""
    output, line = _located(
        example,
        "catalog/services/synapse.yaml",
        "description: client and federation requests answered without a 5xx",
        "description: 'answered {{ $value }}'",
    )
    assert f"catalog/services/synapse.yaml:{line}:" in output
    assert "description is plain text" in output


def test_the_service_may_write_templates_in_its_alert_text(example: Path):
    """The control: the service's own file may use `{{ $value }}` in a plain alert."""
    path = example / "catalog/services/synapse.yaml"
    text = path.read_text()
    old = "has not answered a scrape for 5 minutes"
    assert old in text
    path.write_text(text.replace(old, "has not answered a scrape ({{ $value }})", 1))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 0, result.stdout + result.stderr


def test_rules_of_hosts_no_cluster_holds_are_located_without_a_probe(example: Path):
    """Without a probe, the rules of hosts whose residency no cluster holds would be
    evaluated nowhere: an error at the rules, not rules silently dropped (review R3)."""
    globex = example / "catalog/customers/globex.yaml"
    text = globex.read_text()
    assert "          slos: null\n" in text
    globex.write_text(text.replace("          slos: null\n", "", 1))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "its rules would be evaluated nowhere" in output
    assert "in instance prod/globex/postfix-relay" in output


def test_a_blackbox_url_port_outside_the_range_is_located(example: Path):
    env = "environments/prod/environment.yaml"
    text = (example / env).read_text()
    found = re.search(r"url: (\S+):(\d+)", text)
    assert found, "prod declares a blackbox url"
    output, line = _located(example, env, found.group(0), f"url: {found.group(1)}:99999")
    assert f"{env}:{line}:" in output
    assert "outside 1-65535" in output


# --- gitopsc slo-tests --------------------------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example's SLO tests for prod, written by the command once: (repo, out)."""
    root = copy_example(tmp_path_factory.mktemp("repo"))
    out = tmp_path_factory.mktemp("work") / "slo-tests"
    result = run_cli("slo-tests", "--root", str(root), "--env", "prod", "--out", str(out))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "wrote 9 rule file(s) and 9 unit test file(s) for prod" in result.stdout
    return root, out


def test_slo_tests_writes_each_rendered_rule_with_its_tests(written, prod):
    _, out = written
    rendered = {
        (p.split("/")[2], o["metadata"]["namespace"], o["metadata"]["name"]): o
        for p, o in prod.items()
        if o.get("kind") == "PrometheusRule"
    }
    folders = {tuple(p.relative_to(out).parts[1:4]) for p in out.rglob("rules.yaml")}
    assert folders == set(rendered)
    for (cluster, namespace, name), rule in rendered.items():
        folder = out / "prod" / cluster / namespace / name
        # the rule file is the rendered groups, as the operator hands them to Prometheus
        assert yaml.safe_load((folder / "rules.yaml").read_text()) == {
            "groups": rule["spec"]["groups"]
        }
        assert yaml.safe_load((folder / "tests.yaml").read_text())["rule_files"] == [
            "slo-rules.yaml"
        ]


def test_slo_tests_output_passes_promtool_and_a_broken_rule_fails(written, tmp_path: Path):
    promtool = tool("promtool")
    _, out = written
    rules = sorted(str(p.relative_to(out)) for p in out.rglob("rules.yaml"))
    done = subprocess.run(
        [promtool, "check", "rules", *rules], capture_output=True, text=True, cwd=out, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(rules) == 9
    # the VM instance's rule, from the probe's series; one parenthesis short fails
    vm = out / "prod/prod-zrh1/monitoring/helvetia-bank-postfix-relay/rules.yaml"
    broken = tmp_path / "rules.yaml"
    broken.write_text(vm.read_text().replace("sum(sum_over_time(", "sum((sum_over_time(", 1))
    done = subprocess.run(
        [promtool, "check", "rules", str(broken)], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0 and "parse error" in done.stdout + done.stderr


def test_slo_tests_of_a_vm_rule_pass_promtool_and_a_wrong_threshold_fails(written, tmp_path: Path):
    promtool = tool("promtool")
    _, out = written
    folder = out / "prod/prod-zrh1/monitoring/helvetia-bank-postfix-relay"
    tests = yaml.safe_load((folder / "tests.yaml").read_text())
    assert len(tests["tests"]) == 8  # one SLO: 4 alerts x (fires, stays quiet)
    done = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"],
        capture_output=True,
        text=True,
        cwd=folder,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    # the same tests against a 1h page alert at 18x instead of 13.44x (28 days): the
    # 16.8x burn (1.25 times the rate) no longer fires it, and the test says so
    copy = tmp_path / "vm"
    copy.mkdir()
    rules = (folder / "slo-rules.yaml").read_text()
    assert rules.count("(13.44 * 0.001)") == 2  # its long and short window
    (copy / "slo-rules.yaml").write_text(rules.replace("(13.44 * 0.001)", "(18 * 0.001)"))
    tests["tests"] = [t for t in tests["tests"] if " over 1h " in t["name"]]
    (copy / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"],
        capture_output=True,
        text=True,
        cwd=copy,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "FAILED" in output, output
    assert "16.8x over 1h (alert at 13.44x) fires" in output, output


def test_slo_tests_are_the_same_bytes_on_every_run(written, tmp_path: Path):
    root, out = written
    again = tmp_path / "again"
    result = run_cli("slo-tests", "--root", str(root), "--env", "prod", "--out", str(again))
    assert result.exit_code == 0, result.stderr
    assert _files(again) == _files(out)
    # and into the same folder: nothing changes, the folder is still the command's
    result = run_cli("slo-tests", "--root", str(root), "--env", "prod", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert _files(again) == _files(out)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("rendered/slo", "is inside the repository's rendered/"),
        ("catalog", "is inside the repository's catalog/"),
        (".git/slo", "is inside the repository's .git/"),
        (".", "holds the repository"),
        ("compiled", "is the output of another gitopsc command"),
        ("foreign", "it was not created by gitopsc"),
    ],
)
def test_slo_tests_refuses_an_out_that_is_not_its_own(example: Path, where: str, message: str):
    compiled = example / "compiled"
    assert run_cli("compile", "--root", str(example), "--out", str(compiled)).exit_code == 0
    (example / "foreign").mkdir()
    (example / "foreign/notes.txt").write_text("mine\n")
    before = _files(example)
    result = run_cli("slo-tests", "--root", str(example), "--out", str(example / where))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.exception is None
    assert message in result.stderr
    assert _files(example) == before  # nothing written, nothing replaced
