"""Render an instance's Ingress and its cert-manager Certificates. No I/O.

An instance has one Ingress object whatever its number of hosts: one backend, one
`<service>-from-ingress-controller` NetworkPolicy, one name a patch can target. An
ingress declared `for_each: domains` (issue 14) has one rule per domain of the
customer, and one TLS entry, Secret and Certificate **per domain**
(`<service>-tls-<domain slug>-<digest>`), not one certificate naming every domain:

- cert-manager renews a certificate as a whole, so one domain whose DNS does not (yet)
  point at the cluster would fail the ACME order for all of them, and a certificate
  nearing expiry could not be renewed for the domains that work;
- adding or removing a domain then issues or drops only that domain's certificate,
  instead of reissuing one for every domain (and a name derived from the domain, not
  its position, keeps the others' Secrets);
- a certificate's names are public (Certificate Transparency logs): separate
  certificates do not tie a customer's brands together in one.

An ingress without `for_each` renders as before: one rule, `<service>-tls`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from compiler.catalog import Environment, Instance, Service

_NON_DNS = re.compile(r"[^a-z0-9-]+")


def tls_secret(service: str, domain: str | None) -> str:
    """The Secret (and Certificate) of one TLS entry: `<service>-tls`, or per domain
    `<service>-tls-<slug>-<digest>`, readable and unique (two domains can share a slug:
    `a-b.example`, `a.b-example`)."""
    if domain is None:
        return f"{service}-tls"
    slug = _NON_DNS.sub("-", domain.lower()).strip("-")[:40].strip("-")
    return f"{service}-tls-{slug}-{hashlib.sha256(domain.encode()).hexdigest()[:8]}"


def ingress_objects(
    instance: Instance,
    service: Service,
    env: Environment,
    meta: Callable[[str], dict[str, Any]],
    class_name: str | None = None,
) -> list[dict[str, Any]]:
    """The Ingress (every host of the instance) and a Certificate per TLS entry;
    `meta(name)` gives an object's metadata, `class_name` the cluster's ingress class
    (default: the environment's controller)."""
    entries = instance.ingresses()
    spec: dict[str, Any] = {"ingressClassName": class_name or env.ingress_controller.class_name}
    secured = [(domain, ingress) for domain, ingress in entries if ingress.tls]
    if secured:
        spec["tls"] = [
            {"hosts": [ingress.host], "secretName": tls_secret(service.name, domain)}
            for domain, ingress in secured
        ]
    spec["rules"] = [
        {
            "host": ingress.host,
            "http": {
                "paths": [
                    {
                        "path": ingress.path,
                        "pathType": "Prefix",
                        "backend": {
                            "service": {"name": service.name, "port": {"name": ingress.port}}
                        },
                    }
                ]
            },
        }
        for _, ingress in entries
    ]
    objects = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": meta(service.name),
            "spec": spec,
        }
    ]
    for domain, ingress in secured:
        name = tls_secret(service.name, domain)
        objects.append(
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": meta(name),
                "spec": {
                    "secretName": name,
                    "dnsNames": [ingress.host],
                    "issuerRef": {
                        "name": env.tls.issuer,
                        "kind": env.tls.issuer_kind,
                        "group": "cert-manager.io",
                    },
                },
            }
        )
    return objects


def route_objects(
    instance: Instance,
    service: Service,
    env: Environment,
    meta: Callable[[str], dict[str, Any]],
) -> list[dict[str, Any]]:
    """On OpenShift, a Route per host in place of the Ingress and its Certificates (a
    Route has one host): the router terminates TLS (edge) and redirects plain HTTP; its
    certificate is the router's default, or, where cert-manager's openshift-routes
    add-on runs, one from the environment's issuer (the annotations ask for it, and are
    inert without the add-on). A per-domain host's Route is named like its TLS Secret
    would be, `<service>-<slug>-<digest>`; a single host's after the service."""
    objects = []
    for domain, ingress in instance.ingresses():
        name = (
            service.name
            if domain is None
            else tls_secret(service.name, domain).replace(
                f"{service.name}-tls-", f"{service.name}-", 1
            )
        )
        metadata = meta(name)
        spec: dict[str, Any] = {
            "host": ingress.host,
            "path": ingress.path,
            "to": {"kind": "Service", "name": service.name, "weight": 100},
            "port": {"targetPort": ingress.port},
            "wildcardPolicy": "None",
        }
        if ingress.tls:
            spec["tls"] = {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
            metadata["annotations"] = {
                "cert-manager.io/issuer-name": env.tls.issuer,
                "cert-manager.io/issuer-kind": env.tls.issuer_kind,
            }
        objects.append(
            {
                "apiVersion": "route.openshift.io/v1",
                "kind": "Route",
                "metadata": metadata,
                "spec": spec,
            }
        )
    return objects
