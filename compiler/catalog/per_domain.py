"""`for_each: domains` (issue 14, item 5): a DNS record or the ingress declared once and
published for each of the customer's domains.

A mail customer with three domains needs MX, SPF, DMARC and MTA-STS records in each;
`${customer.domain}` is the first one only, so everything else was left out silently.
A record under `infrastructure.dns` or the `ingress` that says `for_each: domains` is
resolved once per domain of the customer, in the order of `domains`, with `${domain}`
standing for that domain (interpolate.py's `Each`):

- what varies per domain stays inside the record or ingress: `${domain}` is unknown
  elsewhere, and a value elsewhere may not refer into it;
- the record's `name` (the ingress's `host`) must name `${domain}`, or every domain
  would get the same record;
- only a customer's instance has domains: an environment-wide service's for_each is
  an error; so is `for_each` built by `${...}` (it is written as is, so that a reader
  sees which records multiply, and known before anything is resolved);
- each domain's copy is validated like any record or ingress, and held to the tenant
  boundary like any (tenancy.py), so `${domain}.acme.example` in mallory's file is
  refused at its line as `acme.example` would be.

Resolved, `Settings` holds the first domain's copy (what `${customer.domain}` would
give) and `Instance.per_domain` every domain's; renderers read `records()` and
`ingresses()` below, never a record or ingress of `Settings` alone. A record's key is
`<record>@<domain>` for each domain, `<record>` otherwise: keyed by the domain, not its
position, so adding, removing or reordering a domain leaves the other domains' records
(and their Terraform addresses) as they were.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from compiler.catalog import model_errors
from compiler.catalog.interpolate import ITEM, refers_to
from compiler.catalog.loader import YamlPath
from compiler.catalog.models import Customer, DnsRecord, Ingress, Settings

FOR_EACH = "domains"
INGRESS: YamlPath = ("ingress",)

# path of a per-domain record or ingress -> (domain, its copy for that domain), in order
PerDomain = Mapping[YamlPath, tuple[tuple[str, Any], ...]]


@dataclass(frozen=True, slots=True)
class Record:
    """One DNS record an instance publishes: `key` (unique in the instance: `mx`, or
    `mx@hvb.example` for a record declared for each domain), where it was declared."""

    key: str
    record: DnsRecord
    path: YamlPath
    domain: str | None = None


def roots(merged: dict[str, Any]) -> list[YamlPath]:
    """Where the merged (not yet interpolated) values declare something per domain."""
    return [path for path, each in _declared(merged) if each == FOR_EACH]


def _declared(merged: dict[str, Any]) -> list[tuple[YamlPath, Any]]:
    """Every record and the ingress that has a `for_each`, with its raw value."""
    found = []
    infrastructure = merged.get("infrastructure")
    dns = infrastructure.get("dns") if isinstance(infrastructure, dict) else None
    for name, record in sorted((dns if isinstance(dns, dict) else {}).items()):
        if isinstance(record, dict) and record.get("for_each") is not None:
            found.append((("infrastructure", "dns", name), record["for_each"]))
    ingress = merged.get("ingress")
    if isinstance(ingress, dict) and ingress.get("for_each") is not None:
        found.append((INGRESS, ingress["for_each"]))
    return found


def template_problems(
    merged: dict[str, Any], found: list[YamlPath], customer: Customer | None, service: str
) -> Iterator[tuple[YamlPath, str, str]]:
    """What is wrong with the per-domain declarations before they are resolved."""
    for path, each in _declared(merged):
        if isinstance(each, str) and "${" in each:
            yield (
                (*path, "for_each"),
                "write `for_each: domains` as is, not built by ${...}",
                "a reader should see which records and hosts multiply",
            )
    for root in found:
        node = merged
        for segment in root:
            node = node[segment]
        if customer is None:
            yield (
                (*root, "for_each"),
                f"for_each: domains needs a customer's domains; '{service}' serves the "
                "whole environment",
                "name the records and host in ${env.base_domain} directly",
            )
            continue
        field = "host" if root == INGRESS else "name"
        if field in node and not refers_to(node[field], ITEM):
            yield (
                (*root, field),
                f"{field} '{node[field]}' of a {_what(root)} declared for each domain does "
                "not name ${domain}: every domain would get the same one",
                f"e.g. {field}: {'mta-sts' if field == 'host' else '_dmarc'}.${{domain}}; "
                "or remove for_each",
            )


def expand(
    settings: Settings, found: list[YamlPath], copies: dict[YamlPath, list[Any]], domains: list[str]
) -> tuple[dict[YamlPath, tuple[tuple[str, Any], ...]], list[tuple[YamlPath, str, str]]]:
    """Each domain's validated copy of each per-domain record and ingress: the first
    domain's is the one in `settings`, the others are validated here."""
    problems = []
    dns = (settings.infrastructure.dns if settings.infrastructure else None) or {}
    result: dict[YamlPath, tuple[tuple[str, Any], ...]] = {}
    for root in found:
        first = settings.ingress if root == INGRESS else dns[root[-1]]
        model = Ingress if root == INGRESS else DnsRecord
        entries = [(domains[0], first)]
        for domain, copy in zip(domains[1:], copies[root][1:], strict=True):
            validated, errors = model_errors.field_errors(model, copy, root)
            problems += [
                ((*root, *error.path), f"for domain '{domain}': {error.message}", error.hint)
                for error in errors
            ]
            entries.append((domain, validated))
        if all(model is not None for _, model in entries):
            result[root] = tuple(entries)
    return result, problems


def _what(root: YamlPath) -> str:
    return "ingress" if root == INGRESS else "DNS record"


def records(settings: Settings, per_domain: PerDomain) -> list[Record]:
    """Every DNS record of an instance, each per-domain record once for each domain,
    sorted by key."""
    found = []
    dns = (settings.infrastructure.dns if settings.infrastructure else None) or {}
    for name, record in dns.items():
        path = ("infrastructure", "dns", name)
        if path in per_domain:
            found += [Record(f"{name}@{d}", copy, path, d) for d, copy in per_domain[path]]
        else:
            found.append(Record(name, record, path))
    return sorted(found, key=lambda entry: entry.key)


def ingresses(settings: Settings, per_domain: PerDomain) -> list[tuple[str | None, Ingress]]:
    """The ingress of an instance, once per domain when declared for each (with that
    domain), else once (with None); empty without an ingress."""
    if settings.ingress is None:
        return []
    if INGRESS in per_domain:
        return list(per_domain[INGRESS])
    return [(None, settings.ingress)]
