"""Exposure on OpenShift (issue 14, items 1 and 4): an instance's ingress is a Route on
an OpenShift cluster, admitted from the router's namespace, and the Route passes the
strict schema derived from the published CRD."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from compiler import pipeline
from compiler.check.schemas import CRDS
from tests.conftest import reference


def _strict(node):
    """A CRD's openAPIV3Schema as the strict JSON Schema gitopsc ships: unknown fields
    refused on every object with properties (unless the CRD preserves them), `null`
    schema lists dropped (the API server ignores them), int-or-string spelled out, and
    `$` inside a character class escaped (fastjsonschema's `$` rewrite breaks it)."""
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            node = {**node, "pattern": _class_dollars(node["pattern"])}
        out = {
            k: _strict(v)
            for k, v in node.items()
            if v is not None or k not in ("anyOf", "allOf", "oneOf")
        }
        if out.get("x-kubernetes-int-or-string") and "type" not in out and "anyOf" not in out:
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if (
            out.get("type") == "object"
            and "properties" in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(node, list):
        return [_strict(x) for x in node]
    return node


def _class_dollars(pattern: str) -> str:
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
            continue
        if char == "\\":
            out.append(char)
            escaped = True
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append("\\$" if char == "$" and in_class else char)
    return "".join(out)


def _without_nulls(node):
    if isinstance(node, dict):
        return {k: _without_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_without_nulls(x) for x in node]
    return node


def _route_crd_schema() -> dict:
    crd = yaml.safe_load(reference("crds/route.openshift.io_routes.yaml").read_text())
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return v1["schema"]["openAPIV3Schema"]


def test_the_route_schema_is_the_published_crd_made_strict():
    shipped = json.loads((CRDS / "route.openshift.io_v1_route.json").read_text())
    assert shipped == _strict(_route_crd_schema())


def _staging(example: Path) -> dict[str, dict]:
    resolved = pipeline.run(example, ["staging"])
    return {f.path: f.data for f in pipeline.render(resolved)["staging"]}


def test_an_openshift_cluster_gets_routes_and_admits_its_router(example: Path):
    files = _staging(example)
    ocp = "staging/kubernetes/stg-ocp1/alpenverein/synapse/"
    plain = "staging/kubernetes/stg-fra1/acme/synapse/"
    kinds = {p.rsplit("/", 1)[1].split("-")[0] for p in files if p.startswith(ocp)}
    assert "route" in kinds and not {"ingress", "certificate"} & kinds
    assert {"ingress", "certificate"} <= {
        p.rsplit("/", 1)[1].split("-")[0] for p in files if p.startswith(plain)
    }
    route = files[ocp + "route-synapse.yaml"]
    assert route["spec"]["host"] == "matrix.alpenverein-zh.example"
    assert route["spec"]["to"] == {"kind": "Service", "name": "synapse", "weight": 100}
    assert route["spec"]["tls"]["termination"] == "edge"
    # the published CRD's own schema (its `anyOf: null`, which the API server ignores,
    # left out) and the strict one both accept it
    jsonschema.validate(route, _without_nulls(_route_crd_schema()))
    jsonschema.validate(route, json.loads((CRDS / "route.openshift.io_v1_route.json").read_text()))
    # the router, not ingress-nginx, is admitted on the OpenShift cluster
    (peer,) = files[ocp + "networkpolicy-synapse-from-ingress-controller.yaml"]["spec"]["ingress"][
        0
    ]["from"]
    assert (
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        == "openshift-ingress"
    )
    (peer,) = files[plain + "networkpolicy-synapse-from-ingress-controller.yaml"]["spec"][
        "ingress"
    ][0]["from"]
    assert (
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "ingress-nginx"
    )


def test_an_environment_wide_service_is_admitted_by_each_clusters_controller(example: Path):
    files = _staging(example)
    names = {}
    for cluster in ("stg-fra1", "stg-ocp1"):
        policy = files[
            f"staging/kubernetes/{cluster}/platform/sygnal/networkpolicy-sygnal-from-ingress-controller.yaml"
        ]
        (peer,) = policy["spec"]["ingress"][0]["from"]
        names[cluster] = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    assert names == {"stg-fra1": "ingress-nginx", "stg-ocp1": "openshift-ingress"}


def test_a_route_with_a_misspelt_field_fails_the_strict_schema():
    schema = json.loads((CRDS / "route.openshift.io_v1_route.json").read_text())
    route = {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": "x"},
        "spec": {
            "to": {"kind": "Service", "name": "x", "weight": 100},
            "tls": {"termnation": "edge"},
        },
    }
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(route))
    assert errors and "termnation" in str(errors[0].message)
