"""Resolver: merge rules, the six-layer order, provenance, interpolation, placement."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler import pipeline
from compiler.catalog.interpolate import interpolate
from compiler.catalog.resolver import merge
from compiler.errors import CatalogInvalid


def test_maps_merge_lists_and_scalars_replace_null_removes():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"d": 1}}
    overlay = {"a": {"y": [3], "z": 2}, "b": None, "c": None, "e": {"f": None, "g": 1}}
    assert merge(base, overlay) == {"a": {"x": 1, "y": [3], "z": 2}, "e": {"g": 1}}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"d": 1}}  # inputs unchanged


def test_a_scalar_replaces_a_mapping_and_back():
    assert merge({"a": {"x": 1}}, {"a": 5}) == {"a": 5}
    assert merge({"a": 5}, {"a": {"x": 1}}) == {"a": {"x": 1}}


def _set(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


# The example sets synapse's replicas in three layers; remove those first.
NEUTRAL = [
    ("catalog/services/synapse.yaml", "  replicas: 1\n", ""),
    ("environments/prod/environment.yaml", "  replicas: 2\n", ""),
    ("catalog/customers/acme.yaml", "        replicas: 3\n", ""),
]
# (layer name, file, anchor, text inserted after the anchor), lowest layer first.
LAYERS = [
    ("service defaults", "catalog/services/synapse.yaml", "defaults:\n", "  replicas: 11\n"),
    (
        "plan preset 'business'",
        "catalog/services/synapse.yaml",
        "  business:\n",
        "    replicas: 12\n",
    ),
    (
        "environment defaults",
        "environments/prod/environment.yaml",
        "defaults:\n",
        "  replicas: 13\n",
    ),
    (
        "environment override",
        "environments/prod/environment.yaml",
        "services:\n",
        "  synapse:\n    replicas: 14\n",
    ),
    (
        "customer override",
        "catalog/customers/acme.yaml",
        "services:\n  synapse:\n",
        "    replicas: 15\n",
    ),
    (
        "customer environment override",
        "catalog/customers/acme.yaml",
        "  prod:\n    services:\n      postgres:\n      synapse:\n",
        "        replicas: 16\n",
    ),
]


@pytest.mark.parametrize("top", range(len(LAYERS)))
def test_layer_order_highest_wins_and_provenance_names_it(example: Path, top: int):
    """Write `replicas` in layers 0..top; the value and its origin must be layer `top`'s."""
    for file, old, new in NEUTRAL:
        _set(example / file, old, new)
    for _, file, anchor, insertion in LAYERS[: top + 1]:
        _set(example / file, anchor, anchor + insertion)
    instance = pipeline.run(example, ["prod"]).instances["prod/acme/synapse"]
    name, file, _, _ = LAYERS[top]
    assert instance.settings.replicas == 11 + top
    origin = instance.origin(("replicas",))
    assert origin.layer == name
    assert origin.location.file == file
    line = (example / file).read_text().splitlines()[origin.location.line - 1]
    assert line.strip() == f"replicas: {11 + top}"


def test_provenance_of_defaults_and_templates(example: Path):
    instance = pipeline.run(example, ["prod"]).instances["prod/acme/synapse"]
    assert instance.origin(("probes", "liveness", "period_seconds")).layer == "built-in default"
    origin = instance.origin(("config", "SYNAPSE_SERVER_NAME"))
    assert origin.template == "${customer.domain}"
    assert instance.values["config"]["SYNAPSE_SERVER_NAME"] == "acme.example"
    assert str(origin.location).startswith("catalog/services/synapse.yaml:")


def test_a_list_is_owned_by_the_layer_that_wrote_it(example: Path):
    _set(
        example / "catalog/services/postfix-relay.yaml",
        '      postfix_milters: ["inet:localhost:11332"]\n',
        '      postfix_milters: ["inet:localhost:11332"]\n',
    )
    instance = pipeline.run(example, ["prod"]).instances["prod/acme/postfix-relay"]
    origin = instance.origin(("vm", "vars", "postfix_milters", 0))
    assert origin.layer == "service defaults"
    assert instance.settings.vm.vars["postfix_milters"] == ["inet:localhost:11332"]


def test_interpolation_keeps_types_escapes_and_reaches_other_values():
    values = {
        "replicas": "${values.autoscaling.min_replicas}",
        "autoscaling": {"min_replicas": 3},
        "config": {
            "A": "n=${values.autoscaling.min_replicas}",
            "B": "$${literal}",
            "C": "${customer.domain}",
            "D": "${values.config.C}!",
            "E": "flag=${x.flag}",
        },
    }
    result, templates, errors = interpolate(
        values, {"customer.domain": "a.example", "x.flag": True}
    )
    assert errors == []
    assert result["replicas"] == 3
    assert result["config"] == {
        "A": "n=3",
        "B": "${literal}",
        "C": "a.example",
        "D": "a.example!",
        "E": "flag=true",
    }
    assert templates[("config", "D")] == "${values.config.C}!"


@pytest.mark.parametrize(
    ("values", "path", "message"),
    [
        ({"a": "${customer.domian}"}, ("a",), "unknown reference '${customer.domian}'"),
        (
            {"a": "${values.b}", "b": "${values.a}"},
            ("a",),
            "interpolation cycle: values.a -> values.b",
        ),
        ({"a": "x${customer.domain"}, ("a",), "unterminated"),
        ({"a": "${values.m}", "m": {"k": 1}}, ("a",), "is a mapping"),
    ],
)
def test_interpolation_errors_name_the_string_that_has_them(values, path, message):
    _, _, errors = interpolate(values, {"customer.domain": "a.example"})
    assert errors and errors[0].path == path and message in errors[0].message


def test_did_you_mean_for_unknown_reference():
    _, _, errors = interpolate({"a": "${customer.domian}"}, {"customer.domain": "x"})
    assert "customer.domain" in errors[0].hint


def test_resolution_errors_point_at_the_layer_and_count_instances(example: Path):
    _set(
        example / "catalog/services/element-web.yaml",
        "ELEMENT_BRAND: ${customer.display_name} Chat",
        "ELEMENT_BRAND: ${customer.nmae} Chat",
    )
    with pytest.raises(CatalogInvalid) as caught:
        pipeline.run(example)
    [problem] = caught.value.problems
    assert problem.location.file == "catalog/services/element-web.yaml"
    text = (example / problem.location.file).read_text().splitlines()[problem.location.line - 1]
    assert "ELEMENT_BRAND" in text
    assert "more" in problem.hint  # one problem for all the instances that share the layer


def test_placement_by_residency_explicit_cluster_and_environment_scope(example: Path):
    instances = pipeline.run(example, ["prod"]).instances
    assert instances["prod/acme/synapse"].clusters == ("prod-fra1",)
    assert instances["prod/alpenverein/synapse"].clusters == ("prod-zrh1",)  # ch residency
    assert instances["prod/helvetia-bank/synapse"].clusters == ("prod-zrh1",)  # named
    assert instances["prod/sygnal"].clusters == ("prod-fra1", "prod-zrh1")
    assert instances["prod/sygnal"].namespace == "platform"
    assert [h.name for h in instances["prod/globex/postfix-relay"].hosts] == [
        "mx1.globex.example",
        "mx2.globex.example",
    ]  # the customer's own hosts
    assert instances["prod/acme/postfix-relay"].hosts[0].name == "relay1.fra1.mail.example.net"
    assert "dev/helvetia-bank/synapse" not in pipeline.run(example, ["dev"]).instances


def test_instances_are_sorted_and_environment_filter_applies(example: Path):
    resolved = pipeline.run(example, ["staging"])
    ids = list(resolved.instances)
    assert ids == sorted(ids) and all(i.startswith("staging/") for i in ids)
    assert "staging/mas" not in ids and "staging/helvetia-bank/mas" in ids
