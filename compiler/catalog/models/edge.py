"""Edges and TLS for VM services (issue 18, items 2 and 5): `edge:` and `vm.tls:`.

An edge (HAProxy or Nginx on the environment's VMs) names the services whose ingress
hosts it routes; gitopsc derives the routing table from the instances (render/edge.py).
`vm.tls` declares the certificate a VM service's hosts present and, for Postfix, the
STARTTLS settings of `main.cf` made from it (render/mail_tls.py). Both are settings, so
they merge through the six layers like every value. Everything that ends up on a line of
a configuration file is a constrained type here: a DNS name or an IP address can hold no
space, `;`, `{`, `#` or line break, so no catalog value can add a line to the file.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from compiler.catalog.models.fields import DnsName, Name, Strict


def _ip_address(value: str) -> str:
    """An IP address as written (`10.0.0.53`, `fd00::53`), nothing else."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"'{value}' is not an IP address") from None


def _address(value: str) -> str:
    """An IP address or a lower-case DNS name: what a proxy's `server` line can name."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not DNS_NAME.fullmatch(value) or len(value) > 253:
        raise ValueError(f"'{value}' is neither an IP address nor a lower-case DNS name")
    return value


# the same pattern as fields.DnsName, for values checked in a validator
DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

IpAddress = Annotated[str, AfterValidator(_ip_address)]
Address = Annotated[str, AfterValidator(_address)]

Software = Literal["haproxy", "nginx"]
# Postfix's TLS security levels (postconf(5) smtp_tls_security_level)
OutboundLevel = Literal["none", "may", "encrypt", "dane", "dane-only", "verify", "secure"]
PolicyLevel = Literal["none", "may", "encrypt", "dane", "dane-only", "verify", "secure"]


class Edge(Strict):
    """An environment-scoped VM service that routes other services' ingress hosts to
    the ingress controller of the cluster each instance runs on."""

    software: Software
    # services whose ingress hosts (every domain's, for `for_each: domains`) it routes
    routes: Annotated[list[Name], Field(min_length=1, max_length=256)]
    # the DNS servers a VM edge resolves the clusters' ingress addresses with, where one
    # is a name (at run time: a load balancer's addresses change); default: the host's
    # local stub resolver (render/edge.py HOST_RESOLVER). An edge on Kubernetes takes
    # none: the addresses it routes to must be IP addresses (edges.py says why)
    resolvers: Annotated[list[IpAddress], Field(min_length=1, max_length=8)] | None = None


class PostfixTls(Strict):
    """The STARTTLS part of Postfix's main.cf, made from the same declaration as the
    certificate (postconf(5); RFC 3207, RFC 7672 DANE, RFC 8461 MTA-STS)."""

    # smtpd_tls_security_level: a public MX must not require TLS (RFC 3207 section 4)
    inbound: Literal["none", "may", "encrypt"] = "may"
    # smtp_tls_security_level: the default for every destination without a policy
    outbound: OutboundLevel = "may"
    # the policy for delivering to each of the customer's own domains (its mail servers)
    customer_domains: PolicyLevel | None = None
    # more destinations with a policy of their own (smtp_tls_policy_maps)
    policies: Annotated[dict[DnsName, PolicyLevel], Field(max_length=1024)] | None = None
    # an MTA-STS policy resolver (postfix-mta-sts-resolver) asked after the table
    mta_sts_resolver: Annotated[str, Field(pattern=r"^inet:[a-z0-9.:-]+:[0-9]{1,5}$")] | None = None


class VmTls(Strict):
    """A certificate for the hosts of a VM service, issued on each host by the ACME
    role (render/mail_tls.py says why not cert-manager)."""

    names: Annotated[list[DnsName], Field(min_length=1, max_length=100)]
    # where the ACME role asks; default Let's Encrypt's production directory
    acme_directory: Annotated[str, Field(pattern=r"^https://[^\s]+$")] = (
        "https://acme-v02.api.letsencrypt.org/directory"
    )
    postfix: PostfixTls | None = None


__all__ = ["Address", "Edge", "IpAddress", "PostfixTls", "Software", "VmTls"]
