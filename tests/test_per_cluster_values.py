"""Per-cluster values (issue 14, item 6): an environment-wide service on several clusters
renders one copy per cluster with that cluster's `${instance.cluster}` and
`${instance.region}`; where one value must serve every cluster, naming the cluster in
it is a located error, not the first cluster's value on all of them."""

from __future__ import annotations

import re
from pathlib import Path

from compiler import pipeline
from tests.conftest import run_cli

AGENT = """\
name: log-agent
description: Ships each cluster's logs, labelled with the cluster and its region.
owner: chat-platform
runtime: kubernetes
scope: environment
environments: [prod]
defaults:
  image: docker.io/grafana/alloy:v1.5.0@sha256:{digest}
  config:
    CLUSTER: ${{instance.cluster}}
    REGION: ${{instance.region}}
    LOKI_LABELS: cluster=${{instance.cluster}},env=${{env.name}}
""".format(digest="cd" * 32)
MORE_CLUSTERS = {  # name: (region, residency, internal network)
    "prod-ams1": ("ams1", "eu", "10.150.0.0/16"),
    "prod-par1": ("par1", "eu", "10.160.0.0/16"),
}


def _four_clusters(root: Path) -> None:
    env = root / "environments/prod/environment.yaml"
    text = env.read_text()
    anchor = "clusters:\n"
    clusters = "".join(
        f"  - name: {name}\n    region: {region}\n    residency: [{residency}]\n"
        f'    kubernetes_version: "1.31"\n    api_server: https://{name}.k8s.example.net:6443\n'
        f"    internal_networks: [{network}]\n"
        # the edge sends the hosts of the customers placed there to it (issue 18)
        f"    ingress_address: ingress-lb.{name}.internal.example.net\n"
        for name, (region, residency, network) in MORE_CLUSTERS.items()
    )
    assert text.count(anchor) == 1
    text = text.replace(anchor, anchor + clusters)
    # acme (eu) now runs on prod-ams1, and its mas has a managed database there
    databases = "one subnet per region\n    networks:\n"
    assert text.count(databases) == 1
    text = text.replace(
        databases, databases + "      ams1: [10.50.8.0/24]\n      par1: [10.60.8.0/24]\n"
    )
    env.write_text(text)
    (root / "catalog/services/log-agent.yaml").write_text(AGENT)


def test_a_four_cluster_agent_gets_four_different_cluster_names(example: Path):
    _four_clusters(example)
    resolved = pipeline.run(example, ["prod"])
    files = {f.path: f.data for f in pipeline.render(resolved)["prod"]}
    env = resolved.catalog.environments["prod"]
    assert len(env.clusters) == 4
    seen = {}
    for cluster in env.clusters:
        data = files[f"prod/kubernetes/{cluster.name}/platform/log-agent/configmap-log-agent.yaml"][
            "data"
        ]
        assert data["CLUSTER"] == cluster.name
        assert data["REGION"] == cluster.region
        assert data["LOKI_LABELS"] == f"cluster={cluster.name},env=prod"
        seen[cluster.name] = data["CLUSTER"]
    assert len(set(seen.values())) == 4
    # one instance, its own values per cluster; explain shows the first cluster's
    (agent,) = [i for i in resolved.instances.values() if i.service == "log-agent"]
    assert {agent.on(c.name).config["CLUSTER"] for c in env.clusters} == set(seen)


def test_a_value_that_serves_every_cluster_cannot_name_one(example: Path):
    """sygnal's DNS record is one Terraform resource for the environment: naming
    `${instance.cluster}` in it on a two-cluster environment is an error at its line."""
    sygnal = example / "catalog/services/sygnal.yaml"
    sygnal.write_text(
        sygnal.read_text()
        + "  infrastructure:\n"
        + "    dns:\n"
        + "      push:\n"
        + "        name: push.${env.base_domain}\n"
        + "        type: CNAME\n"
        + "        value: ingress.${instance.cluster}.${env.base_domain}\n"
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert "names the cluster (or its region), and 'sygnal' runs on 2 clusters" in result.stderr
    line = (
        sygnal.read_text()
        .split("\n")
        .index("        value: ingress.${instance.cluster}.${env.base_domain}")
        + 1
    )
    assert re.search(rf"^catalog/services/sygnal.yaml:{line}:\d+: error", result.stderr, re.M)


def test_a_customer_instance_names_its_own_cluster(example: Path):
    """A customer's instance runs on one cluster: `${instance.region}` is its region."""
    synapse = example / "catalog/services/synapse.yaml"
    synapse.write_text(
        synapse.read_text().replace(
            '    SYNAPSE_REPORT_STATS: "no"\n',
            '    SYNAPSE_REPORT_STATS: "no"\n    REGION: ${instance.region}\n',
        )
    )
    files = {f.path: f.data for f in pipeline.render(pipeline.run(example, ["prod"]))["prod"]}
    assert (
        files["prod/kubernetes/prod-zrh1/helvetia-bank/synapse/configmap-synapse.yaml"]["data"][
            "REGION"
        ]
        == "zrh1"
    )
    assert (
        files["prod/kubernetes/prod-fra1/acme/synapse/configmap-synapse.yaml"]["data"]["REGION"]
        == "fra1"
    )
