"""Render the Ansible inventory of one environment (YAML inventory format, for AWX).

Groups: `service_<name>` per VM service, `customer_<name>` per customer with VM
instances, `region_<name>` per region. Host names are the hosts' DNS names; group names
use `_` for `-` because Ansible warns about dashes in group names. A relay host serves
many customers, so per-instance values are not flattened into host variables (they would
collide): each host carries `gitopsc_instances`, service -> customer (or `_environment`
for environment-wide services) -> the resolved `vm.vars` and secret references.

The service and customer keys of `gitopsc_instances` use `_` for `-` too (issue 15):
`{{ gitopsc_instances.postfix_relay.globex }}` works in a template, where the name as
written would need `gitopsc_instances['postfix-relay']` (Jinja reads `postfix-relay` as
a subtraction). Names are DNS-1123 labels ([a-z0-9-], starting with a letter or digit),
so the mapping is one-to-one, and `_environment` (its leading `_`) is no customer's key.
A customer named like a method of a mapping (`items`, `keys`, `values`, `get`) shadows
nothing in gitopsc but does in Jinja: `gitopsc_instances.postfix_relay['items']` reads it.

Catalog values are data, never templates: a string holding Jinja (`{{`, `{%`, `{#`) is
written with the `!unsafe` tag, so Ansible hands it to the role as written instead of
running it on the controller (a customer's `vm.vars` value of
`{{ lookup('pipe', ...) }}` would otherwise run a command on the host that reaches every
relay). Templating belongs in the roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from compiler.catalog import Environment, Instance, Unsafe

_JINJA = ("{{", "{%", "{#")


def variable_key(name: str) -> str:
    """A catalog name as an attribute Jinja can read (`postfix-relay` -> `postfix_relay`)."""
    return name.replace("-", "_")


def vm_data(env: Environment, instance: Instance) -> dict[str, Any]:
    """A VM instance's own data for its hosts: its `vm.vars`, sorted, and under
    `secrets` the references to its secrets (store, key, property; never values). The
    inventory and the Hiera data (render/hiera.py) both carry it."""
    settings = instance.settings
    data: dict[str, Any] = dict(sorted(((settings.vm.vars or {}) if settings.vm else {}).items()))
    if settings.secrets:
        data["secrets"] = {
            variable: {
                "store": ref.store or env.secret_store.name,
                "key": ref.key,
                **({"property": ref.property} if ref.property else {}),
            }
            for variable, ref in sorted(settings.secrets.items())
        }
    return data


class VmEntry(NamedTuple):
    """What the inventory and the Hiera nodes take of one VM instance, kept for a
    customer a recompile keeps (render/shares.py)."""

    id: str
    service: str
    customer: str | None
    hosts: tuple[tuple[str, str, str, str], ...]  # (name, address, region, residency)
    data: dict[str, Any]  # `vm_data`


def vm_entry(env: Environment, instance: Instance) -> VmEntry:
    return VmEntry(
        instance.id,
        instance.service,
        instance.customer,
        tuple((h.name, h.address, h.region, h.residency) for h in instance.hosts),
        vm_data(env, instance),
    )


def group_name(kind: str, name: str) -> str:
    return f"{kind}_{variable_key(name)}"


def inventory(
    env: Environment,
    instances: Iterable[VmEntry],
    host_vars: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The inventory of the VM instances (`vm_entry`). `host_vars`: more variables per
    host, made from several instances at once (the edge's configuration, the host's
    certificate and Postfix TLS: issue 18)."""
    hosts: dict[str, dict[str, Any]] = {}
    groups: dict[str, set[str]] = {}
    for instance in instances:
        data = inert(instance.data)
        owner = variable_key(instance.customer) if instance.customer else "_environment"
        for name, address, region, residency in instance.hosts:
            entry = hosts.setdefault(
                name,
                {
                    "ansible_host": address,
                    "gitopsc_region": region,
                    "gitopsc_residency": residency,
                    "gitopsc_instances": {},
                },
            )
            service = variable_key(instance.service)
            entry["gitopsc_instances"].setdefault(service, {})[owner] = data
            for group in (
                group_name("service", instance.service),
                group_name("region", region),
            ):
                groups.setdefault(group, set()).add(name)
            if instance.customer:
                groups.setdefault(group_name("customer", instance.customer), set()).add(name)
    for name, extra in (host_vars or {}).items():
        if name in hosts:
            hosts[name].update(inert(dict(sorted(extra.items()))))
    for entry in hosts.values():
        entry["gitopsc_instances"] = {
            service: dict(sorted(owners.items()))
            for service, owners in sorted(entry["gitopsc_instances"].items())
        }
    children = {
        name: {"hosts": {host: None for host in sorted(members)}}
        for name, members in sorted(groups.items())
    }
    return {
        "all": {
            "vars": {"gitopsc_environment": env.name, "gitopsc_tier": env.tier},
            "hosts": {name: hosts[name] for name in sorted(hosts)},
            "children": children,
        }
    }


def inert(value: Any) -> Any:
    """`value` with every string that Jinja would template marked `!unsafe`; `value`
    itself when none would be. Its `repr` shows every string as written, and puts no
    `{`, `%` or `#` after a `{` of its own (one opens a dict, before a key or `}`), so
    one look at it finds any (hiera.py `literal`)."""
    text = repr(value)
    return _inert(value) if any(marker in text for marker in _JINJA) else value


def _inert(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _inert(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_inert(item) for item in value]
    if isinstance(value, str) and any(marker in value for marker in _JINJA):
        return Unsafe(value)
    return value
