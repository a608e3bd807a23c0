"""Render the Hiera data of one environment's hosts, for Puppet (issue 18, item 4).

`hiera.yaml` (Hiera 5) and `hieradata/nodes/<fqdn>.yaml` per host that runs a VM
service, when the environment's `output.host_data` lists `hiera`. What a host gets is
what the Ansible inventory gives it (render/ansible.py), in Puppet's terms:

- `classes`: one class per VM service on the host, `profile::<service>` (the role and
  profile pattern: the team's profile wraps the component module and takes its data
  from Hiera), for `lookup('classes', Array[String], 'unique').include` in site.pp;
- `profile::<service>::instances`: the class's `instances` parameter (automatic
  parameter lookup), owner -> the resolved `vm.vars` and secret references, owner being
  the customer or `_environment`. A relay serves many customers, so per-customer values
  are keyed by customer, never flattened into class parameters that would collide;
- `gitopsc::environment`, `gitopsc::tier`, `gitopsc::region`, `gitopsc::residency`.

Names: `-` becomes `_` (`postfix-relay` -> `profile::postfix_relay`), since a Puppet class
name segment is `[a-z][a-z0-9_]*`; a service name already starts with a letter (`Name`).

The hierarchy keys the node file on `trusted.certname`, the name in the host's signed
certificate, not on a fact the host reports about itself: a host that claimed another's
`fqdn` fact would otherwise read that host's customers' data.

Catalog values are data, never Hiera interpolations: `%{` in a string (a key or a value)
is written `%{literal('%')}{`, which Hiera reads back as the `%{` that was written,
so a customer's `vm.vars` value of `%{lookup('profile::postfix_relay::instances')}` cannot
copy another customer's data into its own.

A node file's path is made of the host's name, a validated lower-case DNS name
(`[a-z0-9.-]`, no empty labels), so it cannot leave `hieradata/nodes/`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from compiler.catalog import Environment
from compiler.render.ansible import VmEntry, variable_key

HIERA_CONFIG = "hiera.yaml"
DATADIR = "hieradata"
NODE_PATH = "nodes/%{trusted.certname}.yaml"
_ESCAPED = "%{literal('%')}{"


def hiera_config() -> dict[str, Any]:
    """Hiera 5's configuration: the per-node file, then `common.yaml`, which gitopsc does
    not write (the team's defaults for every host, if it keeps one beside the output)."""
    return {
        "version": 5,
        "defaults": {"datadir": DATADIR, "data_hash": "yaml_data"},
        "hierarchy": [
            {"name": "Per-node data (gitopsc)", "path": NODE_PATH},
            {"name": "Common data", "path": "common.yaml"},
        ],
    }


def class_name(service: str) -> str:
    return f"profile::{variable_key(service)}"


def node_path(env: Environment, fqdn: str) -> str:
    return f"{env.name}/{DATADIR}/nodes/{fqdn}.yaml"


def nodes(
    env: Environment,
    instances: Iterable[VmEntry],
    host_vars: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """fqdn -> the Hiera data of that host, sorted; only hosts that run a VM service
    (`instances`: the VM instances' entries, render/ansible.py `vm_entry`).
    `host_vars` are the variables made from several instances at once that the
    inventory gives a host (an edge's configuration and routes, its certificate,
    Postfix's TLS settings): each `gitopsc_<name>` is the key `gitopsc::<name>`, so that
    a host that takes Hiera data only gets them too."""
    found: dict[str, dict[str, Any]] = {}
    per_class: dict[str, dict[str, dict[str, Any]]] = {}
    for instance in instances:
        data = instance.data
        owner = variable_key(instance.customer) if instance.customer else "_environment"
        for name, _, region, residency in instance.hosts:
            found.setdefault(
                name,
                {
                    "gitopsc::environment": env.name,
                    "gitopsc::tier": env.tier,
                    "gitopsc::region": region,
                    "gitopsc::residency": residency,
                },
            )
            key = f"{class_name(instance.service)}::instances"
            per_class.setdefault(name, {}).setdefault(key, {})[owner] = data
    out: dict[str, dict[str, Any]] = {}
    for fqdn in sorted(found):
        params = per_class[fqdn]
        classes = sorted(key.removesuffix("::instances") for key in params)
        node: dict[str, Any] = {"classes": classes, **found[fqdn]}
        for name, value in sorted((host_vars or {}).get(fqdn, {}).items()):
            node[f"gitopsc::{name.removeprefix('gitopsc_')}"] = value
        for key in sorted(params):
            node[key] = dict(sorted(params[key].items()))
        out[fqdn] = literal(node)
    return out


def literal(value: Any) -> Any:
    """`value` with every `%{` in its strings (keys too) escaped for Hiera; `value`
    itself when none holds one. Its `repr` shows every string as written (`%` and `{`
    are printable) and puts no `%` between them, so one look at it finds any: a relay
    host's node, with a thousand customers' data, is 110,000 values to walk."""
    return _literal(value) if "%{" in repr(value) else value


def _literal(value: Any) -> Any:
    if isinstance(value, dict):
        return {_literal(key): _literal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_literal(item) for item in value]
    if isinstance(value, str) and "%{" in value:
        return value.replace("%{", _ESCAPED)
    return value
