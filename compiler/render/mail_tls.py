"""TLS for VM services (issue 18, item 5): each host's certificate, as data for the
ACME role, and Postfix's STARTTLS settings made from the same `vm.tls` declaration.

**Why an ACME role on the host, not a cert-manager `Certificate`.** A Certificate would
be issued in a cluster and its Secret fetched by the VM automation: every relay's
private key would then lie in a Kubernetes Secret of some cluster (in a residency the
relay may not be in), and AWX would need credentials that read Secrets from the
clusters' API, a new path from the VM side into every cluster. With the ACME role
(`community.crypto.acme_certificate`), the key is made on the host and never leaves
it; the DNS-01 challenge (the relays serve no HTTP, and several hosts present one
name) goes through the environment's DNS provider, the one Terraform writes the
records with; renewal runs with the AWX schedule that applies the inventory.

**One certificate per host and service.** A relay serves many customers: the names of
every instance on the host are put on one certificate (the first instance's first),
since Postfix presents one certificate to a client that names none. Per host:

    gitopsc_tls.<service>: names, key_file, chain_file, acme_directory, challenge, dns_provider
    gitopsc_postfix: main_cf (the STARTTLS lines, applied with `postconf -e`),
                     tls_policy (smtp_tls_policy_maps' table, then `postmap`)

The instances on one host must agree on what is one setting of the host (the levels,
the ACME directory, the MTA-STS resolver): a disagreement is an error at the layer
that wrote the value, not the first instance's value for all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from compiler.catalog import Customer, Environment, Instance
from compiler.errors import Location, Problem
from compiler.render.ansible import variable_key

CERT_DIR = "/etc/ssl/gitopsc"
POLICY_MAP = "/etc/postfix/gitopsc_tls_policy"


def cert_files(service: str) -> tuple[str, str]:
    """(private key, full chain) of a service's certificate on its hosts."""
    return f"{CERT_DIR}/{service}/privkey.pem", f"{CERT_DIR}/{service}/fullchain.pem"


# the values every instance on a host must agree on (`_agree`), in `TlsEntry.agreed`
_AGREED = (
    ("vm", "tls", "acme_directory"),
    ("vm", "tls", "postfix", "inbound"),
    ("vm", "tls", "postfix", "outbound"),
    ("vm", "tls", "postfix", "mta_sts_resolver"),
)


class TlsEntry(NamedTuple):
    """What a host's certificate and Postfix settings take of one instance with
    `vm.tls`, kept for a customer a recompile keeps (render/shares.py)."""

    id: str
    service: str
    hosts: tuple[str, ...]
    names: tuple[str, ...]
    # per `_AGREED` path: (its value, whether a customer's layer wrote it); the
    # Postfix ones only with `postfix`
    agreed: tuple[tuple[Any, bool], ...]
    postfix: bool
    policies: dict[str, str]  # its entries of the TLS policy table


def tls_entry(instance: Instance, customers: Mapping[str, Customer]) -> TlsEntry | None:
    """`instance`'s part of its hosts' TLS settings; None without `vm.tls`."""
    vm = instance.settings.vm
    if vm is None or vm.tls is None:
        return None
    tls = vm.tls
    postfix = tls.postfix
    values = [tls.acme_directory]
    policies: dict[str, str] = {}
    if postfix is not None:
        values += [postfix.inbound, postfix.outbound, postfix.mta_sts_resolver]
        policies.update(postfix.policies or {})
        if postfix.customer_domains and instance.customer:
            for domain in customers[instance.customer].domains:
                policies[domain] = postfix.customer_domains
    return TlsEntry(
        instance.id,
        instance.service,
        tuple(host.name for host in instance.hosts),
        tuple(tls.names),
        tuple(
            (value, instance.origin(path).layer.startswith("customer"))
            for value, path in zip(values, _AGREED, strict=False)
        ),
        postfix is not None,
        policies,
    )


def _tls_instances(entries: Iterable[TlsEntry]) -> dict[str, list[TlsEntry]]:
    """host name -> the instances with `vm.tls` on it, sorted by id."""
    found: dict[str, list[TlsEntry]] = {}
    for entry in sorted(entries, key=lambda e: e.id):
        for host in entry.hosts:
            found.setdefault(host, []).append(entry)
    return found


Locate = Callable[[str, tuple[str, ...]], Location]
"""The catalog line that wrote a path of an instance's settings (by its id)."""


def _agree(
    on_host: list[TlsEntry], host: str, what: str, index: int, locate: Locate
) -> tuple[Any, list[Problem]]:
    """The one value the instances on a host give for `what` (`_AGREED[index]`): the
    platform's (the first instance whose value no customer's layer wrote), and a
    problem at each instance that gives another, at the layer that wrote it."""
    reference = next((i for i in on_host if not i.agreed[index][1]), on_host[0])
    value = reference.agreed[index][0]
    problems = [
        Problem(
            locate(other.id, _AGREED[index]),
            f"{what} of {other.id} is {other.agreed[index][0]!r}, but {reference.id} on the "
            f"same hosts ({host}...) has {value!r}: it is one setting of each host",
            "give every instance on a host the same value (in the service's or the "
            "environment's layer), or place the instance on hosts of its own",
        )
        for other in on_host
        if other.agreed[index][0] != value
    ]
    return value, problems


def main_cf(service: str, level_in: str, level_out: str, resolver: str | None) -> str:
    """The STARTTLS lines of main.cf (postconf(5)); Postfix >= 3.4 for chain files."""
    key, chain = cert_files(service)
    maps = [f"hash:{POLICY_MAP}"]
    if resolver:
        maps.append(f"socketmap:{resolver}:postfix")
    lines = [
        f"# STARTTLS, generated by gitopsc from vm.tls of {service}; do not edit.",
        f"smtpd_tls_chain_files = {key}, {chain}",
        f"smtpd_tls_security_level = {level_in}",
        "smtpd_tls_protocols = >=TLSv1.2",
        "smtpd_tls_loglevel = 1",
        f"smtp_tls_security_level = {level_out}",
        "smtp_tls_protocols = >=TLSv1.2",
        "smtp_tls_loglevel = 1",
        f"smtp_tls_policy_maps = {', '.join(maps)}",
    ]
    if "dane" in level_out or resolver:  # DANE needs DNSSEC-validated lookups (RFC 7672)
        lines.append("smtp_dns_support_level = dnssec")
    return "\n".join(lines) + "\n"


def policy_table(entries: Mapping[str, str]) -> str:
    """smtp_tls_policy_maps' table: `destination level`, one a line, sorted."""
    return "".join(f"{domain} {level}\n" for domain, level in sorted(entries.items()))


def host_vars(
    env: Environment, entries: Iterable[TlsEntry], locate: Locate
) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """host name -> its `gitopsc_tls` and `gitopsc_postfix` variables, and problems
    (`entries`: every instance's with `vm.tls`, `tls_entry`)."""
    dns_provider = (env.dns.provider if env.dns else None) or env.provider
    result: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for host, on_host in sorted(_tls_instances(entries).items()):
        by_service: dict[str, list[TlsEntry]] = {}
        for instance in on_host:
            by_service.setdefault(instance.service, []).append(instance)
        entry: dict[str, Any] = {"gitopsc_tls": {}}
        for service, group in sorted(by_service.items()):
            names: list[str] = []
            for instance in group:
                names += [n for n in instance.names if n not in names]
            directory, found = _agree(group, host, "vm.tls.acme_directory", 0, locate)
            problems += found
            key, chain = cert_files(service)
            entry["gitopsc_tls"][variable_key(service)] = {
                "names": names,
                "key_file": key,
                "chain_file": chain,
                "acme_directory": directory,
                "challenge": "dns-01",
                **({"dns_provider": dns_provider} if dns_provider else {}),
            }
            mail = [i for i in group if i.postfix]
            if not mail:
                continue
            if "gitopsc_postfix" in entry:
                problems.append(
                    Problem(
                        locate(mail[0].id, ("vm", "tls", "postfix")),
                        f"two services on host {host} declare vm.tls.postfix: one main.cf",
                        "declare the Postfix settings in one service",
                    )
                )
                continue
            settings = []
            for index, field in enumerate(("inbound", "outbound", "mta_sts_resolver"), 1):
                value, found = _agree(mail, host, f"vm.tls.postfix.{field}", index, locate)
                settings.append(value)
                problems += found
            policies: dict[str, str] = {}
            for instance in mail:
                policies.update(instance.policies)
            entry["gitopsc_postfix"] = {
                "main_cf": main_cf(service, *settings),
                "tls_policy": policy_table(policies),
                "tls_policy_file": POLICY_MAP,
            }
        result[host] = entry
    # one error per instance and value, not one per host the instances share
    unique = {(p.location, p.message.split(" (", 1)[0]): p for p in reversed(problems)}
    return result, list(reversed(unique.values()))
